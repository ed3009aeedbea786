package validate

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Every pod of every overlay runs as a non-root user with the runtime's
// seccomp profile, no service account token, and containers that cannot
// write their root filesystem, gain privileges or keep any capability.
func TestPodsAreHardened(t *testing.T) {
	for _, overlay := range overlayNames(t) {
		t.Run(overlay, func(t *testing.T) {
			d := decodeOverlay(t, overlay)
			for _, w := range workloads(d) {
				spec := w.template.Spec
				where := w.kind + " " + w.name
				if deref(spec.AutomountServiceAccountToken, true) {
					t.Errorf("%s: mounts a service account token", where)
				}
				psc := spec.SecurityContext
				if psc == nil || !deref(psc.RunAsNonRoot, false) {
					t.Errorf("%s: runAsNonRoot is not set", where)
				}
				if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s: seccomp profile is not RuntimeDefault", where)
				}
				if spec.HostNetwork || spec.HostPID || spec.HostIPC {
					t.Errorf("%s: shares a host namespace", where)
				}
				for _, c := range append(spec.InitContainers, spec.Containers...) {
					where := where + " container " + c.Name
					sc := c.SecurityContext
					if sc == nil {
						t.Errorf("%s: no securityContext", where)
						continue
					}
					if deref(sc.AllowPrivilegeEscalation, true) {
						t.Errorf("%s: allowPrivilegeEscalation is not false", where)
					}
					if !deref(sc.ReadOnlyRootFilesystem, false) {
						t.Errorf("%s: readOnlyRootFilesystem is not true", where)
					}
					if deref(sc.Privileged, false) {
						t.Errorf("%s: privileged", where)
					}
					if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
						t.Errorf("%s: capabilities are not drop ALL, add none", where)
					}
					for _, v := range spec.Volumes {
						if v.HostPath != nil {
							t.Errorf("%s: hostPath volume %s", where, v.Name)
						}
					}
				}
			}
		})
	}
}
