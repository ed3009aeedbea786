package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/nodetest"
)

// BenchmarkReplay measures a cold start: a node on the embedded default
// starts on a data directory whose stream holds the latest event of
// PRESENCED_BENCH_USERS users (default 1,000,000) and becomes ready (replay
// caught up). It reports ms/ready and users/s.
//
//	go test -run XXX -bench Replay -benchtime 3x ./node/
func BenchmarkReplay(b *testing.B) {
	users := 1_000_000
	if v := os.Getenv("PRESENCED_BENCH_USERS"); v != "" {
		users, _ = strconv.Atoi(v)
	}
	dir := b.TempDir()
	fillStream(b, dir, users)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		n := nodetest.StartNode(b, nodetest.WithDataDir(dir))
		took := time.Since(start)
		total += took
		if got := n.Projection().Len(); got != users {
			b.Fatalf("replayed %d users, want %d", got, users)
		}
		b.StopTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = n.Shutdown(ctx)
		cancel()
		b.StartTimer()
	}
	avg := total / time.Duration(b.N)
	b.ReportMetric(float64(avg.Milliseconds()), "ms/ready")
	b.ReportMetric(float64(users)/avg.Seconds(), "users/s")
}

// fillStream writes the stream of a node's embedded server under dir with
// one event per user, using a server of its own that is then stopped.
func fillStream(b *testing.B, dir string, users int) {
	b.Helper()
	// A node creates the stream with its real configuration first.
	n := nodetest.StartNode(b, nodetest.WithDataDir(dir))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = n.Shutdown(ctx)
	cancel()

	srv, err := server.NewServer(&server.Options{
		JetStream: true, StoreDir: filepath.Join(dir, "jetstream"), Host: "127.0.0.1", Port: -1, NoSigs: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		b.Fatal("server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	msg := "around"
	for i := 0; i < users; i++ {
		id := fmt.Sprintf("@user%07d:example.org", i)
		data, err := events.Encode(events.Event{V: 1, UserID: id, Presence: events.Online, StatusMsg: &msg})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.PublishAsync(events.Subject(events.DefaultSubjectPrefix, id), data); err != nil {
			b.Fatal(err)
		}
		if i%50_000 == 0 {
			<-js.PublishAsyncComplete()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishes not acknowledged")
	}
}
