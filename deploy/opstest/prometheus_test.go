//go:build ops

package opstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// prometheus is a Prometheus server the test runs.
type prometheus struct {
	*process
	url string
}

// startPrometheus runs Debian's prometheus scraping targets every second
// under job "presenced", with the shipped rule files evaluated every second.
func startPrometheus(t *testing.T, targets ...string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "prometheus", "rules", "*.yml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rule files in deploy/prometheus/rules (%v)", err)
	}
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = fmt.Sprintf("%q", tg)
	}
	qrules := make([]string, len(rules))
	for i, r := range rules {
		qrules[i] = fmt.Sprintf("%q", r)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
  - job_name: presenced
    static_configs:
      - targets: [%s]
`, strings.Join(qrules, ", "), strings.Join(quoted, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &prometheus{url: "http://" + addr}
	p.process = start(t, "prometheus", tool(t, "prometheus"),
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn")
	waitFor(t, 30*time.Second, "prometheus ready", func() error {
		if !p.running() {
			t.Fatalf("prometheus exited:\n%s", tail(p.out.String(), 4000))
		}
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready answered %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

// apiResponse is the envelope of every Prometheus HTTP API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

// api GETs path with params and decodes the envelope; a transport error
// fails the test, an API error is returned.
func (p *prometheus) api(t *testing.T, path string, params url.Values) (json.RawMessage, error) {
	t.Helper()
	resp, err := httpClient.Get(p.url + path + "?" + params.Encode())
	if err != nil {
		t.Fatalf("prometheus %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r apiResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("prometheus %s answered %d, not JSON: %s", path, resp.StatusCode, raw)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// query runs an instant query and returns how many series it gave.
func (p *prometheus) query(t *testing.T, expr string) (int, error) {
	t.Helper()
	data, err := p.api(t, "/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	var d struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return 0, fmt.Errorf("decoding the result: %w", err)
	}
	if d.ResultType == "scalar" || d.ResultType == "string" {
		return 1, nil
	}
	return len(d.Result), nil
}

// mustHaveData polls expr until it parses and returns at least one series.
// A parse or evaluation error fails at once: waiting does not fix it.
func (p *prometheus) mustHaveData(t *testing.T, what, expr string) {
	t.Helper()
	waitFor(t, 30*time.Second, what+" returns data", func() error {
		n, err := p.query(t, expr)
		if err != nil {
			t.Fatalf("%s: %s: %v", what, expr, err)
		}
		if n == 0 {
			return fmt.Errorf("no series for %s", expr)
		}
		return nil
	})
}

// ruleGroups returns the rule groups Prometheus has loaded, as it
// evaluates them.
func (p *prometheus) ruleGroups(t *testing.T) []loadedGroup {
	t.Helper()
	data, err := p.api(t, "/api/v1/rules", nil)
	if err != nil {
		t.Fatalf("/api/v1/rules: %v", err)
	}
	var d struct {
		Groups []loadedGroup `json:"groups"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d.Groups
}

type loadedGroup struct {
	Name  string `json:"name"`
	File  string `json:"file"`
	Rules []struct {
		Name      string `json:"name"`
		Query     string `json:"query"`
		Type      string `json:"type"`
		Health    string `json:"health"`
		LastError string `json:"lastError"`
	} `json:"rules"`
}
