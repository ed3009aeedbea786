package node_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/presenced/presenced"

// mayImport lists, for each package of the module, the packages of the
// module it may import directly (its non-test files): the layering
// cmd → node → {httpapi, store, auth} → {apierr, projection, events}, and
// client → events. A package not listed here may import nothing of the
// module; test helpers (nodetest) may import anything but cmd.
//
// node/fleet (the fleet API's commands, feed and timer reaper, over small
// interfaces) sits beside apierr: it imports no NATS and no HTTP, so httpapi
// may call it. The other commands talk to presenced over HTTP only.
var mayImport = map[string][]string{
	"events":                       {},
	"projection":                   {"events"},
	"node/apierr":                  {},
	"node/reqmetrics":              {},
	"node/fleet":                   {"events", "projection"},
	"node/auth":                    {"node/apierr", "events", "projection"},
	"node/store":                   {"node/apierr", "events", "projection"},
	"node/httpapi":                 {"node/apierr", "node/fleet", "node/reqmetrics", "events", "projection"},
	"node":                         {"node/httpapi", "node/store", "node/auth", "node/apierr", "node/fleet", "node/reqmetrics", "events", "projection"},
	"cmd/presenced":                {"node", "events"},
	"cmd/presence-bench":           {"events"},
	"cmd/presence-dendrite":        {"events", "cmd/presence-dendrite/bridge"},
	"cmd/presence-dendrite/bridge": {"events"},
	"cmd/presence-jepsen":          {"events", "client"},
	"client":                       {"events"},
}

// forbiddenDeps lists what may not appear anywhere among a package's
// dependencies, direct or not.
var forbiddenDeps = map[string][]string{
	"node/httpapi":    {module + "/node/store", "github.com/nats-io/"},
	"node/fleet":      {module + "/node/store", module + "/node/httpapi", "github.com/nats-io/"},
	"node/auth":       {module + "/node/httpapi", module + "/node/store", "github.com/nats-io/"},
	"node/apierr":     {thirdParty, module + "/"},
	"node/reqmetrics": {module + "/", "github.com/nats-io/"},
	"events":          {"github.com/nats-io/"},
	"projection":      {"github.com/nats-io/"},
	// Importing the client must not pull in NATS, the server or any
	// third-party code.
	"client": {thirdParty, module + "/node"},
}

// thirdParty in forbiddenDeps stands for any package outside the standard
// library and this module.
const thirdParty = "third-party"

func forbidden(dep, bad string) bool {
	if bad == thirdParty {
		first, _, _ := strings.Cut(dep, "/")
		return strings.Contains(first, ".") && !strings.HasPrefix(dep, module+"/")
	}
	return strings.HasPrefix(dep, bad)
}

type listedPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportDirection fails when an import breaks the package layering.
func TestImportDirection(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < len(mayImport) {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			ours, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			if strings.HasPrefix(ours, "cmd/") && !strings.HasPrefix(ours, rel+"/") {
				t.Errorf("%s imports %s: nothing imports another command", rel, ours)
			}
			allowed, listed := mayImport[rel]
			if !listed {
				if strings.HasPrefix(rel, "node/nodetest") || strings.HasPrefix(rel, "scripts/") {
					continue
				}
				t.Errorf("%s imports %s, but is not in the layering (add it to mayImport)", rel, ours)
				continue
			}
			if !slices.Contains(allowed, ours) {
				t.Errorf("%s imports %s: it may import only %v of this module", rel, ours, allowed)
			}
		}
		for _, bad := range forbiddenDeps[rel] {
			for _, d := range p.Deps {
				if forbidden(d, bad) {
					t.Errorf("%s depends on %s (%s may not be among its dependencies)", rel, d, bad)
				}
			}
		}
	}
	for rel := range mayImport {
		if !slices.ContainsFunc(pkgs, func(p listedPackage) bool { return p.ImportPath == strings.TrimSuffix(module+"/"+rel, "/") }) {
			t.Errorf("package %s is gone; update the layering", rel)
		}
	}
}
