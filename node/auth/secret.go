package auth

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/presenced/presenced/node/apierr"
)

// minSecretBytes is the shortest shared secret accepted: the internal API
// can write anyone's presence, so a guessable secret is refused at start.
const minSecretBytes = 16

// Secret is the shared secret of the internal API, read from a file. The
// file holds the secret alone (surrounding white space is ignored). Reload
// rereads it, so that an operator can rotate it with SIGHUP; a reload that
// fails keeps the secret in force.
type Secret struct {
	path string
	v    atomic.Pointer[[]byte]
}

// LoadSecret reads the secret of path.
func LoadSecret(path string) (*Secret, error) {
	s := &Secret{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload rereads the file.
func (s *Secret) Reload() error {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("internal secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) < minSecretBytes:
		return fmt.Errorf("internal secret %s: shorter than %d bytes", s.path, minSecretBytes)
	case bytes.ContainsAny(b, " \t\r\n"):
		return fmt.Errorf("internal secret %s: holds white space (one secret per file)", s.path)
	}
	s.v.Store(&b)
	return nil
}

// Check compares a presented bearer token with the secret in constant time
// (for a given length), so that the answer time does not leak it. None is
// KindMissingToken, another KindUnknownToken.
func (s *Secret) Check(presented string) error {
	if presented == "" {
		return apierr.Errorf(apierr.KindMissingToken, "Missing internal secret")
	}
	want := *s.v.Load()
	if subtle.ConstantTimeCompare([]byte(presented), want) != 1 {
		return apierr.Errorf(apierr.KindUnknownToken, "Wrong internal secret")
	}
	return nil
}
