package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"
)

// Change feed modes of the fan-out phase.
const (
	modeLongPoll = "longpoll"
	modeSSE      = "sse"
)

// feedLongPollMS is the readers' long-poll timeout (the feed's default).
const feedLongPollMS = 30000

// receipt is one change a reader saw: the write it carried and when it
// arrived, both as offsets from the phase's base time.
type receipt struct {
	write int64
	at    time.Duration
}

// feedReader is one change-feed reader of the fan-out phase, on its own
// connection to the node's internal listener. It follows the feed from a
// position and records every change that carries a write of the phase.
type feedReader struct {
	mode   string
	addr   string
	secret string
	base   time.Time // the phase's clock origin
	ready  chan struct{}
	once   sync.Once

	mu       sync.Mutex // guards the fields below, read by the phase while the reader runs
	latest   []int64    // per user: the write of the last change seen, -1 for none
	receipts []receipt
	errs     int
	firstErr string
	conn     net.Conn // the current connection, closed to stop the reader
	stopped  bool
}

func newFeedReader(mode, addr, secret string, users int, base time.Time) *feedReader {
	fr := &feedReader{mode: mode, addr: addr, secret: secret, base: base, ready: make(chan struct{}),
		latest: make([]int64, users)}
	for i := range fr.latest {
		fr.latest[i] = -1
	}
	return fr
}

// run follows the feed from since until stop is called.
func (fr *feedReader) run(ctx context.Context, since string) {
	if fr.mode == modeSSE {
		fr.runSSE(ctx, since)
	} else {
		fr.runLongPoll(ctx, since)
	}
}

// stop ends run: the connection is closed, and any later one at once.
func (fr *feedReader) stop() {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.stopped = true
	if fr.conn != nil {
		fr.conn.Close()
	}
}

// dial opens a connection the reader can be stopped on.
func (fr *feedReader) dial() (net.Conn, error) {
	c, err := net.DialTimeout("tcp", fr.addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	fr.mu.Lock()
	defer fr.mu.Unlock()
	if fr.stopped {
		c.Close()
		return nil, net.ErrClosed
	}
	fr.conn = c
	return c, nil
}

func (fr *feedReader) fail(err error) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.errs++
	if fr.firstErr == "" {
		fr.firstErr = err.Error()
	}
}

func (fr *feedReader) markReady() { fr.once.Do(func() { close(fr.ready) }) }

// saw records the changes of data (a long-poll page or one SSE event)
// that arrived at at.
func (fr *feedReader) saw(data []byte, at time.Duration) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	scanChanges(data, func(user int, write int64) {
		if user < len(fr.latest) {
			fr.latest[user] = write
			fr.receipts = append(fr.receipts, receipt{write: write, at: at})
		}
	})
}

// upToDate reports whether the reader's last change of every user with an
// expected write (>= 0) carries that write.
func (fr *feedReader) upToDate(expected []int64) bool {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	for u, w := range expected {
		if w >= 0 && fr.latest[u] != w {
			return false
		}
	}
	return true
}

// runLongPoll loops on GET /_presence/v1/changes?since=&timeout=30000 over
// one keep-alive connection, from next to next.
func (fr *feedReader) runLongPoll(ctx context.Context, since string) {
	hc := newHTTPConn(fr.addr)
	hc.timeout = feedLongPollMS*time.Millisecond + 15*time.Second
	defer hc.close()
	pos := since
	for ctx.Err() == nil {
		if hc.c == nil {
			c, err := fr.dial()
			if err != nil {
				fr.retry(ctx, err)
				continue
			}
			hc.c = c
			if hc.r == nil {
				hc.r = bufio.NewReaderSize(c, 64<<10)
			} else {
				hc.r.Reset(c)
			}
		}
		fr.markReady()
		status, body, err := hc.get(routeFleetChanges+"?since="+pos+"&timeout="+strconv.Itoa(feedLongPollMS), fr.secret)
		at := time.Since(fr.base)
		if err = statusErr(status, err); err != nil {
			fr.retry(ctx, err)
			continue
		}
		next, reset := pageNext(body)
		if reset || next == "" {
			fr.retry(ctx, fmt.Errorf("change feed page without changes to follow: %.200s", body))
			continue
		}
		fr.saw(body, at)
		pos = next
	}
}

