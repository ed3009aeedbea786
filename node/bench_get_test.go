package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node/nodetest"
)

// BenchmarkGET compares the presence GET of a node with a bare net/http
// handler that does a map lookup and writes JSON, both over loopback with the
// same keep-alive client. The figure to watch is the ratio of their ns/op.
//
//	go test -run XXX -bench GET -benchtime 5s ./node/
func BenchmarkGET(b *testing.B) {
	const users = 10_000
	b.Run("presenced", func(b *testing.B) {
		n := nodetest.StartNode(b)
		for i := 0; i < 50; i++ {
			if r := n.Put(b, "alice-token", "@alice:example.org", map[string]any{"presence": "online", "status_msg": fmt.Sprint(i)}); r.Status != 200 {
				b.Fatal(r.Status)
			}
		}
		runGETs(b, n.URL+nodetest.PresencePath("@alice:example.org"))
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
		runGETs(b, "http://"+ln.Addr().String()+"/_matrix/client/v3/presence/@alice:example.org/status")
	})
}

func runGETs(b *testing.B, url string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("Authorization", "Bearer bob-token")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
