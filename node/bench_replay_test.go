package node_test

import (
	"context"
	"errors"
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
	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/nodetest"
)

// BenchmarkReplay measures a cold start: a node on the embedded default
// starts on a data directory whose stream holds the latest event of
// PRESENCED_BENCH_USERS users (default 1,000,000) and becomes ready (replay
// caught up). It reports ms/ready and users/s.
//
//   - recent: every event was written within the dedupe window (2 min), so
//     the server also rebuilds its duplicate index at start, as after a
//     crash under heavy write load;
//
//   - settled: the events are older than the dedupe window, the usual case.
//
//   - raw: the floor: a bare embedded server on the same files and an
//     ordered consumer delivering the last message per subject, counting
//     messages until none are pending.
//
//     go test -run XXX -bench Replay -benchtime 3x ./node/
func BenchmarkReplay(b *testing.B) {
	users := 1_000_000
	if v := os.Getenv("PRESENCED_BENCH_USERS"); v != "" {
		users, _ = strconv.Atoi(v)
	}
	b.Run("recent", func(b *testing.B) {
		dir := b.TempDir()
		fillStream(b, dir, users, nodetest.Config(b).Store.DedupeWindow)
		benchNodeStart(b, dir, users)
	})
	const window = 2 * time.Second
	settled := b.TempDir()
	fillStream(b, settled, users, window)
	time.Sleep(window + time.Second) // let every event age out of the dedupe window
	b.Run("settled", func(b *testing.B) {
		benchNodeStart(b, settled, users, nodetest.WithConfig(func(c *node.Config) { c.Store.DedupeWindow = window }))
	})
	b.Run("raw", func(b *testing.B) {
		benchRawReplay(b, settled, users)
	})
}

func benchNodeStart(b *testing.B, dir string, users int, opts ...nodetest.Option) {
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		n := nodetest.StartNode(b, append(opts, nodetest.WithDataDir(dir))...)
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
	report(b, total, users)
}

func report(b *testing.B, total time.Duration, users int) {
	avg := total / time.Duration(b.N)
	b.ReportMetric(float64(avg.Milliseconds()), "ms/ready")
	b.ReportMetric(float64(users)/avg.Seconds(), "users/s")
}

// benchRawReplay starts a bare embedded server on dir and replays the
// stream with an ordered consumer that does nothing with the messages.
func benchRawReplay(b *testing.B, dir string, users int) {
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		srv, nc := startBareServer(b, dir)
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cons, err := js.OrderedConsumer(ctx, "PRESENCE", jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{events.SubjectFilter(events.DefaultSubjectPrefix)},
			DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		})
		if err != nil {
			b.Fatal(err)
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(65536))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			msg, err := it.Next()
			if err != nil {
				b.Fatal(err)
			}
			n++
			md, err := msg.Metadata()
			if err != nil {
				b.Fatal(err)
			}
			if md.NumPending == 0 {
				break
			}
		}
		total += time.Since(start)
		b.StopTimer()
		if n != users {
			b.Fatalf("raw consumer read %d messages, want %d", n, users)
		}
		it.Stop()
		cancel()
		nc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
		b.StartTimer()
	}
	report(b, total, users)
}

func startBareServer(b *testing.B, dir string) (*server.Server, *nats.Conn) {
	srv, err := nodetest.StartNATS(server.Options{StoreDir: filepath.Join(dir, "jetstream")})
	if err != nil {
		b.Fatal(err)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		b.Fatal(err)
	}
	return srv, nc
}

// fillStream writes the stream of a node's embedded server under dir with
// one event per user, using a server of its own that is then stopped.
func fillStream(b *testing.B, dir string, users int, dedupeWindow time.Duration) {
	b.Helper()
	// A node creates the stream with its real configuration first.
	n := nodetest.StartNode(b, nodetest.WithDataDir(dir), nodetest.WithConfig(func(c *node.Config) { c.Store.DedupeWindow = dedupeWindow }))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_ = n.Shutdown(ctx)
	cancel()

	srv, nc := startBareServer(b, dir)
	defer func() { nc.Close(); srv.Shutdown(); srv.WaitForShutdown() }()
	js, _ := jetstream.New(nc)
	msg := "around"
	for i := 0; i < users; i++ {
		id := fmt.Sprintf("@user%07d:example.org", i)
		data, err := events.Encode(events.Event{V: 1, UserID: id, Presence: events.Online, StatusMsg: &msg})
		if err != nil {
			b.Fatal(err)
		}
		// On a busy machine the acknowledgements fall behind; a stalled
		// publish waits for them and is sent again.
		for {
			_, err := js.PublishAsync(events.Subject(events.DefaultSubjectPrefix, id), data)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				b.Fatal(err)
			}
			<-js.PublishAsyncComplete()
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