// retry counts err unless the reader is being stopped, and pauses briefly.
func (fr *feedReader) retry(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	fr.fail(err)
	select {
	case <-ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
}

// runSSE follows the feed as server-sent events, reconnecting with
// Last-Event-ID after a broken stream.
func (fr *feedReader) runSSE(ctx context.Context, since string) {
	pos := since
	for ctx.Err() == nil {
		err := fr.streamOnce(&pos)
		if err != nil {
			fr.retry(ctx, err)
		}
	}
}

var errStreamEnded = errors.New("event stream ended")

// streamOnce reads one event stream from *pos, moving *pos at each id.
func (fr *feedReader) streamOnce(pos *string) error {
	c, err := fr.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	req := append([]byte("GET "+routeFleetChanges+" HTTP/1.1\r\nHost: "), fr.addr...)
	req = append(req, "\r\nAuthorization: Bearer "+fr.secret+"\r\nAccept: text/event-stream\r\nLast-Event-ID: "+*pos+"\r\n\r\n"...)
	if _, err := c.Write(req); err != nil {
		return err
	}
	br := bufio.NewReaderSize(c, 16<<10)
	line, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) {
		return fmt.Errorf("event stream: %s", bytes.TrimSpace(line))
	}
	chunked := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Transfer-Encoding")) {
			chunked = bytes.EqualFold(bytes.TrimSpace(v), []byte("chunked"))
		}
	}
	if !chunked {
		return fmt.Errorf("event stream: not chunked")
	}
	body := bufio.NewReaderSize(httputil.NewChunkedReader(br), 64<<10)
	for {
		line, err := body.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return fmt.Errorf("event stream: a line longer than %d bytes", body.Size())
			}
			return errors.Join(errStreamEnded, err)
		}
		line = bytes.TrimRight(line, "\n")
		switch {
		case bytes.HasPrefix(line, []byte(": position ")):
			fr.markReady()
		case bytes.HasPrefix(line, []byte("data: ")):
			fr.saw(line, time.Since(fr.base))
		case bytes.HasPrefix(line, []byte("id: ")):
			*pos = string(line[len("id: "):])
		case bytes.HasPrefix(line, []byte("event: ")):
			return fmt.Errorf("event stream: %s", line)
		}
	}
}

// pageNext is the "next" position of a long-poll page and whether the page
// is a reset.
func pageNext(b []byte) (next string, reset bool) {
	reset = bytes.Contains(b, []byte(`"reset":true`))
	_, rest, ok := bytes.Cut(b, []byte(`"next":"`))
	if !ok {
		return "", reset
	}
	v, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return "", reset
	}
	return string(v), reset
}

// scanChanges calls fn for each change in b (a page or an event's data)
// whose user is one of the harness's (@userNNNNNNN:...) and whose status
// message is a write of the fan-out phase ("w<write>-..."). It reads the
// JSON the node writes by its field names, without decoding the rest:
// the readers share the cores with the node they measure.
func scanChanges(b []byte, fn func(user int, write int64)) {
	const userKey, ours, msgKey = `"user_id":"`, "@user", `"status_msg":"w`
	for {
		i := bytes.Index(b, []byte(userKey))
		if i < 0 {
			return
		}
		b = b[i+len(userKey):]
		// This change's fields end where the next change starts.
		obj := b
		if j := bytes.Index(b, []byte(userKey)); j >= 0 {
			obj = b[:j]
		}
		id, ok := bytes.CutPrefix(obj, []byte(ours))
		end := bytes.IndexByte(id, ':')
		k := bytes.Index(obj, []byte(msgKey))
		if !ok || end < 0 || k < 0 {
			continue
		}
		user, err := strconv.Atoi(string(id[:end]))
		rest := obj[k+len(msgKey):]
		dash := bytes.IndexByte(rest, '-')
		if err != nil || dash < 0 {
			continue
		}
		if w, err := strconv.ParseInt(string(rest[:dash]), 10, 64); err == nil {
			fn(user, w)
		}
	}
}
