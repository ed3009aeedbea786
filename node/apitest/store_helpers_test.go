package apitest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/node/nodetest"
)

// storeServer runs a real nats-server with JetStream on loopback, storing
// under dir, for tests that need to reach the stream from outside a node or
// to stop JetStream under a running node. port 0 picks a free port.
func storeServer(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	return nodetest.RunNATS(t, server.Options{ServerName: "store", Port: port, StoreDir: dir})
}

// storePort is the client port a storeServer listens on.
func storePort(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// storeClient connects to s as another fleet component would.
func storeClient(t testing.TB, s *server.Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// publishRaw stores data on subject, failing the test unless JetStream
// acknowledges it.
func publishRaw(t testing.TB, js jetstream.JetStream, subject string, data []byte, opts ...jetstream.PublishOpt) *jetstream.PubAck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.Publish(ctx, subject, data, opts...)
	if err != nil {
		t.Fatalf("publish on %s: %v", subject, err)
	}
	return ack
}

// metricValue reads a counter or gauge without labels from reg.
func metricValue(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}
