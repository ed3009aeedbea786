package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/presenced/presenced/events"
)

// StaticTokens accepts the tokens of a YAML file that maps token to user ID.
// It is meant for development and for fleets that provision tokens
// themselves. Tokens are kept only as SHA-256 digests.
type StaticTokens struct {
	path   string
	tokens atomic.Pointer[map[[32]byte]string]
	// loaded identifies the version of the file the tokens came from.
	loaded atomic.Pointer[stamp]
	// reloadEvery and log are what Run watches the file with (set by New
	// from the configuration).
	reloadEvery time.Duration
	log         *slog.Logger
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
	// Stamped before reading: a change during the read is seen as a change.
	st := fileStamp(s.path)
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
	s.loaded.Store(&st)
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

// Authenticate implements Authenticator. Static tokens name no device.
func (s *StaticTokens) Authenticate(_ context.Context, token string) (Requester, error) {
	if r, ok := s.Known(token); ok {
		return r, nil
	}
	return Requester{}, errUnknownToken()
}

// Known implements Known: every static token is known.
func (s *StaticTokens) Known(token string) (Requester, bool) {
	user, ok := (*s.tokens.Load())[sha256.Sum256([]byte(token))]
	return Requester{UserID: user}, ok
}

// Run implements Runner: a tokens file is watched (see Watch) at the
// interval New was configured with; tokens given in memory have nothing to
// watch.
func (s *StaticTokens) Run(ctx context.Context, reload <-chan os.Signal) {
	if s.path == "" {
		return
	}
	s.Watch(ctx, s.reloadEvery, reload, s.log)
}

// Watch reloads the tokens file whenever reload receives (SIGHUP) and, when
// every is positive, whenever the file's modification time or size changes
// (checked every interval; a file replaced by renaming, as configuration
// mounts do, counts as changed). A file that cannot be read or parsed leaves
// the previous tokens in force and is retried at the next change. Watch
// returns when ctx ends; its caller owns it.
func (s *StaticTokens) Watch(ctx context.Context, every time.Duration, reload <-chan os.Signal, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	var last stamp
	if st := s.loaded.Load(); st != nil {
		last = *st
	}
	load := func(why string) {
		if err := s.Reload(); err != nil {
			log.Error("tokens file not reloaded; previous tokens stay in force", "why", why, "err", err)
			return
		}
		log.Info("tokens file reloaded", "why", why, "tokens", s.Len())
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			last = fileStamp(s.path)
			load("signal")
		case <-tick:
			if st := fileStamp(s.path); st != last {
				last = st
				load("file changed")
			}
		}
	}
}

// Len is the number of tokens in force.
func (s *StaticTokens) Len() int { return len(*s.tokens.Load()) }

// stamp identifies a version of a file well enough to notice a change.
type stamp struct {
	mod  int64
	size int64
	ok   bool
}

func fileStamp(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{mod: fi.ModTime().UnixNano(), size: fi.Size(), ok: true}
}
