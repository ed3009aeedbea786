package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Presenced is a client of presenced's fleet API on its internal listener.
type Presenced struct {
	base       string
	secretFile string
	client     *http.Client

	mu     sync.Mutex
	secret string
}

// NewPresenced returns a client of the internal listener at baseURL that
// authenticates with the shared secret held in secretFile. The file is read
// now and again whenever presenced refuses the secret, so that a secret
// rotated on both sides (presenced reloads it on SIGHUP) is picked up.
func NewPresenced(baseURL, secretFile string, client *http.Client) (*Presenced, error) {
	p := &Presenced{base: strings.TrimRight(baseURL, "/"), secretFile: secretFile, client: client}
	if err := p.reloadSecret(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Presenced) reloadSecret() error {
	raw, err := os.ReadFile(p.secretFile)
	if err != nil {
		return fmt.Errorf("internal secret: %w", err)
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return fmt.Errorf("internal secret file %s is empty", p.secretFile)
	}
	p.mu.Lock()
	p.secret = s
	p.mu.Unlock()
	return nil
}

func (p *Presenced) bearer() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "Bearer " + p.secret
}

// APIError is an error answer of presenced: a Matrix error.
type APIError struct {
	Status     int
	ErrCode    string `json:"errcode"`
	Message    string `json:"error"`
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("presenced answered %d %s: %s", e.Status, e.ErrCode, e.Message)
}

// Page is one answer of the change feed.
type Page struct {
	// Next is the position to ask from next time.
	Next string `json:"next"`
	// Changes are the users whose state changed after the position asked
	// from, in stream order, each at most once with its latest state.
	Changes []Change `json:"changes"`
	// Reset says that the position asked from is not one this feed produced
	// (the stream was recreated): the reader continues from Next.
	Reset bool `json:"reset"`
}

// Changes asks the feed for what changed after since (empty: the current
// position, with no changes), waiting up to timeout for a change.
func (p *Presenced) Changes(ctx context.Context, since string, limit int, timeout time.Duration) (Page, error) {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	q.Set("timeout", strconv.FormatInt(timeout.Milliseconds(), 10))
	var page Page
	err := p.call(ctx, http.MethodGet, "/_presence/v1/changes?"+q.Encode(), nil, &page)
	if err == nil && page.Next == "" {
		err = errors.New("presenced's change feed answered no next position")
	}
	return page, err
}

// FederationResult is the answer of the federation ingest.
type FederationResult struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
}

// Federation hands presenced the presence a remote server pushed.
func (p *Presenced) Federation(ctx context.Context, origin string, push []Change) (FederationResult, error) {
	body, err := json.Marshal(struct {
		Origin string   `json:"origin"`
		Push   []Change `json:"push"`
	}{origin, push})
	if err != nil {
		return FederationResult{}, err
	}
	var res FederationResult
	err = p.call(ctx, http.MethodPost, "/_presence/v1/federation", body, &res)
	return res, err
}

// call sends one request, once more with a reloaded secret if presenced
// refused the one it was sent with, and decodes the JSON answer into out.
func (p *Presenced) call(ctx context.Context, method, path string, body []byte, out any) error {
	err := p.do(ctx, method, path, body, out)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized {
		if p.reloadSecret() == nil {
			err = p.do(ctx, method, path, body, out)
		}
	}
	return err
}

func (p *Presenced) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", p.bearer())
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &APIError{Status: resp.StatusCode}
		_ = json.Unmarshal(raw, e)
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			e.RetryAfter = time.Duration(secs) * time.Second
		}
		return e
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("presenced's answer to %s %s: %w", method, strings.SplitN(path, "?", 2)[0], err)
	}
	return nil
}
