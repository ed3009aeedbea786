package validate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Every name an object refers to exists in the same overlay: ConfigMaps,
// Secrets and their keys, the service account, the ports that probes and
// Services name; every selector selects pods; the autoscaler's and the
// ServiceMonitor's targets exist. kubectl --dry-run=server checks none of
// this.
func TestReferencesResolve(t *testing.T) {
	for _, overlay := range overlayNames(t) {
		t.Run(overlay, func(t *testing.T) {
			d := decodeOverlay(t, overlay)
			for _, w := range workloads(d) {
				checkPodReferences(t, d, w)
			}
			for _, s := range services(d) {
				checkService(t, d, s)
			}
			for _, p := range pdbs(d) {
				if !selectsAnyPod(t, d, p.Spec.Selector.MatchLabels) {
					t.Errorf("PodDisruptionBudget %s selects no pods", p.Name)
				}
			}
			for _, h := range hpas(d) {
				ref := h.Spec.ScaleTargetRef
				found := false
				for _, w := range workloads(d) {
					found = found || (w.kind == ref.Kind && w.name == ref.Name)
				}
				if !found {
					t.Errorf("HorizontalPodAutoscaler %s scales %s %s, which is not in the overlay", h.Name, ref.Kind, ref.Name)
				}
			}
			for _, sm := range serviceMonitors(d) {
				for _, ep := range sm.Spec.Endpoints {
					found := false
					for _, s := range services(d) {
						if !selects(t, &sm.Spec.Selector, s.Labels) {
							continue
						}
						for _, p := range s.Spec.Ports {
							found = found || p.Name == ep.Port
						}
					}
					if !found {
						t.Errorf("ServiceMonitor %s: no selected Service has a port named %q", sm.Name, ep.Port)
					}
				}
			}
		})
	}
}

func checkPodReferences(t *testing.T, d decoded, w workload) {
	t.Helper()
	spec := w.template.Spec
	where := w.kind + " " + w.name
	if sa := spec.ServiceAccountName; sa != "" {
		found := false
		for _, s := range all[*corev1.ServiceAccount](d) {
			found = found || s.Name == sa
		}
		if !found {
			t.Errorf("%s: ServiceAccount %s is not in the overlay", where, sa)
		}
	}
	volumes := map[string]bool{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
		switch {
		case v.Secret != nil && secret(d, v.Secret.SecretName) == nil:
			t.Errorf("%s: volume %s: Secret %s is not in the overlay", where, v.Name, v.Secret.SecretName)
		case v.ConfigMap != nil && configMap(d, v.ConfigMap.Name) == nil:
			t.Errorf("%s: volume %s: ConfigMap %s is not in the overlay", where, v.Name, v.ConfigMap.Name)
		}
	}
	if w.kind == "StatefulSet" {
		if sts := statefulSet(d, w.name); sts != nil {
			for _, c := range sts.Spec.VolumeClaimTemplates {
				volumes[c.Name] = true
			}
		}
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		where := where + " container " + c.Name
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				t.Errorf("%s: mounts %s, which is no volume of the pod", where, m.Name)
			}
		}
		for _, from := range c.EnvFrom {
			if from.ConfigMapRef != nil && configMap(d, from.ConfigMapRef.Name) == nil {
				t.Errorf("%s: envFrom ConfigMap %s is not in the overlay", where, from.ConfigMapRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			s := secret(d, ref.Name)
			if s == nil {
				t.Errorf("%s: %s: Secret %s is not in the overlay", where, e.Name, ref.Name)
				continue
			}
			_, inData := s.Data[ref.Key]
			_, inString := s.StringData[ref.Key]
			if !inData && !inString {
				t.Errorf("%s: %s: Secret %s has no key %s", where, e.Name, ref.Name, ref.Key)
			}
		}
		for name, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
			if p == nil {
				t.Errorf("%s: no %s", where, name)
				continue
			}
			if p.HTTPGet != nil && p.HTTPGet.Port.Type == intstr.String {
				if _, ok := containerPort(c, p.HTTPGet.Port.StrVal); !ok {
					t.Errorf("%s: %s names port %s, which the container lacks", where, name, p.HTTPGet.Port.StrVal)
				}
			}
		}
	}
}

func checkService(t *testing.T, d decoded, s *corev1.Service) {
	t.Helper()
	var pods []corev1.PodTemplateSpec
	for _, w := range workloads(d) {
		if len(s.Spec.Selector) > 0 && selects(t, selectorOf(s.Spec.Selector), w.template.Labels) {
			pods = append(pods, w.template)
		}
	}
	if len(pods) == 0 {
		t.Errorf("Service %s selects no pods", s.Name)
		return
	}
	for _, p := range s.Spec.Ports {
		if p.TargetPort.Type != intstr.String {
			continue
		}
		for _, pod := range pods {
			found := false
			for _, c := range pod.Spec.Containers {
				_, ok := containerPort(c, p.TargetPort.StrVal)
				found = found || ok
			}
			if !found {
				t.Errorf("Service %s: port %s targets %s, which no container of its pods names", s.Name, p.Name, p.TargetPort.StrVal)
			}
		}
	}
}

func selectsAnyPod(t *testing.T, d decoded, matchLabels map[string]string) bool {
	for _, w := range workloads(d) {
		if selects(t, selectorOf(matchLabels), w.template.Labels) {
			return true
		}
	}
	return false
}
