package node_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// TestInternalSecretReloadedOnSIGHUP: the internal API's shared secret is
// read again when the operator asks for a reload, so it can be rotated
// without a restart; a file that cannot be used keeps the secret in force.
func TestInternalSecretReloadedOnSIGHUP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first-secret-0123456789\n")
	reload := make(chan os.Signal, 1)
	n := nodetest.StartNode(t, nodetest.WithFleet(t), func(c *node.Config, o *node.Options) {
		c.Auth.InternalSecretFile = path
		o.Reload = reload
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	with := func(secret string) error {
		_, err := client.New(n.InternalURL, client.WithToken(secret)).Changes(ctx, "", 0, 0)
		return err
	}
	if err := with("first-secret-0123456789"); err != nil {
		t.Fatalf("the first secret: %v", err)
	}
	write("second-secret-0123456789\n")
	reload <- syscall.SIGHUP
	nodetest.Eventually(t, 10*time.Second, func() error { return with("second-secret-0123456789") })
	if err := with("first-secret-0123456789"); !client.IsErrcode(err, "M_UNKNOWN_TOKEN") {
		t.Fatalf("the old secret after rotation: %v", err)
	}
	write("short")
	reload <- syscall.SIGHUP
	// The failed reload is logged; the secret in force stays. Send one more
	// signal so that the first has surely been handled before checking.
	reload <- syscall.SIGHUP
	if err := with("second-secret-0123456789"); err != nil {
		t.Fatalf("a failed reload dropped the secret in force: %v", err)
	}
}
