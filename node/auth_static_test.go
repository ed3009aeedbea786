package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/nodetest"
)

func writeTokens(t *testing.T, path, content string) {
	t.Helper()
	// Written to a temporary name and renamed, as configuration mounts do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func wantUser(tokens *auth.StaticTokens, token, user string) func() error {
	return func() error {
		who, err := tokens.Authenticate(context.Background(), token)
		got := who.UserID
		if user == "" {
			if err == nil {
				return fmt.Errorf("token %s still accepted (as %s)", token, got)
			}
			return nil
		}
		if err != nil || got != user {
			return fmt.Errorf("token %s: %q %v, want %s", token, got, err, user)
		}
		return nil
	}
}

// TestStaticTokensWatchFile changes the tokens file under a running watch:
// the new tokens take effect, removed ones stop working, and a broken file
// leaves the previous tokens in force.
func TestStaticTokensWatchFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokens(t, path, "t1: \"@alice:example.org\"\n")
	tokens, err := auth.LoadStaticTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tokens.Watch(ctx, 10*time.Millisecond, nil, nodetest.Logger(t)) }()
	defer func() { cancel(); <-done }()

	writeTokens(t, path, "t2: \"@bob:example.org\"\n")
	nodetest.Eventually(t, 5*time.Second, wantUser(tokens, "t2", "@bob:example.org"))
	if err := wantUser(tokens, "t1", "")(); err != nil {
		t.Fatal(err)
	}
	writeTokens(t, path, "t3: [not, a, user]\n")
	writeTokens(t, path, "t3: 'not a user id'\n")
	// The broken versions are refused; t2 still works and t3 never did.
	time.Sleep(50 * time.Millisecond) // let the watch see it: the absence of a change cannot be polled for
	if err := wantUser(tokens, "t2", "@bob:example.org")(); err != nil {
		t.Fatal(err)
	}
	if err := wantUser(tokens, "t3", "")(); err != nil {
		t.Fatal(err)
	}
	writeTokens(t, path, "t3: \"@carol:example.org\"\n")
	nodetest.Eventually(t, 5*time.Second, wantUser(tokens, "t3", "@carol:example.org"))
}

// TestStaticTokensWatchSignal reloads on the signal channel alone (polling
// off), and the watch ends with its context.
func TestStaticTokensWatchSignal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokens(t, path, "t1: \"@alice:example.org\"\n")
	tokens, err := auth.LoadStaticTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); tokens.Watch(ctx, 0, hup, nil) }()
	writeTokens(t, path, "t2: \"@bob:example.org\"\n")
	hup <- syscall.SIGHUP
	nodetest.Eventually(t, 5*time.Second, wantUser(tokens, "t2", "@bob:example.org"))
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return when its context ended")
	}
}

// TestStaticTokensFromConfig builds a node whose tokens come from
// --tokens-file through NewAuthenticator.
func TestStaticTokensFromConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeTokens(t, path, "file-token: \"@dave:example.org\"\n")
	n := nodetest.StartNode(t, func(c *node.Config, o *node.Options) {
		c.Auth.TokensFile = path
		o.Authenticator = nil
	})
	if r := n.Put(t, "file-token", "@dave:example.org", map[string]any{"presence": "online"}); r.Status != 200 {
		t.Fatalf("PUT: %d %s", r.Status, r.Body)
	}
	if r := n.Get(t, "alice-token", "@dave:example.org"); r.Status != 401 {
		t.Fatalf("token not in the file: %d %s", r.Status, r.Body)
	}
}
