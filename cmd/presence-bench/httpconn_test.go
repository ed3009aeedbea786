package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHTTPConn drives the load generator's client against net/http's
// server: fixed-length and chunked bodies, the request as sent, keep-alive
// over several requests, and reconnection after the server closes.
func TestHTTPConn(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.RequestURI+" "+r.Header.Get("Authorization")+" "+string(body))
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("part1 "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part2"))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		default:
			w.WriteHeader(201)
			w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer srv.Close()
	c := newHTTPConn(strings.TrimPrefix(srv.URL, "http://"))
	defer c.close()

	check := func(status int, body []byte, err error, wantStatus int, wantBody string) {
		t.Helper()
		if err != nil || status != wantStatus || string(body) != wantBody {
			t.Fatalf("got %d %q %v, want %d %q", status, body, err, wantStatus, wantBody)
		}
	}
	s, b, err := c.get("/a%40b", "tok")
	check(s, b, err, 201, `{"ok":true}`)
	s, b, err = c.put("/p", "tok2", []byte(`{"presence":"online"}`))
	check(s, b, err, 201, `{"ok":true}`)
	s, b, err = c.get("/chunked", "")
	check(s, b, err, 200, "part1 part2")
	s, b, err = c.get("/close", "")
	check(s, b, err, 200, "bye")
	if c.c != nil {
		t.Fatal("connection kept after Connection: close")
	}
	s, b, err = c.get("/again", "")
	check(s, b, err, 201, `{"ok":true}`)

	want := []string{"GET /a%40b Bearer tok ", `PUT /p Bearer tok2 {"presence":"online"}`, "GET /chunked  ", "GET /close  ", "GET /again  "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("server saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
