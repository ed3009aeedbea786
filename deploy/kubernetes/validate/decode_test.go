package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kinds maps "apiVersion kind" to the Go type the object must decode into.
// A kind missing here fails the test: add its type when an overlay uses it.
var kinds = map[string]func() any{
	"v1 Namespace":                            func() any { return &corev1.Namespace{} },
	"v1 ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"v1 ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"v1 Secret":                               func() any { return &corev1.Secret{} },
	"v1 Service":                              func() any { return &corev1.Service{} },
	"apps/v1 Deployment":                      func() any { return &appsv1.Deployment{} },
	"apps/v1 StatefulSet":                     func() any { return &appsv1.StatefulSet{} },
	"policy/v1 PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2 HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"monitoring.coreos.com/v1 ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1 PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// decodeStrict decodes one object into its Go type; an unknown or
// duplicated field is an error.
func decodeStrict(apiVersion, kind string, doc []byte) (any, error) {
	newObj, ok := kinds[apiVersion+" "+kind]
	if !ok {
		return nil, fmt.Errorf("no Go type for %s %s", apiVersion, kind)
	}
	// As the API server decodes: YAML to JSON without looking at the target
	// type (so 3 stays a number where a string is wanted), then JSON
	// case-sensitively, refusing unknown and duplicate fields.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	obj := newObj()
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(strict...); err != nil {
		return nil, err
	}
	return obj, nil
}

// decoded is an overlay's objects in their Go types.
type decoded struct {
	objects []object
	typed   map[string]any // by object.id()
}

func decodeOverlay(t *testing.T, overlay string) decoded {
	t.Helper()
	d := decoded{objects: render(t, overlay), typed: map[string]any{}}
	for _, o := range d.objects {
		obj, err := decodeStrict(o.APIVersion, o.Kind, o.YAML)
		if err != nil {
			t.Errorf("%s: %s: %v", overlay, o.id(), err)
			continue
		}
		d.typed[o.id()] = obj
	}
	if t.Failed() {
		t.FailNow()
	}
	return d
}

// Every object of every overlay decodes strictly.
func TestOverlaysDecodeStrictly(t *testing.T) {
	for _, overlay := range overlayNames(t) {
		t.Run(overlay, func(t *testing.T) {
			d := decodeOverlay(t, overlay)
			t.Logf("%d objects", len(d.typed))
		})
	}
}

// The files scripts/ci-kube.sh rendered with `kubectl kustomize` and applied
// to the API server (one <overlay>.yaml each in $PRESENCED_KUBE_RENDERED)
// decode strictly too, so the objects checked are the objects applied.
func TestRenderedFilesDecodeStrictly(t *testing.T) {
	dir := os.Getenv("PRESENCED_KUBE_RENDERED")
	if dir == "" {
		t.Skip("PRESENCED_KUBE_RENDERED not set (scripts/ci-kube.sh sets it)")
	}
	for _, overlay := range overlayNames(t) {
		t.Run(overlay, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, overlay+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want := len(render(t, overlay))
			r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
			n := 0
			for {
				doc, err := r.Read()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(bytes.TrimSpace(doc)) == 0 {
					continue
				}
				var head struct {
					APIVersion string `json:"apiVersion"`
					Kind       string `json:"kind"`
					Metadata   struct {
						Name string `json:"name"`
					} `json:"metadata"`
				}
				if err := yaml.Unmarshal(doc, &head); err != nil {
					t.Fatal(err)
				}
				if _, err := decodeStrict(head.APIVersion, head.Kind, doc); err != nil {
					t.Errorf("%s %s %s: %v", head.APIVersion, head.Kind, head.Metadata.Name, err)
				}
				n++
			}
			if n != want {
				t.Errorf("%d objects in the rendered file, %d from kustomize in-process", n, want)
			}
		})
	}
}

// The decoder refuses what it must refuse: a field the type lacks, a field
// at the wrong level, a value of the wrong type.
func TestDecodeStrictRefusesUnknownFields(t *testing.T) {
	bad := map[string]string{
		"unknown field": `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  replica: 3`,
		"field name in the wrong case": `
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  Replicas: 3`,
		"misplaced field": `
apiVersion: v1
kind: Service
metadata: {name: x}
spec:
  ports: [{port: 80}]
  readinessProbe: {}`,
		"wrong type": `
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data:
  PRESENCE_STREAM_REPLICAS: 3`,
		"unknown custom resource field": `
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: x}
spec:
  endpoints: [{port: metrics, intervall: 15s}]`,
		"duplicate field": `
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
data:
  A: "1"
  A: "2"`,
	}
	for name, doc := range bad {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := decodeStrict(head.APIVersion, head.Kind, []byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
