package bridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/cmd/presence-dendrite/bridge"
	"github.com/presenced/presenced/events"
)

// This file holds what the bridge's tests run against: a real embedded NATS
// server, and two stand-ins. standInFeed stands in for presenced's change
// feed and federation ingest (the fleet API's shapes, served over real HTTP
// on loopback) until the end-to-end test runs the bridge against presenced
// itself. standInDendrite stands in for Dendrite's sync consumer in the
// tests that do not run Dendrite: it creates the presence stream and the
// durable pull consumer the way Dendrite v0.13.8 does and acknowledges each
// message after recording it. The dendrite-tagged tests use real Dendrite.

const testSecret = "bridge-test-internal-secret"

// eventually polls check until it succeeds or the time is up.
func eventually(t *testing.T, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	wait := 5 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", within, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// natsServer is an embedded NATS server with JetStream on loopback that can
// be restarted on the same port and store.
type natsServer struct {
	t    *testing.T
	dir  string
	port int
	srv  *server.Server
	URL  string
}

func startNATS(t *testing.T) *natsServer {
	n := &natsServer{t: t, dir: t.TempDir(), port: -1}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *natsServer) start() {
	n.t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: n.port, JetStream: true, StoreDir: n.dir,
		NoLog: true, NoSigs: true, ServerName: "bridge-test",
	})
	if err != nil {
		n.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatal("NATS did not start")
	}
	n.srv = s
	n.port = s.Addr().(*net.TCPAddr).Port
	n.URL = fmt.Sprintf("nats://127.0.0.1:%d", n.port)
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func (n *natsServer) restart() {
	n.stop()
	n.start()
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// fedPush is one call of the federation ingest.
type fedPush struct {
	Origin string          `json:"origin"`
	Push   []bridge.Change `json:"push"`
}

// standInFeed serves the change feed over a log holding the latest change
// of each user, with positions "<epoch>-<n>".
type standInFeed struct {
	URL        string
	SecretFile string

	mu     sync.Mutex
	epoch  string
	seq    int
	latest map[string]feedEntry
	wake   chan struct{}
	sinces []string
	fed    []fedPush
	// served is told the position and size of every answer with changes.
	served chan int
}

type feedEntry struct {
	seq int
	c   bridge.Change
}

func startStandInFeed(t *testing.T) *standInFeed {
	f := &standInFeed{epoch: "e1", latest: map[string]feedEntry{}, wake: make(chan struct{}), served: make(chan int, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	f.SecretFile = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f.SecretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// set records a change of c's user and wakes waiting readers.
func (f *standInFeed) set(c bridge.Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.latest[c.UserID] = feedEntry{f.seq, c}
	close(f.wake)
	f.wake = make(chan struct{})
}

func (f *standInFeed) position() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprintf("%s-%d", f.epoch, f.seq)
}

// recreate starts a new epoch: earlier positions now get the reset answer.
func (f *standInFeed) recreate() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.epoch = fmt.Sprintf("e%d", time.Now().UnixNano())
	f.seq = 0
	f.latest = map[string]feedEntry{}
}

func (f *standInFeed) requestedSince() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sinces...)
}

func (f *standInFeed) federation() []fedPush {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fedPush(nil), f.fed...)
}

func matrixError(w http.ResponseWriter, code int, errcode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"errcode": errcode, "error": msg})
}

func (f *standInFeed) serve(w http.ResponseWriter, r *http.Request) {
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		matrixError(w, 401, "M_MISSING_TOKEN", "no secret")
		return
	case auth != "Bearer "+testSecret:
		matrixError(w, 401, "M_UNKNOWN_TOKEN", "wrong secret")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/_presence/v1/changes":
		f.changes(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/_presence/v1/federation":
		var p fedPush
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			matrixError(w, 400, "M_BAD_JSON", err.Error())
			return
		}
		accepted, rejected := 0, 0
		for _, c := range p.Push {
			if strings.HasSuffix(c.UserID, ":"+p.Origin) && c.Presence.Valid() {
				accepted++
			} else {
				rejected++
			}
		}
		f.mu.Lock()
		f.fed = append(f.fed, p)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int{"accepted": accepted, "rejected": rejected})
	default:
		matrixError(w, 404, "M_UNRECOGNIZED", "unknown endpoint")
	}
}

