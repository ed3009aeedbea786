package node

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/presenced/presenced/events"
)

// StaticTokens accepts the tokens of a YAML file that maps token to user ID.
// It is meant for development and for fleets that provision tokens
// themselves. Tokens are kept only as SHA-256 digests.
type StaticTokens struct {
	path   string
	tokens atomic.Pointer[map[[32]byte]string]
}

// LoadStaticTokens reads the tokens file at path.
func LoadStaticTokens(path string) (*StaticTokens, error) {
	s := &StaticTokens{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// NewStaticTokens accepts the tokens of m (token → user ID).
func NewStaticTokens(m map[string]string) (*StaticTokens, error) {
	s := &StaticTokens{}
	t, err := hashTokens(m)
	if err != nil {
		return nil, err
	}
	s.tokens.Store(&t)
	return s, nil
}

// Reload reads the file again. On error the previous tokens stay in force.
func (s *StaticTokens) Reload() error {
	raw, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	var m map[string]string
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("tokens file %s: %w", s.path, err)
	}
	t, err := hashTokens(m)
	if err != nil {
		return fmt.Errorf("tokens file %s: %w", s.path, err)
	}
	s.tokens.Store(&t)
	return nil
}

func hashTokens(m map[string]string) (map[[32]byte]string, error) {
	t := make(map[[32]byte]string, len(m))
	for tok, user := range m {
		if tok == "" {
			return nil, fmt.Errorf("empty token for %s", user)
		}
		if err := events.ValidateUserID(user); err != nil {
			return nil, fmt.Errorf("user %q: %v", user, err)
		}
		t[sha256.Sum256([]byte(tok))] = user
	}
	return t, nil
}

// Authenticate implements Authenticator.
func (s *StaticTokens) Authenticate(_ context.Context, token string) (string, error) {
	if user, ok := (*s.tokens.Load())[sha256.Sum256([]byte(token))]; ok {
		return user, nil
	}
	return "", Errorf(KindUnknownToken, "Unrecognised access token")
}
