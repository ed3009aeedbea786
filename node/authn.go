package node

import (
	"context"

	"github.com/presenced/presenced/node/auth"
	"github.com/presenced/presenced/node/httpapi"
)

// authAdapter gives node/httpapi the authenticator in its own terms: the
// two packages do not import each other, and their Requester types have the
// same shape, so the conversion costs nothing.
type authAdapter struct {
	a     auth.Authenticator
	known auth.Known // nil when a has no memory of good tokens
}

func newAuthAdapter(a auth.Authenticator) authAdapter {
	k, _ := a.(auth.Known)
	return authAdapter{a: a, known: k}
}

func (x authAdapter) Authenticate(ctx context.Context, token string) (httpapi.Requester, error) {
	r, err := x.a.Authenticate(ctx, token)
	return httpapi.Requester(r), err
}

func (x authAdapter) Known(token string) (httpapi.Requester, bool) {
	if x.known == nil {
		return httpapi.Requester{}, false
	}
	r, ok := x.known.Known(token)
	return httpapi.Requester(r), ok
}
