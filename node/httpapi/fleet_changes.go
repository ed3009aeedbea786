package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/node/apierr"
	"github.com/presenced/presenced/node/fleet"
	"github.com/presenced/presenced/projection"
)

// The change feed's bounds.
const (
	defaultChangesLimit   = 1000
	maxChangesLimit       = 10000
	defaultChangesTimeout = 30 * time.Second
	maxChangesTimeout     = 60 * time.Second
	// sseKeepAlive is how often an idle event stream sends a comment, so
	// that proxies and readers see the connection alive.
	sseKeepAlive = 15 * time.Second
)

// changesQuery is a parsed change-feed request.
type changesQuery struct {
	since   *fleet.Position
	limit   int
	timeout time.Duration
}

// parseChangesQuery reads since, limit and timeout; lastEventID (the SSE
// resume header) wins over since when set.
func parseChangesQuery(r *http.Request, lastEventID string) (changesQuery, error) {
	q := r.URL.Query()
	c := changesQuery{limit: defaultChangesLimit, timeout: defaultChangesTimeout}
	since := q.Get("since")
	if lastEventID != "" {
		since = lastEventID
	}
	if since != "" {
		p, err := fleet.ParsePosition(since)
		if err != nil {
			return c, apierr.Errorf(apierr.KindInvalidParam, "Malformed position %q.", apierr.Truncate(since, 64))
		}
		c.since = &p
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, apierr.Errorf(apierr.KindInvalidParam, "limit must be a positive integer.")
		}
		c.limit = min(n, maxChangesLimit)
	}
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return c, apierr.Errorf(apierr.KindInvalidParam, "timeout must be a number of milliseconds.")
		}
		c.timeout = min(time.Duration(ms)*time.Millisecond, maxChangesTimeout)
	}
	return c, nil
}

// fleetChanges answers GET /_presence/v1/changes, as JSON or, when the
// client accepts text/event-stream, as server-sent events.
func (a *API) fleetChanges(w http.ResponseWriter, r *http.Request) error {
	if err := a.internalSecret(r); err != nil {
		return err
	}
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	lastID := ""
	if sse {
		lastID = r.Header.Get("Last-Event-ID")
	}
	q, err := parseChangesQuery(r, lastID)
	if err != nil {
		return err
	}
	if err := a.requireServing(); err != nil {
		return err
	}
	if sse {
		return a.streamChanges(w, r, q)
	}
	page, err := a.f.Feed.Read(r.Context(), q.since, q.limit, q.timeout)
	if err != nil {
		return feedFailed(err)
	}
	b := make([]byte, 0, 64+len(page.Changes)*128)
	if page.Reset {
		b = append(b, `{"reset":true,"next":`...)
		b = appendJSONString(b, page.Next.String())
		writeRawJSON(w, http.StatusOK, append(b, '}'))
		return nil
	}
	b = append(b, `{"next":`...)
	b = appendJSONString(b, page.Next.String())
	b = append(b, `,"changes":[`...)
	now := a.d.Clock.Now()
	for i, rec := range page.Changes {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.appendChangeJSON(b, rec, now)
	}
	writeRawJSON(w, http.StatusOK, append(b, "]}"...))
	return nil
}

// feedFailed is the answer when the feed cannot be read now.
func feedFailed(err error) error {
	if errors.Is(err, fleet.ErrNotCaughtUp) {
		return apierr.Unavailable("This node has not caught up with that position yet; try again.", time.Second, err)
	}
	return apierr.Unavailable("Cannot read the change feed now; try again.", time.Second, err)
}

// appendChangeJSON appends one change: the user's state as a GET reads it,
// with the user ID first. It is read now, but not past the record's next
// timer transition: that transition is stored as an event of its own (by
// the reaper of some node, moments after it is due) and shown then, so that
// a reader sees each transition exactly once. last_active_ago is as of now.
func (a *API) appendChangeJSON(b []byte, rec projection.Record, now time.Time) []byte {
	at := now
	if next := projection.NextTransition(rec, a.d.Decay); !next.IsZero() && !now.Before(next) {
		at = next.Add(-time.Millisecond)
	}
	st := rec.StatusAt(at, a.d.Decay)
	st.LastActiveAgo += now.Sub(at)
	b = append(b, `{"user_id":`...)
	b = appendJSONString(b, rec.UserID)
	b = append(b, ',')
	// appendStatusJSON writes a whole object; splice its fields in.
	obj := appendStatusJSON(nil, st)
	return append(b, obj[1:]...)
}

// streamChanges serves the feed as server-sent events until the client
// goes away or the node shuts down: "id:" is the position after the
// change, "data:" the change; a reset is an event named "reset".
func (a *API) streamChanges(w http.ResponseWriter, r *http.Request, q changesQuery) error {
	rc := http.NewResponseController(w)
	// The listener's write timeout bounds ordinary answers; a stream lasts
	// as long as its reader.
	_ = rc.SetWriteDeadline(time.Time{})
	since := q.since
	if since == nil {
		cur := a.f.Feed.Current()
		since = &cur
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The first line tells the reader where it starts.
	b := append([]byte(": position "), since.String()...)
	b = append(b, "\n\n"...)
	if _, err := w.Write(b); err != nil {
		return nil
	}
	_ = rc.Flush()
	for r.Context().Err() == nil {
		page, err := a.f.Feed.Read(r.Context(), since, q.limit, sseKeepAlive)
		if err != nil {
			if r.Context().Err() != nil {
				return nil
			}
			// The status line is sent: say it in the stream and end it; the
			// reader resumes from its last id.
			_, _ = w.Write([]byte("event: error\ndata: {\"errcode\":\"M_UNKNOWN\",\"error\":\"Cannot read the change feed now; resume later.\"}\n\n"))
			_ = rc.Flush()
			return nil
		}
		b = b[:0]
		switch {
		case page.Reset:
			b = append(b, "event: reset\nid: "...)
			b = append(b, page.Next.String()...)
			b = append(b, "\ndata: {\"reset\":true,\"next\":"...)
			b = appendJSONString(b, page.Next.String())
			b = append(b, "}\n\n"...)
		case len(page.Changes) == 0:
			b = append(b, ": keep-alive\n\n"...)
		default:
			now := a.d.Clock.Now()
			for _, rec := range page.Changes {
				b = append(b, "id: "...)
				b = append(b, fleet.Position{Epoch: page.Next.Epoch, Seq: rec.Seq}.String()...)
				b = append(b, "\ndata: "...)
				b = a.appendChangeJSON(b, rec, now)
				b = append(b, "\n\n"...)
			}
		}
		if _, err := w.Write(b); err != nil {
			return nil
		}
		_ = rc.Flush()
		next := page.Next
		since = &next
	}
	return nil
}
