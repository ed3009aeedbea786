package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// httpConn is one keep-alive HTTP/1.1 client connection. The load generator
// uses it instead of net/http's client because it runs on the same cores as
// the servers it measures: it writes prepared request bytes and parses the
// answer without allocating, so that the client costs little and the same
// for every server measured. It is not safe for concurrent use.
type httpConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	req  []byte
	body []byte
	// timeout bounds each round trip (0: 30 s); a long poll needs more
	// than it waits.
	timeout time.Duration
}

func newHTTPConn(addr string) *httpConn {
	return &httpConn{addr: addr, req: make([]byte, 0, 512), body: make([]byte, 0, 512)}
}

func (h *httpConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c = nil
	}
}

// get sends a GET of path and returns the status and the body, which is
// valid until the next call.
func (h *httpConn) get(path, token string) (int, []byte, error) {
	h.req = appendRequest(h.req[:0], "GET", h.addr, path, token, nil)
	return h.roundTrip()
}

// post sends a POST of body (JSON) to path.
func (h *httpConn) post(path, token string, body []byte) (int, []byte, error) {
	h.req = appendRequest(h.req[:0], "POST", h.addr, path, token, body)
	return h.roundTrip()
}

// put sends a PUT of body (JSON) to path.
func (h *httpConn) put(path, token string, body []byte) (int, []byte, error) {
	h.req = appendRequest(h.req[:0], "PUT", h.addr, path, token, body)
	return h.roundTrip()
}

func appendRequest(b []byte, method, host, path, token string, body []byte) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	if token != "" {
		b = append(b, "\r\nAuthorization: Bearer "...)
		b = append(b, token...)
	}
	if body != nil {
		b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

func (h *httpConn) roundTrip() (int, []byte, error) {
	if h.c == nil {
		c, err := net.DialTimeout("tcp", h.addr, 5*time.Second)
		if err != nil {
			return 0, nil, err
		}
		h.c = c
		if h.r == nil {
			h.r = bufio.NewReaderSize(c, 16<<10)
		} else {
			h.r.Reset(c)
		}
	}
	timeout := h.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	_ = h.c.SetDeadline(time.Now().Add(timeout))
	if _, err := h.c.Write(h.req); err != nil {
		h.close()
		return 0, nil, err
	}
	status, body, keep, err := h.readResponse()
	if err != nil || !keep {
		h.close()
	}
	return status, body, err
}

var errBadResponse = errors.New("malformed HTTP response")

// readResponse reads one response: status line, headers, and a body framed
// by Content-Length or chunked encoding.
func (h *httpConn) readResponse() (status int, body []byte, keep bool, err error) {
	line, err := h.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, nil, false, errBadResponse
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, errBadResponse
	}
	length, chunked, keep := -1, false, true
	for {
		line, err = h.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, false, errBadResponse
		}
		// Only three headers matter, told apart by length first: every
		// header a server adds costs the load tool little and the same.
		if n := len(k); n != len("Content-Length") && n != len("Transfer-Encoding") && n != len("Connection") {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, err = strconv.Atoi(string(v))
			if err != nil {
				return 0, nil, false, errBadResponse
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
	}
	h.body = h.body[:0]
	switch {
	case chunked:
		err = h.readChunked()
	case length >= 0:
		h.body, err = readN(h.r, h.body, length)
	default:
		h.body, err = io.ReadAll(h.r) // delimited by the end of the connection
		keep = false
	}
	if err != nil {
		return 0, nil, false, err
	}
	return status, h.body, keep, nil
}

func (h *httpConn) readChunked() error {
	for {
		line, err := h.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		sz, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(sz), 16, 32)
		if err != nil {
			return fmt.Errorf("chunk size %q: %w", sz, errBadResponse)
		}
		if n == 0 {
			for { // trailers up to the empty line
				line, err = h.r.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if h.body, err = readN(h.r, h.body, int(n)); err != nil {
			return err
		}
		if _, err = h.r.Discard(2); err != nil {
			return err
		}
	}
}

func readN(r *bufio.Reader, b []byte, n int) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, n)...)
	_, err := io.ReadFull(r, b[start:])
	return b, err
}
