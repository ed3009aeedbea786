//go:build ops

package opstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// presencedBin is the presenced binary built once for all tests.
var presencedBin string

// repoRoot is the repository's top directory.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	dir, err := os.MkdirTemp("", "opstest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	presencedBin = filepath.Join(dir, "presenced")
	build := exec.Command("go", "build", "-o", presencedBin, "./cmd/presenced")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/presenced: %v\n", err)
		return 1
	}
	return m.Run()
}

// tool finds a program on PATH or in the sbin directories (Debian installs
// nginx in /usr/sbin, which a non-root PATH often lacks). A missing program
// fails the test: scripts/ci-ops.sh installs them.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed (scripts/ci-ops.sh installs the Debian package)", name)
	return ""
}
