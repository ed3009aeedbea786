package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
)

// whoamiPath is the homeserver endpoint that tells whose a token is.
const whoamiPath = "/_matrix/client/v3/account/whoami"

// HomeserverAuthConfig configures a HomeserverAuth.
type HomeserverAuthConfig struct {
	// URL is the homeserver's client API base URL.
	URL string
	// CacheTTL is how long an accepted token is trusted without asking
	// again: a token logged out on the homeserver keeps working here for at
	// most this long. 0 disables the cache.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long a refused token stays refused without
	// asking again. 0 disables it.
	NegativeCacheTTL time.Duration
	// CacheSize bounds the entries of each cache.
	CacheSize int
	// Timeout bounds one call to the homeserver.
	Timeout time.Duration
	// Client sends the calls (default: a client of its own).
	Client *http.Client
	// Logger receives failures to reach the homeserver (default: discard).
	Logger *slog.Logger
	// Now is the clock of cache expiry (default: time.Now).
	Now func() time.Time
}

// HomeserverAuth checks access tokens by asking the homeserver
// (GET /_matrix/client/v3/account/whoami), so that presenced accepts exactly
// the tokens the homeserver accepts. Answers are cached, keyed by the
// SHA-256 of the token (the token itself is never stored or logged), in
// size-bounded LRU caches; concurrent look-ups of one token are collapsed
// into one call. When the homeserver cannot answer, requests are refused
// with 503: nothing is let through unchecked.
type HomeserverAuth struct {
	cfg      HomeserverAuthConfig
	whoami   string
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time
	positive *lru.Cache[[32]byte, cachedUser]
	negative *lru.Cache[[32]byte, time.Time]
	flight   singleflight.Group

	// lookups counts calls to the homeserver by result (accepted, refused,
	// failed); cache counts checks answered from the caches or not.
	lookups *prometheus.CounterVec
	cache   *prometheus.CounterVec
}

type cachedUser struct {
	requester Requester
	expires   time.Time
}

// NewHomeserverAuth returns a provider that asks the homeserver at cfg.URL.
func NewHomeserverAuth(cfg HomeserverAuthConfig) (*HomeserverAuth, error) {
	if err := checkHomeserverURL(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.CacheSize < 1 {
		cfg.CacheSize = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	a := &HomeserverAuth{
		cfg:    cfg,
		whoami: strings.TrimRight(cfg.URL, "/") + whoamiPath,
		client: cfg.Client,
		log:    cfg.Logger,
		now:    cfg.Now,
	}
	if a.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		a.client = &http.Client{Transport: tr}
	}
	// Redirects could carry the Authorization header elsewhere; a
	// homeserver's whoami does not redirect.
	c := *a.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	a.client = &c
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.lookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_auth_homeserver_lookups_total",
		Help: "Token checks sent to the homeserver, by result (accepted, refused, failed).",
	}, []string{"result"})
	a.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "presenced_auth_cache_total",
		Help: "Token checks by how the cache answered (hit, negative_hit, miss).",
	}, []string{"result"})
	// Every result exists from the start, at zero, so that a rate() over
	// one is not blind until it first happens.
	for _, r := range []string{"accepted", "refused", "failed"} {
		a.lookups.WithLabelValues(r)
	}
	for _, r := range []string{"hit", "negative_hit", "miss"} {
		a.cache.WithLabelValues(r)
	}
	a.positive, _ = lru.New[[32]byte, cachedUser](cfg.CacheSize)
	a.negative, _ = lru.New[[32]byte, time.Time](max(cfg.CacheSize/10, 1))
	return a, nil
}

// Authenticate implements Authenticator. The requester's device is the one
// whoami names.
func (a *HomeserverAuth) Authenticate(ctx context.Context, token string) (Requester, error) {
	key := sha256.Sum256([]byte(token))
	now := a.now()
	if u, ok := a.positive.Get(key); ok {
		if now.Before(u.expires) {
			a.cache.WithLabelValues("hit").Inc()
			return u.requester, nil
		}
		a.positive.Remove(key)
	}
	if exp, ok := a.negative.Get(key); ok {
		if now.Before(exp) {
			a.cache.WithLabelValues("negative_hit").Inc()
			return Requester{}, errUnknownToken()
		}
		a.negative.Remove(key)
	}
	a.cache.WithLabelValues("miss").Inc()
	// The look-up runs detached from this request, so that one caller
	// giving up does not fail the others waiting on the same token.
	ch := a.flight.DoChan(string(key[:]), func() (any, error) {
		user, err := a.lookup(key, token)
		switch kind, _ := apierr.KindOf(err); {
		case err == nil:
			a.lookups.WithLabelValues("accepted").Inc()
		case kind == apierr.KindUnknownToken:
			a.lookups.WithLabelValues("refused").Inc()
		default:
			a.lookups.WithLabelValues("failed").Inc()
		}
		return user, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return Requester{}, res.Err
		}
		return res.Val.(Requester), nil
	case <-ctx.Done():
		return Requester{}, apierr.Unavailable("Request cancelled while checking the access token.", time.Second, ctx.Err())
	}
}

