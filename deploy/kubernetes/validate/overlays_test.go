package validate

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// dev: one node with its embedded NATS server on an emptyDir; nothing that
// needs a volume provisioner, a NATS cluster or an autoscaler.
func TestDevRunsOneEmbeddedNode(t *testing.T) {
	d := decodeOverlay(t, "dev")
	dep, c := presencedContainer(t, d)
	if got := deref(dep.Spec.Replicas, 1); got != 1 {
		t.Errorf("replicas = %d, want 1", got)
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %s, want Recreate: two pods would hold two separate embedded stores", dep.Spec.Strategy.Type)
	}
	if n := len(all[*appsv1.StatefulSet](d)); n != 0 {
		t.Errorf("%d StatefulSets, want none", n)
	}
	if n := len(hpas(d)); n != 0 {
		t.Errorf("%d HorizontalPodAutoscalers, want none", n)
	}
	e := env(d, c)
	for _, name := range []string{"PRESENCE_NATS_URL", "PRESENCE_NATS_USER", "PRESENCE_NATS_PASSWORD", "PRESENCE_NATS_CREDS"} {
		if _, ok := e[name]; ok {
			t.Errorf("%s is set: the node would not embed its NATS server", name)
		}
	}
	if r := e["PRESENCE_STREAM_REPLICAS"]; r != "" && r != "1" {
		t.Errorf("PRESENCE_STREAM_REPLICAS=%s on a single embedded server", r)
	}
	dataDir := e["PRESENCE_DATA_DIR"]
	if dataDir == "" {
		t.Fatal("PRESENCE_DATA_DIR is not set")
	}
	mount := ""
	for _, m := range c.VolumeMounts {
		if m.MountPath == dataDir {
			mount = m.Name
		}
	}
	if mount == "" {
		t.Fatalf("nothing is mounted at %s, and the root filesystem is read-only", dataDir)
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == mount && v.EmptyDir == nil {
			t.Errorf("volume %s at %s is not an emptyDir", mount, dataDir)
		}
	}
}

// production: at least three nodes on the three-server NATS StatefulSet,
// one stream replica per server, and every piece wired to the others: the
// nodes' NATS URL names the client Service, the routes name every server of
// the StatefulSet through its headless Service, each server has a volume.
func TestProductionRunsOnNATSCluster(t *testing.T) {
	d := decodeOverlay(t, "production")
	dep, c := presencedContainer(t, d)
	// The node count: the autoscaler's minimum when one scales the
	// Deployment (which then sets no replicas, so that an apply does not
	// undo the autoscaler), else the Deployment's replicas.
	nodes := deref(dep.Spec.Replicas, 1)
	for _, h := range hpas(d) {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == dep.Name {
			nodes = deref(h.Spec.MinReplicas, 1)
			if dep.Spec.Replicas != nil {
				t.Errorf("Deployment %s sets replicas although HorizontalPodAutoscaler %s scales it", dep.Name, h.Name)
			}
		}
	}
	if nodes < 3 {
		t.Errorf("%d presence nodes, want 3 or more", nodes)
	}
	if len(pdbs(d)) < 2 {
		t.Errorf("%d PodDisruptionBudgets, want one for the nodes and one for NATS", len(pdbs(d)))
	}

	sts := statefulSet(d, "nats")
	if sts == nil {
		t.Fatal("no StatefulSet nats")
	}
	servers := deref(sts.Spec.Replicas, 1)
	if servers < 3 {
		t.Errorf("NATS servers = %d, want 3", servers)
	}
	e := env(d, c)
	if e["PRESENCE_STREAM_REPLICAS"] != strconv.Itoa(int(servers)) {
		t.Errorf("PRESENCE_STREAM_REPLICAS=%q, want %d (one per NATS server)", e["PRESENCE_STREAM_REPLICAS"], servers)
	}

	// The client URL names a Service of the overlay that selects the NATS
	// servers on their client port.
	u, err := url.Parse(e["PRESENCE_NATS_URL"])
	if err != nil || u.Scheme != "nats" {
		t.Fatalf("PRESENCE_NATS_URL=%q: want nats://<service>:<port>", e["PRESENCE_NATS_URL"])
	}
	svc := serviceNamed(d, u.Hostname())
	if svc == nil {
		t.Fatalf("PRESENCE_NATS_URL names %s, which is no Service of the overlay", u.Hostname())
	}
	if !selects(t, selectorOf(svc.Spec.Selector), sts.Spec.Template.Labels) {
		t.Errorf("Service %s does not select the NATS servers", svc.Name)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == u.Port() }) {
		t.Errorf("Service %s has no port %s", svc.Name, u.Port())
	}

	// The routes: one per server, by its stable name in the headless Service.
	headless := serviceNamed(d, sts.Spec.ServiceName)
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("serviceName %s is not a headless Service of the overlay", sts.Spec.ServiceName)
	}
	if !headless.Spec.PublishNotReadyAddresses {
		t.Error("the headless Service does not publish servers before they are ready: a new cluster never forms")
	}
	conf := natsConfig(t, d, sts)
	var want []string
	for i := range servers {
		want = append(want, fmt.Sprintf("nats://%s-%d.%s:6222", sts.Name, i, headless.Name))
	}
	got := regexp.MustCompile(`nats://[a-z0-9.-]+:6222`).FindAllString(conf, -1)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("cluster routes %v, want %v", got, want)
	}
	// nats-server reads the file where the ConfigMap is mounted.
	configPath := ""
	for _, ctr := range sts.Spec.Template.Spec.Containers {
		for i, a := range ctr.Args {
			if (a == "--config" || a == "-c") && i+1 < len(ctr.Args) {
				configPath = ctr.Args[i+1]
			}
		}
		for _, m := range ctr.VolumeMounts {
			for _, v := range sts.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil && path.Join(m.MountPath, "nats-server.conf") == configPath {
					configPath = ""
				}
			}
		}
	}
	if configPath != "" {
		t.Errorf("nats-server reads %s, where no ConfigMap with nats-server.conf is mounted", configPath)
	}
	storeDir := regexp.MustCompile(`store_dir:\s*(\S+)`).FindStringSubmatch(conf)
	if storeDir == nil {
		t.Fatal("nats-server.conf sets no JetStream store_dir")
	}
	claimed := false
	for _, ctr := range sts.Spec.Template.Spec.Containers {
		for _, m := range ctr.VolumeMounts {
			for _, pvc := range sts.Spec.VolumeClaimTemplates {
				claimed = claimed || (m.Name == pvc.Name && m.MountPath == storeDir[1])
			}
		}
	}
	if !claimed {
		t.Errorf("the JetStream store %s is not on a volumeClaimTemplate", storeDir[1])
	}
}

func serviceNamed(d decoded, name string) *corev1.Service {
	for _, s := range services(d) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// natsConfig is the nats-server.conf of the ConfigMap the StatefulSet mounts.
func natsConfig(t *testing.T, d decoded, sts *appsv1.StatefulSet) string {
	t.Helper()
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		if cm := configMap(d, v.ConfigMap.Name); cm != nil {
			if conf, ok := cm.Data["nats-server.conf"]; ok {
				return conf
			}
		}
	}
	t.Fatal("the NATS StatefulSet mounts no ConfigMap with nats-server.conf")
	return ""
}
