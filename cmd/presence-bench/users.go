package main

import (
	"fmt"
	"strconv"
	"time"
)

// benchServerName is the domain of every user the harness makes. With it,
// user IDs are 24 bytes long ("@user0000042:example.org"), as in the
// projection's memory benchmark.
const benchServerName = "example.org"

func userID(i int) string { return fmt.Sprintf("@user%07d:%s", i, benchServerName) }

// presencePath is the client API path of a user's presence, with the ID
// escaped as Matrix clients escape it (encodeURIComponent).
func presencePath(i int) string {
	return fmt.Sprintf("/_matrix/client/v3/presence/%%40user%07d%%3A%s/status", i, benchServerName)
}

// service is one server measured by the load phases: where it listens and
// the access token to send as each user (a nil tokens list sends none).
type service struct {
	name     string
	addr     string
	paths    []string // per user
	tokens   []string // per user, the user's own token (for PUT)
	getToken string   // any valid token (for GET)
	// lastMsg is the last status message each user was given by a PUT
	// that was answered 200. Users are split among connections (user i
	// belongs to connection i mod conns), so each entry has one writer and
	// a user's PUTs are sent one after another.
	lastMsg []string
	// lastAt is when each user's last PUT was answered.
	lastAt []time.Time
	// procs are the processes that serve it (itself, its nats-server),
	// whose CPU time a load measures; empty when not started here.
	procs []*proc
}

func newService(name, addr string, users int, tokens []string, getToken string) *service {
	s := &service{name: name, addr: addr, paths: make([]string, users), tokens: tokens, getToken: getToken,
		lastMsg: make([]string, users), lastAt: make([]time.Time, users)}
	for i := range s.paths {
		s.paths[i] = presencePath(i)
	}
	return s
}

func (s *service) token(i int) string {
	if s.tokens == nil {
		return ""
	}
	return s.tokens[i]
}

func (s *service) users() int { return len(s.paths) }

// staticTokens returns the tokens file of users and each user's token.
func staticTokens(users int) (yaml []byte, tokens []string) {
	tokens = make([]string, users)
	yaml = make([]byte, 0, users*40)
	for i := range tokens {
		tokens[i] = "tok" + strconv.Itoa(i)
		yaml = fmt.Appendf(yaml, "%s: %q\n", tokens[i], userID(i))
	}
	return yaml, tokens
}
