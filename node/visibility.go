package node

import "github.com/presenced/presenced/events"

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

// checkVisible returns 403 M_FORBIDDEN when the policy does not let
// requester read target's presence. It runs before the projection is
// consulted, so a refusal says nothing about whether target has a state.
func (n *Node) checkVisible(requester, target string) error {
	switch n.cfg.Visibility {
	case VisibilitySameServer:
		if events.ServerNameOf(requester) != n.cfg.ServerName {
			return Errorf(KindForbidden, "Presence is visible to users of this server only.")
		}
	case VisibilitySelf:
		if requester != target {
			return Errorf(KindForbidden, "You may only read your own presence.")
		}
	}
	return nil
}

// checkOwnServer returns 403 M_FORBIDDEN for a writer whose domain is not
// ours: the service holds the presence of this server's users only.
func (n *Node) checkOwnServer(userID string) error {
	if events.ServerNameOf(userID) != n.cfg.ServerName {
		return Errorf(KindForbidden, "Presence of users of other servers cannot be set here.")
	}
	return nil
}
