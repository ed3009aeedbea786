package validate

import (
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// all returns the overlay's objects of type T.
func all[T any](d decoded) []T {
	var out []T
	for _, o := range d.objects {
		if v, ok := d.typed[o.id()].(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// workload is a Deployment or StatefulSet: a name and a pod template.
type workload struct {
	kind, name string
	replicas   int32
	template   corev1.PodTemplateSpec
}

func workloads(d decoded) []workload {
	var out []workload
	for _, w := range all[*appsv1.Deployment](d) {
		out = append(out, workload{"Deployment", w.Name, deref(w.Spec.Replicas, 1), w.Spec.Template})
	}
	for _, w := range all[*appsv1.StatefulSet](d) {
		out = append(out, workload{"StatefulSet", w.Name, deref(w.Spec.Replicas, 1), w.Spec.Template})
	}
	return out
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func configMap(d decoded, name string) *corev1.ConfigMap {
	for _, c := range all[*corev1.ConfigMap](d) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func secret(d decoded, name string) *corev1.Secret {
	for _, s := range all[*corev1.Secret](d) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func deployment(t *testing.T, d decoded, name string) *appsv1.Deployment {
	t.Helper()
	for _, w := range all[*appsv1.Deployment](d) {
		if w.Name == name {
			return w
		}
	}
	t.Fatalf("no Deployment %s", name)
	return nil
}

func statefulSet(d decoded, name string) *appsv1.StatefulSet {
	for _, w := range all[*appsv1.StatefulSet](d) {
		if w.Name == name {
			return w
		}
	}
	return nil
}

func hpas(d decoded) []*autoscalingv2.HorizontalPodAutoscaler {
	return all[*autoscalingv2.HorizontalPodAutoscaler](d)
}

func pdbs(d decoded) []*policyv1.PodDisruptionBudget { return all[*policyv1.PodDisruptionBudget](d) }

func services(d decoded) []*corev1.Service { return all[*corev1.Service](d) }

func serviceMonitors(d decoded) []*monitoringv1.ServiceMonitor {
	return all[*monitoringv1.ServiceMonitor](d)
}

// selects reports whether a label selector matches a pod template's labels.
func selectorOf(m map[string]string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: m}
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// env is a container's environment: its literal env entries and the data of
// the ConfigMaps it takes whole, as the kubelet merges them (env wins).
func env(d decoded, c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			if cm := configMap(d, from.ConfigMapRef.Name); cm != nil {
				for k, v := range cm.Data {
					out[from.Prefix+k] = v
				}
			}
		}
	}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

// containerPort finds a container's port by name.
func containerPort(c corev1.Container, name string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// presencedContainer is the container named presenced of the Deployment
// named presenced.
func presencedContainer(t *testing.T, d decoded) (*appsv1.Deployment, corev1.Container) {
	t.Helper()
	dep := deployment(t, d, "presenced")
	for _, c := range dep.Spec.Template.Spec.Containers {
		if c.Name == "presenced" {
			return dep, c
		}
	}
	t.Fatal("Deployment presenced has no container presenced")
	return nil, corev1.Container{}
}

func hasPrefixAny(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
