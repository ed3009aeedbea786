// Package client is a Go client of the presenced HTTP API. Every call takes
// a context; an answer that is a Matrix error comes back as an *Error with
// its errcode and, when the server said so, when to retry. It imports the
// event contract (package events) and the standard library only, so that
// importing it pulls in neither NATS nor the server.
//
//	c := client.New("https://presence.example.org", client.WithToken(token))
//	err := c.SetPresence(ctx, "@alice:example.org", events.Online, nil)
//	st, err := c.GetPresence(ctx, "@alice:example.org")
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/presenced/presenced/events"
)

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 16 << 20

// Client talks to one presenced base URL (a node, or a load balancer in
// front of several). It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken sets the access token sent as "Authorization: Bearer".
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient sets the HTTP client (default: http.DefaultClient). Its
// Timeout, if any, bounds each call in addition to the call's context.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New returns a client of the API at baseURL, such as
// "http://127.0.0.1:8008".
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), http: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c
}

// PresencePath is the v3 path of userID's presence status, percent-encoded
// (a user ID may hold "/", which stays one path segment).
func PresencePath(userID string) string {
	return "/_matrix/client/v3/presence/" + url.PathEscape(userID) + "/status"
}

// Status is a user's presence as the server answers it.
type Status struct {
	Presence events.Presence `json:"presence"`
	// LastActiveAgo is how long ago the user was last active, to the
	// millisecond.
	LastActiveAgo time.Duration `json:"-"`
	StatusMsg     string        `json:"status_msg,omitempty"`
	// CurrentlyActive is set when the server sends it (for online users).
	CurrentlyActive *bool `json:"currently_active,omitempty"`
}

// GetOption changes a GetPresence call.
type GetOption func(url.Values)

// Consistent asks for a consistent read: the node answers only once it has
// applied everything the stream held when the request arrived.
func Consistent() GetOption { return func(v url.Values) { v.Set("consistent", "true") } }

// GetPresence reads userID's presence.
func (c *Client) GetPresence(ctx context.Context, userID string, opts ...GetOption) (Status, error) {
	path := PresencePath(userID)
	if len(opts) > 0 {
		q := url.Values{}
		for _, o := range opts {
			o(q)
		}
		path += "?" + q.Encode()
	}
	resp, err := c.Call(ctx, http.MethodGet, path, nil)
	if err != nil {
		return Status{}, err
	}
	if err := resp.Err(); err != nil {
		return Status{}, err
	}
	var body struct {
		Status
		LastActiveAgo int64 `json:"last_active_ago"`
	}
	if err := json.Unmarshal(resp.Body, &body); err != nil {
		return Status{}, fmt.Errorf("presence of %s: %w", userID, err)
	}
	st := body.Status
	st.LastActiveAgo = time.Duration(body.LastActiveAgo) * time.Millisecond
	return st, nil
}

// SetPresence sets userID's presence (only the token's own user may) and,
// unless statusMsg is nil, its status message. It returns once the server
// has stored the update.
func (c *Client) SetPresence(ctx context.Context, userID string, p events.Presence, statusMsg *string) error {
	body, err := json.Marshal(struct {
		Presence  events.Presence `json:"presence"`
		StatusMsg *string         `json:"status_msg,omitempty"`
	}{p, statusMsg})
	if err != nil {
		return err
	}
	resp, err := c.Call(ctx, http.MethodPut, PresencePath(userID), body)
	if err != nil {
		return err
	}
	return resp.Err()
}

// Ready returns nil when the node reports ready (/readyz), else an error
// that carries the node's reason.
func (c *Client) Ready(ctx context.Context) error {
	resp, err := c.Call(ctx, http.MethodGet, "/readyz", nil)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var body struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(resp.Body, &body)
	return fmt.Errorf("not ready (%d): %s", resp.StatusCode, body.Reason)
}

// Response is an answer as received.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Err is nil for a 2xx answer, else the *Error it carries.
func (r *Response) Err() error {
	if r.StatusCode >= 200 && r.StatusCode < 300 {
		return nil
	}
	return errorOf(r)
}

// Call sends method to path (relative to the base URL, query included)
// with the client's token and body as JSON (none if nil), and returns the
// answer whatever its status. A transport failure is an error; a Matrix
// error is not (see Response.Err).
func (c *Client) Call(ctx context.Context, method, path string, body []byte) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.Send(req)
}

// Send sends req as it is (for requests Call cannot make: headers of one's
// own, another host) and reads the answer.
func (c *Client) Send(req *http.Request) (*Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Redacted(), err)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Error is a Matrix error answer.
type Error struct {
	StatusCode int
	Errcode    string
	Message    string
	// RetryAfter is when the server said to try again (retry_after_ms, or
	// the Retry-After header), 0 if it did not.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.StatusCode, e.Errcode, e.Message)
}

// IsErrcode reports whether err is a Matrix error with errcode.
func IsErrcode(err error, errcode string) bool {
	var e *Error
	return errors.As(err, &e) && e.Errcode == errcode
}

func errorOf(r *Response) *Error {
	var body struct {
		Errcode      string `json:"errcode"`
		Error        string `json:"error"`
		RetryAfterMS *int64 `json:"retry_after_ms"`
	}
	_ = json.Unmarshal(r.Body, &body)
	e := &Error{StatusCode: r.StatusCode, Errcode: body.Errcode, Message: body.Error}
	if e.Errcode == "" {
		e.Errcode = "M_UNKNOWN"
		e.Message = http.StatusText(r.StatusCode)
	}
	switch {
	case body.RetryAfterMS != nil:
		e.RetryAfter = time.Duration(*body.RetryAfterMS) * time.Millisecond
	case r.Header.Get("Retry-After") != "":
		var secs int64
		if _, err := fmt.Sscan(r.Header.Get("Retry-After"), &secs); err == nil && secs > 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
	}
	return e
}
