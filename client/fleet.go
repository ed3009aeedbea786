package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/events"
)

// The fleet API is presenced's internal API, served on its
// --internal-listen address to the homeserver's own components. A Client
// for it is made with WithToken(<the shared secret>).

// Sync reports one /sync request of a device (POST /_presence/v1/sync).
// setPresence is the client's set_presence ("" for none, which means
// online); holdMS the sync's long-poll timeout, 0 when unknown.
func (c *Client) Sync(ctx context.Context, userID, deviceID string, setPresence events.Presence, holdMS int64) error {
	body := map[string]any{"user_id": userID, "device_id": deviceID}
	if setPresence != "" {
		body["set_presence"] = setPresence
	}
	if holdMS > 0 {
		body["timeout"] = holdMS
	}
	return c.post(ctx, "/_presence/v1/sync", body, nil)
}

// Active reports activity of a device (POST /_presence/v1/active).
func (c *Client) Active(ctx context.Context, userID, deviceID string) error {
	return c.post(ctx, "/_presence/v1/active", map[string]any{"user_id": userID, "device_id": deviceID}, nil)
}

// Change is one user's state in the change feed.
type Change struct {
	UserID string
	Status Status
}

// statusWire is a presence state as the API sends it.
type statusWire struct {
	UserID          string          `json:"user_id"`
	Presence        events.Presence `json:"presence"`
	LastActiveAgo   int64           `json:"last_active_ago"`
	StatusMsg       string          `json:"status_msg"`
	CurrentlyActive *bool           `json:"currently_active"`
}

func (w statusWire) status() Status {
	return Status{Presence: w.Presence, LastActiveAgo: time.Duration(w.LastActiveAgo) * time.Millisecond,
		StatusMsg: w.StatusMsg, CurrentlyActive: w.CurrentlyActive}
}

// UnmarshalJSON decodes a change as the feed sends it.
func (c *Change) UnmarshalJSON(b []byte) error {
	var w statusWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Change{UserID: w.UserID, Status: w.status()}
	return nil
}

// ChangesPage is one answer of the change feed.
type ChangesPage struct {
	// Reset says the position was not produced by this stream: re-read the
	// state of interest (Query) and follow Next.
	Reset   bool     `json:"reset"`
	Next    string   `json:"next"`
	Changes []Change `json:"changes"`
}

// Changes reads the change feed after since ("" for the current position
// and no changes), waiting up to timeout for a change (0: the server's
// default) and returning at most limit of them (0: the server's default).
func (c *Client) Changes(ctx context.Context, since string, limit int, timeout time.Duration) (ChangesPage, error) {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if timeout > 0 {
		q.Set("timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	}
	path := "/_presence/v1/changes"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.Call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return ChangesPage{}, err
	}
	if err := resp.Err(); err != nil {
		return ChangesPage{}, err
	}
	var p ChangesPage
	if err := json.Unmarshal(resp.Body, &p); err != nil {
		return ChangesPage{}, fmt.Errorf("change feed answer: %w", err)
	}
	return p, nil
}

// Event is one server-sent event of the change feed.
type Event struct {
	// ID is the position after this event (send it back to resume).
	ID string
	// Reset is set for a reset event; Change is set otherwise.
	Reset  bool
	Change Change
}

// StreamChanges follows the change feed as server-sent events from since
// ("" for now), calling fn for each event until fn returns false, ctx ends
// or the stream breaks. It returns the ID of the last event seen, to resume
// from.
func (c *Client) StreamChanges(ctx context.Context, since string, fn func(Event) bool) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/_presence/v1/changes", nil)
	if err != nil {
		return since, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if since != "" {
		req.Header.Set("Last-Event-ID", since)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return since, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		return since, errorOf(&Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b})
	}
	last := since
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var name, id, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != "" || name != "" {
				ev := Event{ID: id}
				switch name {
				case "reset":
					ev.Reset = true
				case "error":
					return last, fmt.Errorf("change feed stream ended: %s", data)
				default:
					if err := json.Unmarshal([]byte(data), &ev.Change); err != nil {
						return last, fmt.Errorf("change feed event: %w", err)
					}
				}
				if id != "" {
					last = id
				}
				if !fn(ev) {
					return last, nil
				}
			}
			name, id, data = "", "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			id = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			data += line[len("data: "):]
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return last, err
	}
	return last, ctx.Err()
}

// QueryResult is the answer of the bulk query.
type QueryResult struct {
	// Position is where a change feed started right after the query misses
	// nothing.
	Position string
	Presence map[string]Status
}

// Query reads the current state of many users (POST /_presence/v1/query);
// users with no state are left out.
func (c *Client) Query(ctx context.Context, userIDs []string) (QueryResult, error) {
	var wire struct {
		Position string                `json:"position"`
		Presence map[string]statusWire `json:"presence"`
	}
	if err := c.post(ctx, "/_presence/v1/query", map[string]any{"user_ids": userIDs}, &wire); err != nil {
		return QueryResult{}, err
	}
	r := QueryResult{Position: wire.Position, Presence: make(map[string]Status, len(wire.Presence))}
	for id, w := range wire.Presence {
		r.Presence[id] = w.status()
	}
	return r, nil
}

// FederationItem is one entry of an m.presence EDU's push list.
type FederationItem struct {
	UserID          string          `json:"user_id"`
	Presence        events.Presence `json:"presence"`
	LastActiveAgo   *int64          `json:"last_active_ago,omitempty"`
	StatusMsg       *string         `json:"status_msg,omitempty"`
	CurrentlyActive *bool           `json:"currently_active,omitempty"`
}

// Federation hands presenced the content of an m.presence EDU received from
// origin, and returns how many items were accepted and rejected.
func (c *Client) Federation(ctx context.Context, origin string, push []FederationItem) (accepted, rejected int, err error) {
	var r struct {
		Accepted int `json:"accepted"`
		Rejected int `json:"rejected"`
	}
	err = c.post(ctx, "/_presence/v1/federation", map[string]any{"origin": origin, "push": push}, &r)
	return r.Accepted, r.Rejected, err
}

// post sends body as JSON to path and decodes a 2xx answer into out (if
// not nil).
func (c *Client) post(ctx context.Context, path string, body any, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	resp, err := c.Call(ctx, http.MethodPost, path, b)
	if err != nil {
		return err
	}
	if err := resp.Err(); err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return fmt.Errorf("%s answer: %w", path, err)
		}
	}
	return nil
}
