//go:build ops

package opstest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startNginx runs Debian's nginx, unprivileged, with the shipped
// deploy/nginx/presenced.conf in a server block on a free loopback port
// and an upstreams.conf that points the three upstreams at the given
// addresses. Everything nginx writes (pid file, logs, temporary files)
// goes to a directory of its own.
func startNginx(t *testing.T, presenced, internal, homeserver string) string {
	t.Helper()
	bin := tool(t, "nginx")
	dir, err := os.MkdirTemp("", "opstest-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	shipped, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "nginx", "presenced.conf"))
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	upstreams := fmt.Sprintf(`upstream presenced { server %s; keepalive 8; }
upstream presenced_internal { server %s; keepalive 8; }
upstream homeserver { server %s; keepalive 8; }
`, presenced, internal, homeserver)
	main := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 128; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/upstreams.conf;
    server {
        listen %[2]s;
        include %[1]s/presenced.conf;
    }
}
`, dir, addr)
	for name, content := range map[string]string{"presenced.conf": string(shipped), "upstreams.conf": upstreams, "nginx.conf": main} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;"}
	cmd := func(extra ...string) *exec.Cmd {
		c := exec.Command(bin, append(append([]string(nil), args...), extra...)...)
		if os.Geteuid() == 0 {
			// As root, run as nobody: the test needs no privilege.
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	if out, err := cmd("-t").CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	p := startCmd(t, "nginx", cmd())
	waitFor(t, 15*time.Second, "nginx listening", func() error {
		if !p.running() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited:\n%s\n%s", p.out.String(), log)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	return "http://" + addr
}

// TestNginxRoutes runs the shipped nginx configuration in front of a real
// node, a stand-in homeserver and a stand-in of presenced's internal
// listener (the target of the /sync copy), and checks the routes.
func TestNginxRoutes(t *testing.T) {
	hs := startStandIn(t, nil)
	// The /sync copy's target holds each copy until the test has had the
	// client's answer: if nginx waited for the copy, the client would not
	// get one.
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	mirror := startStandIn(t, func(r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	node := startNode(t, "nginx-node",
		"--tokens-file", writeTokens(t, staticTokens(2)),
		"--real-ip-header", "X-Forwarded-For",
		"--ratelimit-auth-failures-burst", "2", "--ratelimit-auth-failures-per-second", "0.001")
	front := startNginx(t, node.addr, strings.TrimPrefix(mirror.url, "http://"), strings.TrimPrefix(hs.url, "http://"))

	t.Run("presence routes reach presenced", func(t *testing.T) {
		call(t, "PUT", front+presencePath("v3", user(0)), "token-0", `{"presence":"online","status_msg":"via nginx"}`, nil).
			want(t, 200, "PUT through nginx")
		for _, v := range []string{"v3", "r0"} {
			a := call(t, "GET", front+presencePath(v, user(0)), "token-1", "", nil).want(t, 200, "GET "+v+" through nginx")
			if !strings.Contains(a.body, `"status_msg":"via nginx"`) {
				t.Errorf("GET %s through nginx: %s, want the state just PUT", v, a.body)
			}
		}
		// presenced answers these versions itself (M_UNRECOGNIZED or a state);
		// what matters is that the homeserver never sees them.
		for _, v := range []string{"api/v1", "unstable"} {
			call(t, "GET", front+presencePath(v, user(0)), "token-1", "", nil)
		}
		if n := hs.count("/_matrix/client/"); n != 0 {
			t.Errorf("the homeserver received %d presence requests: %+v", n, hs.requests())
		}
	})

	t.Run("everything else reaches the homeserver", func(t *testing.T) {
		for _, uri := range []string{
			"/_matrix/client/v3/rooms/%21room%3Alocalhost/messages?dir=b&limit=10",
			"/_matrix/client/v3/presencelist/x",
			"/_matrix/client/v3/profile/%40user0%3Alocalhost",
			"/metrics", "/readyz", // the node's own endpoints are not exposed through the proxy
			"/_matrix/federation/v1/version",
		} {
			before := hs.count(uri)
			a := call(t, "GET", front+uri, "token-0", "", map[string]string{"X-Forwarded-For": "10.1.2.3"}).want(t, 200, uri)
			if !strings.Contains(a.body, "stand-in homeserver") || hs.count(uri) != before+1 {
				t.Fatalf("GET %s through nginx: %s; the homeserver saw it %d times", uri, a.body, hs.count(uri)-before)
			}
		}
		last := hs.requests()[len(hs.requests())-1]
		if got := last.Header.Get("X-Forwarded-For"); got != "10.1.2.3, 127.0.0.1" {
			t.Errorf("X-Forwarded-For at the homeserver: %q, want the client's header with nginx's peer appended", got)
		}
		if got := last.Header.Get("Authorization"); got != "Bearer token-0" {
			t.Errorf("Authorization at the homeserver: %q", got)
		}
	})

	t.Run("X-Forwarded-For keys rate limits by the address nginx appends", func(t *testing.T) {
		// Straight to the node, three spoofed addresses are three buckets
		// (burst 2): no 429, which shows the node reads the header.
		for i := range 3 {
			call(t, "GET", node.url+presencePath("v3", user(0)), "bad-token", "", map[string]string{"X-Forwarded-For": fmt.Sprintf("192.0.2.%d", i)}).
				want(t, 401, "unknown token straight to the node")
		}
		// Through nginx the last address is nginx's peer whatever the client
		// sends: the third failure is refused.
		codes := []int{}
		for i := range 3 {
			a := call(t, "GET", front+presencePath("v3", user(0)), "bad-token", "", map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)})
			codes = append(codes, a.status)
		}
		if codes[0] != 401 || codes[1] != 401 || codes[2] != 429 {
			t.Errorf("unknown tokens through nginx with spoofed X-Forwarded-For answered %v, want [401 401 429]", codes)
		}
	})

	t.Run("sync reaches the homeserver and a copy goes to presenced", func(t *testing.T) {
		for _, v := range []string{"v3", "r0"} {
			query := "since=s1&timeout=0&set_presence=unavailable&filter=%7B%7D"
			uri := "/_matrix/client/" + v + "/sync?" + query
			before := mirror.count("/")
			// For v3 the copy's target is still holding: the answer must come
			// anyway. (The client's next request on the same keep-alive
			// connection waits for the copy, so the hold ends after v3.)
			a := call(t, "GET", front+uri, "token-0", "", nil).want(t, 200, "sync through nginx")
			if !strings.Contains(a.body, `"next_batch":"s2"`) {
				t.Fatalf("sync through nginx: %s", a.body)
			}
			found := false
			for _, r := range hs.requests() {
				if r.RequestURI == uri && r.Method == "GET" && r.Header.Get("Authorization") == "Bearer token-0" {
					found = true
				}
			}
			if !found {
				t.Fatalf("the homeserver did not receive GET %s with the Authorization header", uri)
			}
			waitFor(t, 10*time.Second, "the /sync copy at presenced_internal", func() error {
				if mirror.count("/") == before {
					return fmt.Errorf("no copy yet")
				}
				return nil
			})
			got := mirror.requests()[before]
			if got.Method != "GET" || got.RequestURI != "/_presence/v1/mirror/sync?"+query ||
				got.Header.Get("Authorization") != "Bearer token-0" || got.Body != "" {
				t.Errorf("the /sync copy: %s %s Authorization=%q body=%q; want GET /_presence/v1/mirror/sync?%s with the client's Authorization and no body",
					got.Method, got.RequestURI, got.Header.Get("Authorization"), got.Body, query)
			}
			releaseOnce.Do(func() { close(release) })
		}

		// With the copy's target gone, sync still works.
		_ = mirror.srv.Close()
		call(t, "GET", front+"/_matrix/client/v3/sync?timeout=0", "token-0", "", nil).want(t, 200, "sync while presenced_internal is down")
	})
}