// Known implements Known: a token is known while the cache holds it.
func (a *HomeserverAuth) Known(token string) (Requester, bool) {
	u, ok := a.positive.Get(sha256.Sum256([]byte(token)))
	if !ok || !a.now().Before(u.expires) {
		return Requester{}, false
	}
	a.cache.WithLabelValues("hit").Inc()
	return u.requester, true
}

// Collectors returns the provider's metrics, for the node to register.
func (a *HomeserverAuth) Collectors() []prometheus.Collector {
	return []prometheus.Collector{a.lookups, a.cache}
}

// CacheLen returns the number of accepted and refused tokens cached.
func (a *HomeserverAuth) CacheLen() (accepted, refused int) {
	return a.positive.Len(), a.negative.Len()
}

// lookup asks the homeserver whose token is, and caches the answer.
func (a *HomeserverAuth) lookup(key [32]byte, token string) (Requester, error) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.whoami, nil)
	if err != nil {
		return Requester{}, apierr.Unavailable("Cannot check the access token.", 2*time.Second, err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		// The error names the URL, never the token (it is in a header).
		a.log.Warn("homeserver unreachable for token check", "url", a.whoami, "err", err)
		return Requester{}, apierr.Unavailable("The homeserver cannot be reached to check the access token; try again.", 2*time.Second, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		a.log.Warn("homeserver answer unreadable", "url", a.whoami, "status", resp.StatusCode, "err", err)
		return Requester{}, apierr.Unavailable("The homeserver did not answer the token check; try again.", 2*time.Second, err)
	}
	var ans struct {
		UserID   string `json:"user_id"`
		DeviceID string `json:"device_id"`
		Errcode  string `json:"errcode"`
	}
	_ = json.Unmarshal(body, &ans)

	switch {
	case resp.StatusCode == http.StatusOK:
		if err := events.ValidateUserID(ans.UserID); err != nil {
			a.log.Warn("homeserver whoami answered without a valid user_id", "url", a.whoami, "err", err)
			return Requester{}, apierr.Unavailable("The homeserver gave an invalid answer to the token check.", 2*time.Second, err)
		}
		r := Requester{UserID: ans.UserID, DeviceID: ans.DeviceID}
		if a.cfg.CacheTTL > 0 {
			a.positive.Add(key, cachedUser{requester: r, expires: a.now().Add(a.cfg.CacheTTL)})
		}
		return r, nil
	case resp.StatusCode == http.StatusUnauthorized,
		resp.StatusCode == http.StatusForbidden && (ans.Errcode == "M_UNKNOWN_TOKEN" || ans.Errcode == "M_MISSING_TOKEN" || ans.Errcode == "M_FORBIDDEN"):
		// A token the homeserver refuses (unknown, logged out, expired, or a
		// kind of account it does not let call whoami).
		if a.cfg.NegativeCacheTTL > 0 {
			a.negative.Add(key, a.now().Add(a.cfg.NegativeCacheTTL))
		}
		return Requester{}, errUnknownToken()
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := retryAfter(resp, 2*time.Second)
		a.log.Warn("homeserver rate-limits token checks", "url", a.whoami, "retry_after", wait)
		return Requester{}, apierr.Unavailable("The homeserver is rate-limiting token checks; try again.", wait, errors.New("homeserver answered 429"))
	default:
		a.log.Warn("homeserver token check failed", "url", a.whoami, "status", resp.StatusCode, "errcode", apierr.Truncate(ans.Errcode, 64))
		return Requester{}, apierr.Unavailable("The homeserver could not check the access token; try again.", 2*time.Second,
			fmt.Errorf("homeserver answered %d", resp.StatusCode))
	}
}

// retryAfter reads a Retry-After of seconds, or def.
func retryAfter(resp *http.Response, def time.Duration) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s < 3600 {
		return time.Duration(s) * time.Second
	}
	return def
}
