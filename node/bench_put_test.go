package node_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/presenced/presenced/node/nodetest"
)

// BenchmarkPUT measures a presence PUT end to end over loopback: token check,
// body parsing, the publish to JetStream (embedded server, file storage), the
// wait until the node's own projection has applied the event, and the answer.
// Parallel clients (8 per core) write concurrently, each to a status message of its own
// counter, so no PUT is absorbed as a duplicate.
//
//	go test -run XXX -bench PUT -benchtime 5s ./node/
func BenchmarkPUT(b *testing.B) {
	n := nodetest.StartNode(b)
	url := n.URL + nodetest.PresencePath("@alice:example.org")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var seq atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Appendf(nil, `{"presence":"online","status_msg":"%d"}`, seq.Add(1))
			req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer alice-token")
			req.Header.Set("Content-Type", "application/json")
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
