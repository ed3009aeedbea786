package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/httpapi"
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
	vars := map[string]string{
		"PRESENCE_CONFIG":         file,
		"PRESENCE_AUTH_CACHE_TTL": "30s",
		"PRESENCE_VISIBILITY":     "same-server",
		"PRESENCE_REAL_IP_HEADER": "X-Forwarded-For",
	}
	s, err := parseSettings([]string{"--ratelimit-burst", "7"}, env(vars), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := s.node
	want := node.Config{
		Auth: auth.Config{Provider: "homeserver", HomeserverURL: "https://matrix.example.org", Visibility: "same-server", CacheTTL: 30 * time.Second},
		HTTP: httpapi.Config{RateLimitPerSecond: 2.5, RateLimitBurst: 7, MaxInFlight: 64, ReadHeaderTimeout: 2 * time.Second, RealIPHeader: "X-Forwarded-For"},
	}
	got := node.Config{
		Auth: auth.Config{Provider: c.Auth.Provider, HomeserverURL: c.Auth.HomeserverURL, Visibility: c.Auth.Visibility, CacheTTL: c.Auth.CacheTTL},
		HTTP: httpapi.Config{RateLimitPerSecond: c.HTTP.RateLimitPerSecond, RateLimitBurst: c.HTTP.RateLimitBurst, MaxInFlight: c.HTTP.MaxInFlight,
			ReadHeaderTimeout: c.HTTP.ReadHeaderTimeout, RealIPHeader: c.HTTP.RealIPHeader},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if c.Auth.NegativeCacheTTL != 5*time.Second || c.HTTP.RateLimitTableSize != 100_000 {
		t.Fatalf("defaults: %v %d", c.Auth.NegativeCacheTTL, c.HTTP.RateLimitTableSize)
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
		_, err := parseSettings(args, nil, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("%v: %v", args, err)
		}
	}
}
