package validate

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlaysDir holds one directory per overlay; each is rendered and checked.
const overlaysDir = "../overlays"

// object is one rendered manifest: its identity and its YAML.
type object struct {
	APIVersion, Kind, Namespace, Name string
	YAML                              []byte
}

func (o object) id() string { return o.APIVersion + " " + o.Kind + " " + o.Namespace + "/" + o.Name }

// overlayNames lists the overlays, so that a new one is checked without
// changing the tests.
func overlayNames(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(overlaysDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("no overlays in %s", overlaysDir)
	}
	return names
}

// render runs kustomize in-process on one overlay, as `kubectl kustomize` does.
func render(t *testing.T, overlay string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(overlaysDir, overlay))
	if err != nil {
		t.Fatalf("kustomize %s: %v", overlay, err)
	}
	var out []object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s %s: %v", overlay, r.GetKind(), r.GetName(), err)
		}
		out = append(out, object{
			APIVersion: r.GetApiVersion(), Kind: r.GetKind(),
			Namespace: r.GetNamespace(), Name: r.GetName(), YAML: y,
		})
	}
	if len(out) == 0 {
		t.Fatalf("kustomize %s: no objects", overlay)
	}
	return out
}
