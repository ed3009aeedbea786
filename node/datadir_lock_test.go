package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/nodetest"
)

// TestDataDirIsExclusive: a second node on the data directory of a running
// embedded node refuses to start instead of sharing its JetStream files.
func TestDataDirIsExclusive(t *testing.T) {
	first := nodetest.StartNode(t)
	cfg := nodetest.Config(t)
	cfg.Store.DataDir = first.Config.Store.DataDir
	auth, _ := auth.NewStaticTokens(nodetest.Tokens)
	second, err := node.New(cfg, node.Options{Authenticator: auth})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = second.Start(ctx)
	if err == nil {
		_ = second.Shutdown(ctx)
		t.Fatal("second node started on a data dir in use")
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("error %q does not say the data dir is in use", err)
	}
	// The first node is unharmed.
	if r := first.Put(t, "alice-token", "@alice:example.org", map[string]any{"presence": "online"}); r.Status != 200 {
		t.Fatalf("PUT on the first node: %d %s", r.Status, r.Body)
	}
}
