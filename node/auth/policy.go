package auth

import (
	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
)

// The visibility policies of --visibility: who may read whose presence.
const (
	// VisibilityAuthenticated lets any holder of a valid token read anyone's
	// presence, as a homeserver that shares presence with everyone does.
	VisibilityAuthenticated = "authenticated"
	// VisibilitySameServer lets only users of --server-name read presence:
	// tokens of other domains (a shared token service, bridges) read nothing.
	VisibilitySameServer = "same-server"
	// VisibilitySelf lets a user read only their own presence.
	VisibilitySelf = "self"
)

func validVisibility(v string) bool {
	switch v {
	case VisibilityAuthenticated, VisibilitySameServer, VisibilitySelf:
		return true
	}
	return false
}

// Policy is who may read and write whose presence on this server.
type Policy struct {
	// ServerName is the homeserver's domain: users of this domain are ours.
	ServerName string
	// Visibility is one of the Visibility constants ("" reads as
	// VisibilityAuthenticated).
	Visibility string
}

// CheckVisible returns 403 M_FORBIDDEN when the policy does not let
// requester read target's presence. It runs before the projection is
// consulted, so a refusal says nothing about whether target has a state.
func (p Policy) CheckVisible(requester, target string) error {
	switch p.Visibility {
	case VisibilitySameServer:
		if events.ServerNameOf(requester) != p.ServerName {
			return apierr.Errorf(apierr.KindForbidden, "Presence is visible to users of this server only.")
		}
	case VisibilitySelf:
		if requester != target {
			return apierr.Errorf(apierr.KindForbidden, "You may only read your own presence.")
		}
	}
	return nil
}

// CheckOwnServer returns 403 M_FORBIDDEN for a writer whose domain is not
// ours: the service holds the presence of this server's users only.
func (p Policy) CheckOwnServer(userID string) error {
	if events.ServerNameOf(userID) != p.ServerName {
		return apierr.Errorf(apierr.KindForbidden, "Presence of users of other servers cannot be set here.")
	}
	return nil
}
