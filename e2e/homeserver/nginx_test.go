//go:build homeserver

package homeserver_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// upstreamHeader is the response header the test's server block adds:
// nginx's $upstream_addr, the address of the server that answered. It is
// how the test tells presenced's answers from the homeserver's.
const upstreamHeader = "X-Test-Upstream-Addr"

// nobody is the user nginx runs as when the test runs as root.
const nobody = 65534

// startNginx runs Debian's nginx, unprivileged, in the foreground, with the
// shipped deploy/nginx/presenced.conf unchanged inside a server block on a
// free loopback port, and an upstreams.conf written for this run. It
// returns the front door's base URL.
func startNginx(t *testing.T, presencedAddr, internalAddr, homeserverAddr string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			t.Fatal("nginx is not installed (scripts/ci-homeserver.sh installs Debian's)")
		}
		bin = "/usr/sbin/nginx"
	}
	shipped, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "nginx", "presenced.conf"))
	if err != nil {
		t.Fatalf("the shipped nginx file: %v", err)
	}
	// Its own directory outside the test's temporary tree, so that nginx
	// running as nobody can reach it.
	dir, err := os.MkdirTemp("", "homeserver-e2e-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	listen := freeAddr(t)
	upstreams := fmt.Sprintf(`upstream presenced { server %s; keepalive 8; }
upstream presenced_internal { server %s; keepalive 8; }
upstream homeserver { server %s; keepalive 8; }
`, presencedAddr, internalAddr, homeserverAddr)
	main := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
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
        server_name localhost;
        add_header %[3]s $upstream_addr always;
        include %[1]s/presenced.conf;
    }
}
`, dir, listen, upstreamHeader)
	files := map[string][]byte{"presenced.conf": shipped, "upstreams.conf": []byte(upstreams), "nginx.conf": []byte(main)}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	command := func(extra ...string) *exec.Cmd {
		args := append([]string{"-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;"}, extra...)
		cmd := exec.Command(bin, args...)
		if os.Geteuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		}
		return cmd
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(dir, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := command("-t").CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	p := startProcess(t, "nginx", command())
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"error.log", "access.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, name))
				t.Logf("----- nginx %s -----\n%s", name, b)
			}
		}
	})
	eventually(t, 15*time.Second, "nginx listening", func() error {
		if err := p.alive(); err != nil {
			return err
		}
		c, err := net.Dial("tcp", listen)
		if err != nil {
			return err
		}
		return c.Close()
	})
	return "http://" + listen
}
