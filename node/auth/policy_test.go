package auth_test

import (
	"context"
	"testing"

	"github.com/presenced/presenced/node/apierr"
	"github.com/presenced/presenced/node/auth"
)

// TestPolicy: each visibility setting refuses exactly what it says, with
// KindForbidden, and only users of our server may be written.
func TestPolicy(t *testing.T) {
	const ours, theirs, other = "@alice:example.org", "@eve:elsewhere.test", "@bob:example.org"
	cases := []struct {
		visibility        string
		requester, target string
		allowed           bool
	}{
		{auth.VisibilityAuthenticated, theirs, ours, true},
		{"", theirs, ours, true},
		{auth.VisibilitySameServer, theirs, ours, false},
		{auth.VisibilitySameServer, other, ours, true},
		{auth.VisibilitySelf, other, ours, false},
		{auth.VisibilitySelf, ours, ours, true},
	}
	for _, c := range cases {
		err := auth.Policy{ServerName: "example.org", Visibility: c.visibility}.CheckVisible(c.requester, c.target)
		if k, _ := apierr.KindOf(err); c.allowed != (err == nil) || (err != nil && k != apierr.KindForbidden) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	p := auth.Policy{ServerName: "example.org"}
	if err := p.CheckOwnServer(ours); err != nil {
		t.Errorf("own user: %v", err)
	}
	if k, _ := apierr.KindOf(p.CheckOwnServer(theirs)); k != apierr.KindForbidden {
		t.Errorf("other server's user: %v", k)
	}
}

// TestStaticTokensRequester: a static token names its user and no device;
// an unknown one is KindUnknownToken.
func TestStaticTokensRequester(t *testing.T) {
	s, err := auth.NewStaticTokens(map[string]string{"t": "@alice:example.org"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Authenticate(context.Background(), "t"); err != nil || r != (auth.Requester{UserID: "@alice:example.org"}) {
		t.Fatalf("Authenticate: %+v %v", r, err)
	}
	if r, ok := s.Known("t"); !ok || r.UserID != "@alice:example.org" {
		t.Fatalf("Known: %+v %v", r, ok)
	}
	if _, err := s.Authenticate(context.Background(), "x"); err == nil {
		t.Fatal("unknown token accepted")
	} else if k, _ := apierr.KindOf(err); k != apierr.KindUnknownToken {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := auth.NewStaticTokens(map[string]string{"t": "not-a-user"}); err == nil {
		t.Fatal("invalid user ID accepted")
	}
}
