package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestSettingsFromFlagsAndEnvironment(t *testing.T) {
	env := map[string]string{
		"PRESENCE_DENDRITE_PRESENCED_URL":        "http://presenced:8009",
		"PRESENCE_DENDRITE_INTERNAL_SECRET_FILE": "/run/secret",
		"PRESENCE_DENDRITE_JETSTREAM_PREFIX":     "Hs2",
		"PRESENCE_DENDRITE_LEASE_TTL":            "20s",
		"PRESENCE_DENDRITE_LISTEN":               "127.0.0.1:1",
	}
	s, err := parseSettings([]string{"--listen", ":9999", "--replica", "r7"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.presencedURL != "http://presenced:8009" || s.secretFile != "/run/secret" || s.listen != ":9999" ||
		s.bridge.Dendrite.Subject() != "Hs2OutputPresenceEvent" || s.bridge.LeaseTTL != 20*time.Second || s.bridge.Replica != "r7" {
		t.Fatalf("settings %+v", s)
	}
	if s.natsURL != "nats://127.0.0.1:4222" || s.bridge.MaxLastActiveAge != 4*time.Minute {
		t.Fatalf("defaults %+v", s)
	}
	if d, _ := parseSettings(nil, func(k string) string { return env[k] }, io.Discard); d.bridge.Replica == "" {
		t.Fatal("no default replica name")
	}
}

func TestSettingsRefuseWhatCannotWork(t *testing.T) {
	base := []string{"--presenced-url", "http://p", "--internal-secret-file", "/s"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--presenced-url is required"},
		{[]string{"--presenced-url", "http://p"}, "--internal-secret-file is required"},
		{append(base, "--delivery-timeout", "4m"), "delivery timeout"},
		{append(base, "--max-last-active-age", "5m"), "max last-active age"},
		{append(base, "--lease-ttl", "100ms"), "lease TTL"},
		{append(base, "--log-level", "loud"), "--log-level"},
	} {
		_, err := parseSettings(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
