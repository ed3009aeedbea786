package node_test

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/presenced/presenced/node/nodetest"
)

// BenchmarkPUT measures a presence PUT of a real node end to end over
// loopback: token check, body parsing, the publish to JetStream (embedded
// server, file storage), the wait until the node's own projection has
// applied the event, and the answer. Parallel clients (8 per core) write
// concurrently, each to a status message of its own counter, so no PUT is
// absorbed as a duplicate. The client allocates nothing per request, so
// allocs/op and B/op are the node's, the embedded nats-server's included.
//
//	go test -run XXX -bench PUT -benchtime 2s -count 5 ./node/
func BenchmarkPUT(b *testing.B) {
	n := nodetest.StartNode(b)
	path := nodetest.PresencePath("@alice:example.org")
	var seq atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rc := dialRaw(b, n.Addr())
		body := make([]byte, 0, 64)
		for pb.Next() {
			body = append(body[:0], `{"presence":"online","status_msg":"`...)
			body = strconv.AppendInt(body, seq.Add(1), 10)
			body = append(body, `"}`...)
			status, err := rc.do(http.MethodPut, path, "alice-token", body)
			if err != nil || status != 200 {
				b.Errorf("PUT: status %d, %v", status, err)
				return
			}
		}
	})
}
