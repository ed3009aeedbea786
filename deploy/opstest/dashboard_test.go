//go:build ops

package opstest

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDashboardAndRulesOnPrometheus runs a real Prometheus scraping two
// real nodes (one with static tokens, one with --auth homeserver against a
// stand-in homeserver) under a little load, and checks that every
// dashboard query and every rule parses and that each query and each
// metric name used returns data.
func TestDashboardAndRulesOnPrometheus(t *testing.T) {
	hs := startStandIn(t, nil)
	a := startNode(t, "ops-static", "--tokens-file", writeTokens(t, staticTokens(10)), "--ratelimit-auth-failures-burst", "3")
	// The second node serves /metrics on a listener of its own, which is
	// what Prometheus scrapes.
	bMetrics := freeAddr(t)
	b := startNode(t, "ops-homeserver", "--auth", "homeserver", "--homeserver-url", hs.url, "--metrics-listen", bMetrics)
	prom := startPrometheus(t, a.addr, bMetrics)
	prom.mustHaveData(t, "both targets scraped", `count(up{job="presenced"} == 1) == 2`)
	driveStaticLoad(t, a.url, 10)
	driveHomeserverLoad(t, b.url)

	d, panels := loadDashboard(t)
	t.Run("dashboard variables", func(t *testing.T) {
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v.Type
			if v.Type != "query" {
				continue
			}
			if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
				t.Errorf("variable %s does not use the datasource variable", v.Name)
			}
			m := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`).FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, v.Definition)
				continue
			}
			waitFor(t, 30*time.Second, "values of variable "+v.Name, func() error {
				data, err := prom.api(t, "/api/v1/label/"+m[2]+"/values", url.Values{"match[]": {grafanaVars.Replace(m[1])}})
				if err != nil {
					t.Fatalf("variable %s: %v", v.Name, err)
				}
				if strings.TrimSpace(string(data)) == "[]" {
					return fmt.Errorf("no values")
				}
				return nil
			})
		}
		for name, typ := range map[string]string{"datasource": "datasource", "job": "query", "instance": "query"} {
			if vars[name] != typ {
				t.Errorf("dashboard variable %q: type %q, want %q", name, vars[name], typ)
			}
		}
	})
	for _, p := range panels {
		for _, tg := range p.Targets {
			t.Run("panel "+p.Title+" "+tg.RefID, func(t *testing.T) {
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" || tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q target %s does not use the datasource variable", p.Title, tg.RefID)
				}
				if !strings.Contains(tg.Expr, `job=~"$job"`) {
					t.Errorf("panel %q target %s does not select job=~\"$job\": %s", p.Title, tg.RefID, tg.Expr)
				}
				prom.mustHaveData(t, fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), grafanaVars.Replace(tg.Expr))
			})
		}
	}

	rules := loadRules(t)
	for _, r := range rules {
		t.Run("rule "+r.name(), func(t *testing.T) {
			if _, err := prom.query(t, r.Expr); err != nil {
				t.Fatalf("%s: %v", r.Expr, err)
			}
			if r.Record == "" {
				return // an alert: not firing here is right; its metrics are checked below
			}
			prom.mustHaveData(t, "recording rule "+r.Record, r.Record)
		})
	}

	names := map[string]bool{}
	for _, p := range panels {
		for _, tg := range p.Targets {
			for _, n := range metricNames(tg.Expr) {
				names[n] = true
			}
		}
	}
	for _, r := range rules {
		for _, n := range metricNames(r.Expr) {
			names[n] = true
		}
	}
	for n := range names {
		t.Run("metric "+n, func(t *testing.T) {
			prom.mustHaveData(t, "metric "+n, fmt.Sprintf(`group({__name__=%q})`, n))
		})
	}

	t.Run("rules evaluated without error", func(t *testing.T) {
		waitFor(t, 30*time.Second, "every rule evaluated", func() error {
			loaded := 0
			for _, g := range prom.ruleGroups(t) {
				for _, r := range g.Rules {
					loaded++
					switch r.Health {
					case "ok":
					case "err":
						t.Fatalf("rule %s (group %s): %s", r.Name, g.Name, r.LastError)
					default:
						return fmt.Errorf("rule %s: health %q", r.Name, r.Health)
					}
				}
			}
			if loaded != len(rules) {
				return fmt.Errorf("Prometheus has loaded %d rules, the files hold %d", loaded, len(rules))
			}
			return nil
		})
	})
}
