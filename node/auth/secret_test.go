package auth_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/presenced/presenced/node/apierr"
	"github.com/presenced/presenced/node/auth"
)

func kindIs(err error, k apierr.Kind) bool {
	got, ok := apierr.KindOf(err)
	return ok && got == k
}

func writeSecret(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSecretCheckAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	writeSecret(t, path, "  first-secret-0123456789\n")
	s, err := auth.LoadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check("first-secret-0123456789"); err != nil {
		t.Fatalf("right secret: %v", err)
	}
	if err := s.Check(""); !kindIs(err, apierr.KindMissingToken) {
		t.Fatalf("no secret: %v", err)
	}
	if err := s.Check("first-secret-012345678"); !kindIs(err, apierr.KindUnknownToken) {
		t.Fatalf("prefix of the secret: %v", err)
	}
	writeSecret(t, path, "second-secret-0123456789")
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := s.Check("first-secret-0123456789"); !kindIs(err, apierr.KindUnknownToken) {
		t.Fatalf("old secret after rotation: %v", err)
	}
	if err := s.Check("second-secret-0123456789"); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	writeSecret(t, path, "short")
	if err := s.Reload(); err == nil {
		t.Fatal("a short secret was accepted")
	}
	if err := s.Check("second-secret-0123456789"); err != nil {
		t.Fatalf("a failed reload dropped the secret in force: %v", err)
	}
}

func TestLoadSecretRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := auth.LoadSecret(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file was accepted")
	}
	path := filepath.Join(dir, "two")
	writeSecret(t, path, "one-secret-0123456789 another-secret-0123456789")
	if _, err := auth.LoadSecret(path); err == nil {
		t.Fatal("a file with two secrets was accepted")
	}
}
