//go:build ops

package opstest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// dashboard is the part of a Grafana dashboard JSON the tests read.
type dashboard struct {
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// loadDashboard reads deploy/grafana/dashboards/presenced.json and returns
// its panels, those of collapsed rows included, rows themselves excluded.
func loadDashboard(t *testing.T) (*dashboard, []panel) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "presenced.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return &d, out
}

// grafanaVars are the values the test gives the dashboard's variables:
// every job and instance, and a rate window of many 1 s scrapes.
var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$job", "presenced", "$instance", ".*")

// rule is one recording or alerting rule of deploy/prometheus/rules.
type rule struct {
	File   string
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

func (r rule) name() string { return r.Record + r.Alert }

// loadRules reads every rule of deploy/prometheus/rules/*.yml.
func loadRules(t *testing.T) []rule {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "prometheus", "rules", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule files (%v)", err)
	}
	var out []rule
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Groups []struct {
				Rules []rule `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				r.File = filepath.Base(f)
				out = append(out, r)
			}
		}
	}
	return out
}

var (
	recordedName  = regexp.MustCompile(`[a-zA-Z_]+:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+`)
	presencedName = regexp.MustCompile(`\bpresenced_[a-zA-Z0-9_]+`)
	upName        = regexp.MustCompile(`\bup\{`)
)

// metricNames lists the metric names an expression reads: recorded series
// (level:metric:operation), presenced_* series and up.
func metricNames(expr string) []string {
	set := map[string]bool{}
	for _, m := range recordedName.FindAllString(expr, -1) {
		set[m] = true
	}
	rest := recordedName.ReplaceAllString(expr, " ")
	for _, m := range presencedName.FindAllString(rest, -1) {
		set[m] = true
	}
	if upName.MatchString(rest) {
		set["up"] = true
	}
	out := make([]string, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}
