package node_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
)

// rawConn is a keep-alive HTTP/1.1 client connection for the handler
// benchmarks. It writes prepared request bytes and reads the answer into
// buffers it reuses, so that it allocates nothing per request: the
// allocs/op a benchmark reports are then the server's (net/http's and the
// handler's), not a client's.
type rawConn struct {
	c    net.Conn
	r    *bufio.Reader
	req  []byte
	body []byte
}

func dialRaw(tb testing.TB, addr string) *rawConn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &rawConn{c: c, r: bufio.NewReaderSize(c, 4096), req: make([]byte, 0, 512), body: make([]byte, 0, 512)}
}

// do sends method path with the token and body (none when nil) and returns
// the status; the body read is in rc.body until the next call.
func (rc *rawConn) do(method, path, token string, body []byte) (int, error) {
	b := append(rc.req[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer "...)
	b = append(b, token...)
	if body != nil {
		b = append(b, "\r\nContent-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	rc.req = b
	if _, err := rc.c.Write(b); err != nil {
		return 0, err
	}
	return rc.readResponse()
}

var errBadResponse = errors.New("malformed HTTP response")

func (rc *rawConn) readResponse() (int, error) {
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, errBadResponse
	}
	status := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	length := -1
	for {
		line, err = rc.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && len(k) == len("Content-Length") && bytes.EqualFold(k, []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return 0, errBadResponse
			}
			length = n
		}
	}
	if length < 0 {
		return 0, errBadResponse
	}
	if cap(rc.body) < length {
		rc.body = make([]byte, length)
	}
	rc.body = rc.body[:length]
	if _, err := io.ReadFull(rc.r, rc.body); err != nil {
		return 0, err
	}
	return status, nil
}
