package validate

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// repoRoot is presenced's module, three directories up.
const repoRoot = "../../.."

var (
	flagsOnce sync.Once
	flagNames map[string]bool
	flagsErr  string
)

// presencedFlags builds cmd/presenced and reads its flag names from -h, so
// the manifests are checked against the binary of this checkout.
func presencedFlags(t *testing.T) map[string]bool {
	t.Helper()
	flagsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "presenced-flags")
		if err != nil {
			flagsErr = err.Error()
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "presenced")
		build := exec.Command("go", "build", "-o", bin, "./cmd/presenced")
		build.Dir = repoRoot
		build.Env = append(os.Environ(), "GOWORK=off")
		if out, err := build.CombinedOutput(); err != nil {
			flagsErr = "go build ./cmd/presenced: " + err.Error() + "\n" + string(out)
			return
		}
		help := exec.Command(bin, "-h")
		help.Env = []string{} // no PRESENCE_* from the test's environment
		out, _ := help.CombinedOutput()
		flagNames = map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9][a-z0-9-]*)\b`).FindAllStringSubmatch(string(out), -1) {
			flagNames[m[1]] = true
		}
		if len(flagNames) < 10 {
			flagsErr = "presenced -h listed too few flags:\n" + string(out)
		}
	})
	if flagsErr != "" {
		t.Fatal(flagsErr)
	}
	return flagNames
}

// flagOf is the flag a PRESENCE_* variable sets (PRESENCE_IDLE_TIMEOUT ->
// idle-timeout).
func flagOf(envName string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(envName, "PRESENCE_")), "_", "-")
}

// Every PRESENCE_* variable the presenced container gets names a flag of
// the binary: presenced refuses to start on one that does not.
func TestEnvironmentNamesFlags(t *testing.T) {
	for _, overlay := range overlayNames(t) {
		t.Run(overlay, func(t *testing.T) {
			d := decodeOverlay(t, overlay)
			flags := presencedFlags(t)
			_, c := presencedContainer(t, d)
			for name := range env(d, c) {
				if strings.HasPrefix(name, "PRESENCE_") && !flags[flagOf(name)] {
					t.Errorf("%s: presenced has no flag --%s", name, flagOf(name))
				}
			}
		})
	}
}

// The listen addresses are the container's named ports, and the probes ask
// the listener that serves /healthz and /readyz (the metrics listener when
// there is one).
func TestListenersMatchPorts(t *testing.T) {
	for _, overlay := range overlayNames(t) {
		t.Run(overlay, func(t *testing.T) {
			d := decodeOverlay(t, overlay)
			_, c := presencedContainer(t, d)
			e := env(d, c)
			listeners := map[string]string{
				"PRESENCE_LISTEN":          "http",
				"PRESENCE_INTERNAL_LISTEN": "internal",
				"PRESENCE_METRICS_LISTEN":  "metrics",
			}
			ports := map[string]int32{}
			for variable, portName := range listeners {
				addr, set := e[variable]
				if !set {
					continue
				}
				_, p, err := net.SplitHostPort(addr)
				if err != nil {
					t.Errorf("%s=%q: %v", variable, addr, err)
					continue
				}
				n, _ := strconv.Atoi(p)
				want, ok := containerPort(c, portName)
				if !ok || int32(n) != want {
					t.Errorf("%s=%q, but container port %s is %d", variable, addr, portName, want)
				}
				ports[portName] = int32(n)
			}
			if _, ok := e["PRESENCE_INTERNAL_LISTEN"]; ok && e["PRESENCE_INTERNAL_SECRET_FILE"] == "" {
				t.Error("the internal listener is on without PRESENCE_INTERNAL_SECRET_FILE")
			}
			probePort, ok := ports["metrics"]
			if !ok {
				probePort = ports["http"]
			}
			for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
				if p == nil || p.HTTPGet == nil {
					t.Fatal("a probe of the presenced container is not an HTTP GET")
				}
			}
			for _, p := range []struct {
				name, path string
				port       string
			}{
				{"startupProbe", c.StartupProbe.HTTPGet.Path, c.StartupProbe.HTTPGet.Port.String()},
				{"readinessProbe", c.ReadinessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Port.String()},
				{"livenessProbe", c.LivenessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Port.String()},
			} {
				n, ok := containerPort(c, p.port)
				if !ok {
					n64, _ := strconv.Atoi(p.port)
					n = int32(n64)
				}
				if n != probePort {
					t.Errorf("%s asks port %s (%d); /healthz and /readyz are served on %d", p.name, p.port, n, probePort)
				}
			}
			if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.StartupProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
				t.Errorf("probes: startup %s, readiness %s, liveness %s; want /readyz, /readyz, /healthz",
					c.StartupProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
			}
			// The tokens and internal secret files are on mounted volumes.
			for _, variable := range []string{"PRESENCE_TOKENS_FILE", "PRESENCE_INTERNAL_SECRET_FILE", "PRESENCE_NATS_CREDS"} {
				path, set := e[variable]
				if !set || path == "" {
					continue
				}
				mounted := false
				for _, m := range c.VolumeMounts {
					mounted = mounted || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/")
				}
				if !mounted {
					t.Errorf("%s=%s is on no mounted volume", variable, path)
				}
			}
		})
	}
}
