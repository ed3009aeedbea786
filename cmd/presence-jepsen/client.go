package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// apiClient speaks the presence API of the nodes.
type apiClient struct {
	http *http.Client
}

// newAPIClient returns a client whose requests give up after timeout.
func newAPIClient(timeout time.Duration, conns int) *apiClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	tr.MaxIdleConns = 4 * conns
	return &apiClient{http: &http.Client{Timeout: timeout, Transport: tr}}
}

// answer is one response, or the transport error that replaced it.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func statusURL(base string, user int, consistent bool) string {
	u := base + "/_matrix/client/v3/presence/" + url.PathEscape(userID(user)) + "/status"
	if consistent {
		u += "?consistent=true"
	}
	return u
}

func (c *apiClient) do(ctx context.Context, method, u, token string, body []byte) answer {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{status: resp.StatusCode, header: resp.Header, err: err}
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// put sets user's status_msg to value through the node at base.
func (c *apiClient) put(ctx context.Context, base string, user int, value string) answer {
	body, _ := json.Marshal(map[string]string{"presence": "online", "status_msg": value})
	return c.do(ctx, http.MethodPut, statusURL(base, user, false), userToken(user), body)
}

// get reads user's status through the node at base.
func (c *apiClient) get(ctx context.Context, base string, user int, consistent bool) answer {
	return c.do(ctx, http.MethodGet, statusURL(base, user, consistent), userToken(user), nil)
}

// readValue is the status_msg a 200 GET returned, or "" for a 404 (no state).
func (a answer) readValue() (string, bool) {
	switch a.status {
	case http.StatusOK:
		var st struct {
			StatusMsg string `json:"status_msg"`
		}
		if json.Unmarshal(a.body, &st) != nil {
			return "", false
		}
		return st.StatusMsg, true
	case http.StatusNotFound:
		return "", matrixErrcode(a.body) == "M_NOT_FOUND"
	}
	return "", false
}

func matrixErrcode(body []byte) string {
	var e struct {
		Errcode string `json:"errcode"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return ""
	}
	return e.Errcode
}

// contractError says how an answer breaks the API's failure contract, or is
// nil: no 500, every failure a Matrix error (errcode and error), every 503
// with Retry-After.
func (a answer) contractError() error {
	if a.err != nil || a.status < 300 {
		return nil
	}
	if a.status >= 500 && a.status != http.StatusServiceUnavailable {
		return fmt.Errorf("HTTP %d: %s", a.status, a.body)
	}
	if matrixErrcode(a.body) == "" {
		return fmt.Errorf("HTTP %d without a Matrix error body: %q", a.status, a.body)
	}
	if a.status == http.StatusServiceUnavailable && a.header.Get("Retry-After") == "" {
		return fmt.Errorf("HTTP 503 without Retry-After: %s", a.body)
	}
	return nil
}
