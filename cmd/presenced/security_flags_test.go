package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
)

// TestSecuritySettings sets the security settings from each source: flags,
// PRESENCE_<NAME> variables and the YAML file, flags winning.
func TestSecuritySettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "presenced.yaml")
	if err := os.WriteFile(file, []byte(`
auth: homeserver
homeserver_url: https://matrix.example.org
visibility: self
ratelimit-per-second: 2.5
ratelimit-burst: 10
max-in-flight: 64
http-read-header-timeout: 2s
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PRESENCE_CONFIG":         file,
		"PRESENCE_AUTH_CACHE_TTL": "30s",
		"PRESENCE_VISIBILITY":     "same-server",
		"PRESENCE_REAL_IP_HEADER": "X-Forwarded-For",
	}
	s, err := parseSettings([]string{"--ratelimit-burst", "7"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := s.node
	want := node.Config{Auth: "homeserver", HomeserverURL: "https://matrix.example.org", Visibility: "same-server",
		RateLimitPerSecond: 2.5, RateLimitBurst: 7, MaxInFlight: 64, HTTPReadHeaderTimeout: 2 * time.Second,
		AuthCacheTTL: 30 * time.Second, RealIPHeader: "X-Forwarded-For"}
	got := node.Config{Auth: c.Auth, HomeserverURL: c.HomeserverURL, Visibility: c.Visibility,
		RateLimitPerSecond: c.RateLimitPerSecond, RateLimitBurst: c.RateLimitBurst, MaxInFlight: c.MaxInFlight,
		HTTPReadHeaderTimeout: c.HTTPReadHeaderTimeout, AuthCacheTTL: c.AuthCacheTTL, RealIPHeader: c.RealIPHeader}
	if got.Auth != want.Auth || got.HomeserverURL != want.HomeserverURL || got.Visibility != want.Visibility ||
		got.RateLimitPerSecond != want.RateLimitPerSecond || got.RateLimitBurst != want.RateLimitBurst ||
		got.MaxInFlight != want.MaxInFlight || got.HTTPReadHeaderTimeout != want.HTTPReadHeaderTimeout ||
		got.AuthCacheTTL != want.AuthCacheTTL || got.RealIPHeader != want.RealIPHeader {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if c.AuthNegativeCacheTTL != 5*time.Second || c.RateLimitTableSize != 100_000 {
		t.Fatalf("defaults: %v %d", c.AuthNegativeCacheTTL, c.RateLimitTableSize)
	}
}

// TestSecuritySettingsInvalid: bad values fail at start-up, naming the flag.
func TestSecuritySettingsInvalid(t *testing.T) {
	for _, args := range [][]string{
		{"--auth", "ldap"},
		{"--auth", "homeserver"},
		{"--auth", "homeserver", "--homeserver-url", "matrix.example.org"},
		{"--visibility", "friends"},
		{"--ratelimit-per-second", "-1"},
		{"--max-header-bytes", "10"},
		{"--http-write-timeout", "0s"},
	} {
		_, err := parseSettings(args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
