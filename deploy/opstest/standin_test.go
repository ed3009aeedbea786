//go:build ops

package opstest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// standIn is a stand-in for a Matrix homeserver, not a homeserver: no real
// one runs in this suite (the Dendrite suite has that), and these tests
// only need to see which server a proxied request reached and what it
// carried. It records every request and answers JSON that names it. Its
// whoami accepts tokens "hs-<localpart>" as @<localpart>:localhost,
// answers 500 to "hs-broken" and refuses every other token.
type standIn struct {
	srv *http.Server
	url string

	mu   sync.Mutex
	seen []seenRequest

	// hold, when set, is called by a handler before it answers (the mirror
	// target blocks there until the test releases it).
	hold func(r *http.Request)
}

// seenRequest is what the stand-in received.
type seenRequest struct {
	Method     string
	RequestURI string
	Header     http.Header
	Body       string
}

func startStandIn(t *testing.T, hold func(r *http.Request)) *standIn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &standIn{url: "http://" + l.Addr().String(), hold: hold}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go func() { _ = s.srv.Serve(l) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.seen = append(s.seen, seenRequest{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	s.mu.Unlock()
	if s.hold != nil {
		s.hold(r)
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/_matrix/client/v3/account/whoami":
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case token == "hs-broken":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"errcode":"M_UNKNOWN","error":"stand-in failure"}`)
		case strings.HasPrefix(token, "hs-user"):
			_ = json.NewEncoder(w).Encode(map[string]string{"user_id": "@" + strings.TrimPrefix(token, "hs-") + ":" + serverName})
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"errcode":"M_UNKNOWN_TOKEN","error":"Unknown token"}`)
		}
	case strings.HasSuffix(r.URL.Path, "/sync"):
		_, _ = io.WriteString(w, `{"next_batch":"s2","served_by":"stand-in homeserver"}`)
	default:
		_, _ = io.WriteString(w, `{"served_by":"stand-in homeserver"}`)
	}
}

// requests returns what the stand-in has received so far.
func (s *standIn) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

// count returns how many received requests have a path starting with prefix.
func (s *standIn) count(prefix string) int {
	n := 0
	for _, r := range s.requests() {
		if strings.HasPrefix(r.RequestURI, prefix) {
			n++
		}
	}
	return n
}