func (f *standInFeed) changes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, timeout := 1000, 30*time.Second
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			matrixError(w, 400, "M_INVALID_PARAM", "limit")
			return
		}
		limit = n
	}
	if v := q.Get("timeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			matrixError(w, 400, "M_INVALID_PARAM", "timeout")
			return
		}
		timeout = min(time.Duration(n)*time.Millisecond, time.Minute)
	}
	since, hasSince := q.Get("since"), q.Has("since")
	f.mu.Lock()
	f.sinces = append(f.sinces, since)
	f.mu.Unlock()
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		f.mu.Lock()
		current := fmt.Sprintf("%s-%d", f.epoch, f.seq)
		if !hasSince {
			f.mu.Unlock()
			reply(map[string]any{"next": current, "changes": []bridge.Change{}})
			return
		}
		epoch, n, ok := strings.Cut(since, "-")
		from, err := strconv.Atoi(n)
		if !ok || err != nil || from < 0 {
			f.mu.Unlock()
			matrixError(w, 400, "M_INVALID_PARAM", "malformed since")
			return
		}
		if epoch != f.epoch || from > f.seq {
			f.mu.Unlock()
			reply(map[string]any{"reset": true, "next": current})
			return
		}
		var after []feedEntry
		for _, e := range f.latest {
			if e.seq > from {
				after = append(after, e)
			}
		}
		wake := f.wake
		f.mu.Unlock()
		if len(after) > 0 {
			slices.SortFunc(after, func(a, b feedEntry) int { return a.seq - b.seq })
			next := current
			if len(after) > limit {
				after = after[:limit]
				next = fmt.Sprintf("%s-%d", epoch, after[limit-1].seq)
			}
			changes := make([]bridge.Change, len(after))
			for i, e := range after {
				changes[i] = e.c
			}
			reply(map[string]any{"next": next, "changes": changes})
			f.served <- len(changes)
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			reply(map[string]any{"next": since, "changes": []bridge.Change{}})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// standInDendrite is Dendrite's sync consumer's stand-in: the presence
// stream and durable consumer as Dendrite creates them, and a loop that
// records each message's headers and then acknowledges it.
type standInDendrite struct {
	js     jetstream.JetStream
	names  bridge.Dendrite
	paused chan struct{} // closed while running; replaced to pause

	mu     sync.Mutex
	state  map[string]nats.Header
	gate   chan struct{}
	parked bool // the loop waits at the gate
	cancel context.CancelFunc
	done   chan struct{}
}

func startStandInDendrite(t *testing.T, nc *nats.Conn, prefix string) *standInDendrite {
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	d := &standInDendrite{js: js, names: bridge.Dendrite{Prefix: prefix}, state: map[string]nats.Header{}}
	d.gate = make(chan struct{})
	close(d.gate)
	d.start(t)
	t.Cleanup(d.stop)
	return d
}

// start creates the stream and consumer (as Dendrite does when it starts)
// and runs the consuming loop.
func (d *standInDendrite) start(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	name := d.names.Stream()
	if _, err := d.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{name, name + ".>"},
		Retention: jetstream.InterestPolicy, Storage: jetstream.MemoryStorage, MaxAge: 5 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	cons, err := d.js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{
		Durable: d.names.SyncConsumerName(), FilterSubject: name,
		DeliverPolicy: jetstream.DeliverAllPolicy, AckPolicy: jetstream.AckExplicitPolicy, HeadersOnly: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	d.cancel, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		for cctx.Err() == nil {
			d.mu.Lock()
			gate := d.gate
			d.parked = true
			d.mu.Unlock()
			select {
			case <-gate:
			case <-cctx.Done():
				return
			}
			d.mu.Lock()
			d.parked = false
			d.mu.Unlock()
			fctx, fcancel := context.WithTimeout(cctx, 500*time.Millisecond)
			batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
			if err != nil {
				fcancel()
				time.Sleep(20 * time.Millisecond)
				continue
			}
			for m := range batch.Messages() {
				h := m.Headers()
				if _, err := strconv.ParseUint(h.Get("last_active_ts"), 10, 64); err == nil {
					d.mu.Lock()
					d.state[h.Get("user_id")] = h
					d.mu.Unlock()
				}
				_ = m.DoubleAck(cctx)
			}
			fcancel()
		}
	}()
}

func (d *standInDendrite) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
		d.cancel = nil
	}
}

// pause stops consuming (as a stopped Dendrite would), returning once the
// loop has finished the message in hand; resume restarts it.
func (d *standInDendrite) pause(t *testing.T) {
	d.mu.Lock()
	d.gate = make(chan struct{})
	d.parked = false
	d.mu.Unlock()
	eventually(t, 5*time.Second, func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		if !d.parked {
			return fmt.Errorf("the stand-in Dendrite is still consuming")
		}
		return nil
	})
}

func (d *standInDendrite) resume() {
	d.mu.Lock()
	close(d.gate)
	d.mu.Unlock()
}

// headers returns the headers of the last message consumed for user.
func (d *standInDendrite) headers(user string) nats.Header {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state[user]
}

// runningBridge is one replica run in the test process.
type runningBridge struct {
	b      *bridge.Bridge
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	srv    *httptest.Server
}

func testConfig(replica string) bridge.Config {
	c := bridge.DefaultConfig()
	c.Replica = replica
	c.LeaseTTL = 1500 * time.Millisecond
	c.PollTimeout = 2 * time.Second
	c.DeliveryTimeout = 5 * time.Second
	return c
}

func runBridge(t *testing.T, natsURL string, feed *standInFeed, cfg bridge.Config) *runningBridge {
	t.Helper()
	nc := connect(t, natsURL)
	p, err := bridge.NewPresenced(feed.URL, feed.SecretFile, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b, err := bridge.New(cfg, nc, p, bridge.Options{Logger: log, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningBridge{b: b, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	r.srv = httptest.NewServer(b.Handler(reg))
	t.Cleanup(r.stop)
	return r
}

// stop ends the replica as SIGTERM does: it releases the lease.
func (r *runningBridge) stop() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
		r.cancel = nil
		r.srv.Close()
	}
}

// metric returns the value of a counter or gauge of the replica.
func (r *runningBridge) metric(name string) float64 {
	mfs, _ := r.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return sum
	}
	return 0
}

// testWriter sends log lines to the test log, and nowhere once the test is
// over (a late line from a stopping replica must not panic).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	defer func() { _ = recover() }()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitStarted waits until a replica has stored its first position: a new
// bridge starts from the feed's position at that time.
func waitStarted(t *testing.T, nc *nats.Conn, feed *standInFeed) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		js, _ := jetstream.New(nc)
		kv, err := js.KeyValue(context.Background(), "presence-dendrite")
		if err != nil {
			return err
		}
		_, err = kv.Get(context.Background(), "position")
		return err
	})
}

func change(user string, p events.Presence, status string, ago int64) bridge.Change {
	c := bridge.Change{UserID: user, Presence: p, LastActiveAgo: &ago}
	if status != "" {
		c.StatusMsg = &status
	}
	return c
}
