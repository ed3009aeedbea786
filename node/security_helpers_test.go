package node_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/node/nodetest"
)

// rawResponse is an answer to a request written byte for byte.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

func (r *rawResponse) errcode() string { s, _ := r.JSON["errcode"].(string); return s }

// rawRequest writes req exactly as given to the node (no client
// normalises the path or headers) and reads one answer.
func rawRequest(t testing.TB, n *nodetest.Node, req string) *rawResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", n.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.80q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := &rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

// wantMatrixError fails the test unless the answer is status with a JSON
// Matrix error body of errcode.
func wantMatrixError(t testing.TB, what string, status int, header http.Header, body []byte, wantStatus int, wantErrcode string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: body is not JSON (%d %q)", what, status, body)
	}
	if status != wantStatus || m["errcode"] != wantErrcode {
		t.Fatalf("%s: got %d %s, want %d %s", what, status, body, wantStatus, wantErrcode)
	}
	if e, _ := m["error"].(string); e == "" {
		t.Fatalf("%s: error message missing: %s", what, body)
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
}

// wantHealthy fails the test unless the node still answers a real request.
func wantHealthy(t testing.TB, n *nodetest.Node) {
	t.Helper()
	c := &nodetest.Client{HTTP: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	if r := c.Do(t, http.MethodGet, n.URL+"/healthz", "", nil); r.Status != http.StatusOK {
		t.Fatalf("healthz: %d %s", r.Status, r.Body)
	}
	if r := c.Do(t, http.MethodGet, n.URL+nodetest.PresencePath("@nobody:example.org"), "alice-token", nil); r.Status != http.StatusOK || string(r.Body) != `{"presence":"offline"}` {
		t.Fatalf("presence GET: %d %s", r.Status, r.Body)
	}
}

// serveConns counts the goroutines serving an HTTP connection, in the
// whole process.
func serveConns() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Count(string(buf), "net/http.(*conn).serve(")
}

// decode reads an HTTP answer into a nodetest.Response.
func decode(t testing.TB, resp *http.Response) *nodetest.Response {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &nodetest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	_ = json.Unmarshal(b, &r.JSON)
	return r
}

// counter sums the counter name with label=value in reg.
func counter(t testing.TB, reg prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
