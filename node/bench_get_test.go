package node_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// BenchmarkGET measures the presence GET of a real node (embedded NATS, the
// whole chain: limits, CORS, routing, token check, lookup, JSON, metrics)
// over loopback, and beside it a bare net/http handler that does a map
// lookup and writes JSON. The client allocates nothing per request, so
// allocs/op and B/op are the server's: the node's minus bare's is what the
// node's own code costs per GET. The ratio of their ns/op is the other
// figure to watch.
//
//	go test -run XXX -bench GET -benchtime 2s -count 5 ./node/
func BenchmarkGET(b *testing.B) {
	const users = 10_000
	path := nodetest.PresencePath("@alice:example.org")
	b.Run("presenced", func(b *testing.B) {
		n := nodetest.StartNode(b)
		for i := 0; i < 50; i++ {
			if r := n.Put(b, "alice-token", "@alice:example.org", map[string]any{"presence": "online", "status_msg": fmt.Sprint(i)}); r.Status != 200 {
				b.Fatal(r.Status)
			}
		}
		runGETs(b, n.Addr(), path)
	})
	b.Run("bare", func(b *testing.B) {
		type state struct {
			Presence      string `json:"presence"`
			LastActiveAgo int64  `json:"last_active_ago"`
			StatusMsg     string `json:"status_msg,omitempty"`
		}
		m := make(map[string]state, users)
		for i := 0; i < users; i++ {
			m[fmt.Sprintf("@user%d:example.org", i)] = state{Presence: "online"}
		}
		m["@alice:example.org"] = state{Presence: "online", StatusMsg: "49"}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/_matrix/client/v3/presence/"), "/status")
			st, ok := m[id]
			if !ok {
				w.WriteHeader(404)
				return
			}
			st.LastActiveAgo = time.Since(time.Time{}).Milliseconds()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(st)
		})}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		runGETs(b, ln.Addr().String(), path)
	})
}

// runGETs sends GETs of path over 4 keep-alive connections per core.
func runGETs(b *testing.B, addr, path string) {
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rc := dialRaw(b, addr)
		for pb.Next() {
			status, err := rc.do(http.MethodGet, path, "bob-token", nil)
			if err != nil || status != 200 {
				b.Errorf("GET: status %d, %v", status, err)
				return
			}
		}
	})
}
