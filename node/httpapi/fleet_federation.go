package httpapi

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/projection"
)

// federationItem reads one entry of an EDU's push list. An entry is skipped
// (ok false), not refused with the whole request, when it is not an object,
// lacks user_id or a valid presence, names a user of another server than
// origin or of this server, or carries a field of the wrong type: one bad
// entry from a remote server must not stop the others.
func (a *API) federationItem(origin string, raw json.RawMessage) (projection.FederationItem, bool) {
	var v struct {
		UserID          *string `json:"user_id"`
		Presence        *string `json:"presence"`
		LastActiveAgo   *int64  `json:"last_active_ago"`
		StatusMsg       *string `json:"status_msg"`
		CurrentlyActive *bool   `json:"currently_active"`
	}
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &v) != nil {
		return projection.FederationItem{}, false
	}
	if v.UserID == nil || v.Presence == nil || !events.Presence(*v.Presence).Valid() {
		return projection.FederationItem{}, false
	}
	if events.ValidateUserID(*v.UserID) != nil {
		return projection.FederationItem{}, false
	}
	server := events.ServerNameOf(*v.UserID)
	if server != origin || server == a.f.ServerName {
		return projection.FederationItem{}, false
	}
	if v.LastActiveAgo != nil && (*v.LastActiveAgo < 0 || *v.LastActiveAgo > events.MaxTimestampMS) {
		return projection.FederationItem{}, false
	}
	if v.StatusMsg != nil && (len(*v.StatusMsg) > a.cfg.MaxStatusMsgBytes || !utf8.ValidString(*v.StatusMsg) || strings.ContainsRune(*v.StatusMsg, 0)) {
		return projection.FederationItem{}, false
	}
	return projection.FederationItem{
		UserID:          *v.UserID,
		Presence:        events.Presence(*v.Presence),
		LastActiveAgo:   v.LastActiveAgo,
		StatusMsg:       v.StatusMsg,
		CurrentlyActive: v.CurrentlyActive,
	}, true
}
