package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestParseAckReply(t *testing.T) {
	ts := time.Date(2026, 12, 1, 10, 0, 0, 123456789, time.UTC)
	tm := "1796119200123456789"
	if got := time.Unix(0, 1796119200123456789).UTC(); !got.Equal(ts) {
		t.Fatalf("test timestamp %v is not %v", got, ts)
	}
	good := map[string]delivery{
		"$JS.ACK.PRESENCE.oc_1.1.42.7." + tm + ".0":                   {42, ts, 0},
		"$JS.ACK._.ACCHASH.PRESENCE.oc_1.3.42.7." + tm + ".5":         {42, ts, 5},
		"$JS.ACK._.ACCHASH.PRESENCE.oc_1.3.42.7." + tm + ".5.rnd":     {42, ts, 5},
		"$JS.ACK.hub.ACCHASH.PRESENCE.oc_1.3.42.7." + tm + ".5.rnd.x": {42, ts, 5},
	}
	for reply, want := range good {
		got, ok := parseAckReply(reply)
		if !ok || got.streamSeq != want.streamSeq || got.pending != want.pending || !got.storedAt.Equal(want.storedAt) {
			t.Errorf("parseAckReply(%q) = %+v, %v; want %+v", reply, got, ok, want)
		}
	}
	for _, reply := range []string{
		"",
		"_INBOX.abc",
		"$JS.ACK.PRESENCE.oc_1.1.42.7." + tm, // 8 tokens
		"$JS.ACK.PRESENCE.oc_1.1.42.7." + tm + ".0.x",                 // 10 tokens
		"$JS.ACK.PRESENCE.oc_1.1.x.7." + tm + ".0",                    // sequence not a number
		"$JS.ACK.PRESENCE.oc_1.1.0.7." + tm + ".0",                    // sequence 0
		"$JS.ACK.PRESENCE.oc_1.1.42.7.-5.0",                           // negative time
		"$JS.ACK.PRESENCE.oc_1.1.42.7." + tm + ".",                    // empty pending
		"$JS.ACK.PRESENCE.oc_1.1.99999999999999999999.7." + tm + ".0", // too long
	} {
		if d, ok := parseAckReply(reply); ok {
			t.Errorf("parseAckReply(%q) = %+v, want a refusal", reply, d)
		}
	}
}

func BenchmarkParseAckReply(b *testing.B) {
	reply := "$JS.ACK._.ACCHASH.PRESENCE.oc_1.3.1000000.1000000.1796119200123456789.0.rnd"
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseAckReply(reply); !ok {
			b.Fatal("refused")
		}
	}
}

// TestParseAckReplyMatchesClient reads the reply subjects of messages a real
// nats-server delivers and holds parseAckReply to the client library's own
// Metadata.
func TestParseAckReplyMatchesClient(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		if _, err := js.Publish(ctx, fmt.Sprintf("s.%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.OrderedConsumer(ctx, "S", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(n)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for msg := range batch.Messages() {
		got++
		md, err := msg.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		d, ok := parseAckReply(msg.Reply())
		if !ok || d.streamSeq != md.Sequence.Stream || d.pending != md.NumPending || !d.storedAt.Equal(md.Timestamp) {
			t.Fatalf("parseAckReply(%q) = %+v, %v; the client reads %+v", msg.Reply(), d, ok, md)
		}
	}
	if got != n {
		t.Fatalf("fetched %d messages, want %d", got, n)
	}
}
