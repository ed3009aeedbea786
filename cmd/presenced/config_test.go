package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/node"
)

// env returns an environment (as os.Environ gives it) of m.
func env(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// configFile writes a YAML config file and returns its path.
func configFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "presenced.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSettingsDefaults(t *testing.T) {
	s, err := parseSettings(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := node.DefaultConfig(); !reflect.DeepEqual(s.node, want) {
		t.Fatalf("defaults\n got %+v\nwant %+v", s.node, want)
	}
	if s.node.HTTP.Listen != "127.0.0.1:8008" || s.node.Store.DataDir != "./data" || s.node.ServerName != "localhost" ||
		s.node.Store.Stream != "PRESENCE" || s.node.Store.StreamReplicas != 1 || s.node.IdleTimeout != 5*time.Minute ||
		s.node.OfflineTimeout != 30*time.Minute || len(s.node.Store.NATSURLs) != 0 || s.logLevel != "info" || s.logFormat != "text" {
		t.Fatalf("documented defaults changed: %+v %s %s", s.node, s.logLevel, s.logFormat)
	}
}

// TestSettingsPrecedence: flags win over the environment, which wins over
// the config file, setting by setting.
func TestSettingsPrecedence(t *testing.T) {
	file := configFile(t, `
listen: 127.0.0.1:1001
stream: FROMFILE
idle-timeout: 1m
offline_timeout: 2h
server-name: file.example
nats-url:
  - nats://a:4222
  - nats://b:4222
log-format: json
`)
	s, err := parseSettings(
		[]string{"--config", file, "--listen", "127.0.0.1:3003", "--log-level", "debug"},
		env(map[string]string{
			"PRESENCE_LISTEN":      "127.0.0.1:2002",
			"PRESENCE_STREAM":      "FROMENV",
			"PRESENCE_SERVER_NAME": "env.example",
			"PRESENCE_LOG_LEVEL":   "warn",
		}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := s.node
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen (flag over env and file)", c.HTTP.Listen, "127.0.0.1:3003"},
		{"log-level (flag over env)", s.logLevel, "debug"},
		{"stream (env over file)", c.Store.Stream, "FROMENV"},
		{"server-name (env over file)", c.ServerName, "env.example"},
		{"idle-timeout (file)", c.IdleTimeout, time.Minute},
		{"offline_timeout (file, underscore key)", c.OfflineTimeout, 2 * time.Hour},
		{"nats-url (file list)", c.Store.NATSURLs, []string{"nats://a:4222", "nats://b:4222"}},
		{"log-format (file)", s.logFormat, "json"},
		{"data-dir (default)", c.Store.DataDir, "./data"},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: got %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// TestSettingsConfigFromEnv: PRESENCE_CONFIG names the file like --config.
func TestSettingsConfigFromEnv(t *testing.T) {
	file := configFile(t, "stream-replicas: 3\nnats-url: nats://x:4222\n")
	s, err := parseSettings(nil, env(map[string]string{"PRESENCE_CONFIG": file}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.node.Store.StreamReplicas != 3 || !reflect.DeepEqual(s.node.Store.NATSURLs, []string{"nats://x:4222"}) {
		t.Fatalf("config from PRESENCE_CONFIG not applied: %+v", s.node)
	}
}

func TestSettingsNATSURLFlag(t *testing.T) {
	s, err := parseSettings([]string{"--nats-url", " nats://a:1, nats://b:2 ,"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.node.Store.NATSURLs, []string{"nats://a:1", "nats://b:2"}) {
		t.Fatalf("nats-url %v", s.node.Store.NATSURLs)
	}
}

// TestSettingsErrors: every invalid input fails with a message that names
// the setting and where it came from.
func TestSettingsErrors(t *testing.T) {
	badFile := configFile(t, "idle-timeout: soon\n")
	unknownKey := configFile(t, "listen: 127.0.0.1:1\nno_such_key: 1\n")
	intDuration := configFile(t, "offline-timeout: 300\n")
	notYAML := configFile(t, "listen: [unclosed\n")
	versionKey := configFile(t, "version: true\n")
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"unknown flag", []string{"--no-such-flag"}, nil, []string{"no-such-flag"}},
		{"stray argument", []string{"serve"}, nil, []string{`unexpected argument "serve"`}},
		{"invalid duration flag", []string{"--idle-timeout", "5 minutes"}, nil, []string{"idle-timeout", `"5 minutes" is not a duration`}},
		{"invalid duration env", nil, map[string]string{"PRESENCE_IDLE_TIMEOUT": "abc"}, []string{"PRESENCE_IDLE_TIMEOUT", `"abc" is not a duration`}},
		{"invalid duration file", []string{"--config", badFile}, nil, []string{badFile, "idle-timeout", `"soon" is not a duration`}},
		{"duration without unit in file", []string{"--config", intDuration}, nil, []string{"offline-timeout", `"300" is not a duration`}},
		{"unknown file key", []string{"--config", unknownKey}, nil, []string{unknownKey, `unknown key "no_such_key"`}},
		{"config file missing", []string{"--config", "/nonexistent/presenced.yaml"}, nil, []string{"config file", "/nonexistent/presenced.yaml"}},
		{"config file not YAML", []string{"--config", notYAML}, nil, []string{notYAML}},
		{"invalid int", []string{"--stream-replicas", "three"}, nil, []string{"stream-replicas", `"three" is not a whole number`}},
		{"replicas out of range", []string{"--stream-replicas", "7"}, nil, []string{"--stream-replicas 7"}},
		{"negative timeout", []string{"--offline-timeout", "-1s"}, nil, []string{"--offline-timeout"}},
		{"bad server name", []string{"--server-name", "exa mple"}, nil, []string{"--server-name"}},
		{"bad nats url", []string{"--nats-url", "localhost"}, nil, []string{"--nats-url", "nats://"}},
		{"bad stream name", []string{"--stream", "A.B"}, nil, []string{"--stream"}},
		{"bad log level", []string{"--log-level", "loud"}, nil, []string{"--log-level", "loud"}},
		{"bad log format", nil, map[string]string{"PRESENCE_LOG_FORMAT": "xml"}, []string{"--log-format", "xml"}},
		{"empty data dir", []string{"--data-dir", ""}, nil, []string{"--data-dir"}},
		{"mistyped env variable", nil, map[string]string{"PRESENCE_IDEL_TIMEOUT": "1m"}, []string{"PRESENCE_IDEL_TIMEOUT", "names no setting", "did you mean PRESENCE_IDLE_TIMEOUT?"}},
		{"unknown env variable, empty", nil, map[string]string{"PRESENCE_NO_SUCH": ""}, []string{"PRESENCE_NO_SUCH", "names no setting"}},
		{"env variable of --version", nil, map[string]string{"PRESENCE_VERSION": "1"}, []string{"PRESENCE_VERSION", "names no setting"}},
		{"config key of --version", []string{"--config", versionKey}, nil, []string{versionKey, `unknown key "version"`}},
		{"metrics listen on the client listener", []string{"--listen", "127.0.0.1:8008", "--metrics-listen", "127.0.0.1:8008"}, nil, []string{"--metrics-listen"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseSettings(c.args, env(c.env), io.Discard)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestSettingsEnvironment: the variables of presence-dendrite and anything
// not starting PRESENCE_ are not presenced's business; a flag's variable is
// read, the last of two entries winning as with os.Getenv.
func TestSettingsEnvironment(t *testing.T) {
	s, err := parseSettings(nil, []string{
		"PATH=/bin", "PRESENCED_TEST_DEBUG=1", "PRESENCE_DENDRITE_LISTEN=127.0.0.1:1",
		"PRESENCE_STREAM=FIRST", "PRESENCE_STREAM=SECOND", "PRESENCE_METRICS_LISTEN=127.0.0.1:9100",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if s.node.Store.Stream != "SECOND" || s.node.HTTP.MetricsListen != "127.0.0.1:9100" {
		t.Fatalf("stream %q, metrics listen %q", s.node.Store.Stream, s.node.HTTP.MetricsListen)
	}
}

// TestRun: version (and --version, even with settings that would not
// start) prints the version; help and -h list the subcommands and every
// flag; bad settings exit 2 with the reason on stderr, before anything
// starts.
func TestRun(t *testing.T) {
	var out, errOut bytes.Buffer
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}, {"--version", "--stream", "A.B"}} {
		out.Reset()
		if code := run(args, env(nil), &out, &errOut); code != 0 || out.String() != "presenced "+version+"\n" {
			t.Fatalf("%v: %d %q %q", args, code, out.String(), errOut.String())
		}
	}
	out.Reset()
	if code := run([]string{"help"}, env(nil), &out, &errOut); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	errOut.Reset()
	if code := run([]string{"-h"}, env(nil), io.Discard, &errOut); code != 0 {
		t.Fatalf("-h: exit %d", code)
	}
	for name, text := range map[string]string{"help": out.String(), "-h": errOut.String()} {
		for _, want := range []string{"presenced version", "presenced healthcheck", "presenced backup", "presenced restore",
			"presenced help", "-metrics-listen string", "-config string", "-version", "PRESENCE_<NAME>"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s does not mention %q:\n%s", name, want, text)
			}
		}
	}
	out.Reset()
	errOut.Reset()
	if code := run(nil, env(map[string]string{"PRESENCE_LISTN": ":1"}), &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "PRESENCE_LISTN") {
		t.Fatalf("mistyped variable: %d %q", code, errOut.String())
	}
	out.Reset()
	if code := run([]string{"--idle-timeout", "x"}, env(nil), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "idle-timeout") {
		t.Fatalf("bad flag: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"--tokens-file", "/nonexistent/tokens.yaml"}, env(nil), &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "tokens") {
		t.Fatalf("missing tokens file: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"-h"}, env(nil), &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "-idle-timeout duration") ||
		!strings.Contains(errOut.String(), "(default 5m0s)") || strings.Contains(errOut.String(), "panic") {
		t.Fatalf("help: %d %q", code, errOut.String())
	}
}
