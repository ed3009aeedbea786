package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/presenced/presenced/events"
	"github.com/presenced/presenced/node/apierr"
	"github.com/presenced/presenced/node/fleet"
	"github.com/presenced/presenced/projection"
)

// The internal API's routes, served only by InternalHandler.
const (
	routeFleetSync       = "/_presence/v1/sync"
	routeFleetActive     = "/_presence/v1/active"
	routeFleetChanges    = "/_presence/v1/changes"
	routeFleetQuery      = "/_presence/v1/query"
	routeFleetFederation = "/_presence/v1/federation"
	routeFleetMirrorSync = "/_presence/v1/mirror/sync"
)

// internalSecret refuses a request that does not carry the shared secret
// in its Authorization header (the internal API takes none in the query).
func (a *API) internalSecret(r *http.Request) error {
	tok, _ := bearer(r.Header.Get("Authorization"))
	return a.f.Secret.Check(tok)
}

// localUser validates a user ID of a fleet command: well formed and of this
// server (the fleet API drives the presence of local users only).
func (a *API) localUser(userID string) error {
	if err := events.ValidateUserID(userID); err != nil {
		return apierr.Errorf(apierr.KindInvalidParam, "Invalid user_id: %v.", err)
	}
	if events.ServerNameOf(userID) != a.f.ServerName {
		return apierr.Errorf(apierr.KindInvalidParam, "%s is not a user of this server.", apierr.Truncate(userID, 300))
	}
	return nil
}

// parseSetPresence reads set_presence as /sync takes it: absent means online.
func parseSetPresence(s *string) (events.Presence, error) {
	if s == nil {
		return events.Online, nil
	}
	p := events.Presence(*s)
	if !p.Valid() {
		return "", apierr.Errorf(apierr.KindInvalidParam, "Invalid set_presence %q: want online, unavailable or offline.", apierr.Truncate(*s, 64))
	}
	return p, nil
}

// holdOf clamps a sync's long-poll timeout to what an event may record.
func holdOf(ms int64) int64 { return min(max(ms, 0), events.MaxHoldMS) }

// localDevice validates the user and device of a sync or activity: both
// present and not empty, the user one of this server's.
func (a *API) localDevice(userID, deviceID *string) (string, string, error) {
	u, err := requireString(userID, "user_id")
	if err != nil {
		return "", "", err
	}
	d, err := requireString(deviceID, "device_id")
	if err != nil {
		return "", "", err
	}
	return u, d, a.localUser(u)
}

// storeFailed is the answer to a command the store did not take.
func storeFailed(err error) error {
	return apierr.Unavailable("Presence store is unavailable; try again.", time.Second, err)
}

// fleetSync answers POST /_presence/v1/sync.
func (a *API) fleetSync(w http.ResponseWriter, r *http.Request) error {
	if err := a.internalSecret(r); err != nil {
		return err
	}
	var body struct {
		UserID      *string `json:"user_id"`
		DeviceID    *string `json:"device_id"`
		SetPresence *string `json:"set_presence"`
		Timeout     *int64  `json:"timeout"`
	}
	if err := a.decodeBody(w, r, &body); err != nil {
		return err
	}
	userID, deviceID, err := a.localDevice(body.UserID, body.DeviceID)
	if err != nil {
		return err
	}
	set, err := parseSetPresence(body.SetPresence)
	if err != nil {
		return err
	}
	var hold int64
	if body.Timeout != nil {
		hold = holdOf(*body.Timeout)
	}
	return a.recordSync(w, r, projection.SyncCommand{UserID: userID, DeviceID: deviceID, SetPresence: set, HoldMS: hold}, http.StatusOK)
}

// recordSync stores (or absorbs) a sync and answers status.
func (a *API) recordSync(w http.ResponseWriter, r *http.Request, c projection.SyncCommand, status int) error {
	if err := a.requireServing(); err != nil {
		return err
	}
	res, err := a.f.Fleet.Sync(r.Context(), c)
	a.countFleet("sync", res, err)
	if err != nil {
		return storeFailed(err)
	}
	if status == http.StatusNoContent {
		// No body, but the headers of every answer of the API.
		setJSONHeaders(w.Header())
		w.WriteHeader(status)
		return nil
	}
	writeJSON(w, status, struct{}{})
	return nil
}

// fleetActive answers POST /_presence/v1/active.
func (a *API) fleetActive(w http.ResponseWriter, r *http.Request) error {
	if err := a.internalSecret(r); err != nil {
		return err
	}
	var body struct {
		UserID   *string `json:"user_id"`
		DeviceID *string `json:"device_id"`
	}
	if err := a.decodeBody(w, r, &body); err != nil {
		return err
	}
	userID, deviceID, err := a.localDevice(body.UserID, body.DeviceID)
	if err != nil {
		return err
	}
	if err := a.requireServing(); err != nil {
		return err
	}
	res, err := a.f.Fleet.Active(r.Context(), projection.ActiveCommand{UserID: userID, DeviceID: deviceID})
	a.countFleet("active", res, err)
	if err != nil {
		return storeFailed(err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// fleetMirrorSync answers GET /_presence/v1/mirror/sync: the reverse
// proxy's copy of a client's /sync, authenticated by the client's own
// token. It is recorded as POST /_presence/v1/sync would record it.
func (a *API) fleetMirrorSync(w http.ResponseWriter, r *http.Request) error {
	who, err := a.requester(r)
	if err != nil {
		a.d.Metrics.MirrorSyncs.WithLabelValues("unauthenticated").Inc()
		return err
	}
	if err := a.localUser(who.UserID); err != nil {
		return err
	}
	q := r.URL.Query()
	var setp *string
	if v, ok := q["set_presence"]; ok && len(v) > 0 {
		setp = &v[0]
	}
	set, err := parseSetPresence(setp)
	if err != nil {
		return err
	}
	var hold int64
	if v := q.Get("timeout"); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			hold = holdOf(ms)
		}
	}
	a.d.Metrics.MirrorSyncs.WithLabelValues("recorded").Inc()
	return a.recordSync(w, r, projection.SyncCommand{UserID: who.UserID, DeviceID: who.DeviceID, SetPresence: set, HoldMS: hold}, http.StatusNoContent)
}

// maxQueryUsers bounds the users of one bulk query.
const maxQueryUsers = 10000

// fleetQuery answers POST /_presence/v1/query.
func (a *API) fleetQuery(w http.ResponseWriter, r *http.Request) error {
	if err := a.internalSecret(r); err != nil {
		return err
	}
	var body struct {
		UserIDs *[]string `json:"user_ids"`
	}
	if err := a.decodeBody(w, r, &body); err != nil {
		return err
	}
	if body.UserIDs == nil {
		return apierr.Errorf(apierr.KindMissingParam, "Missing user_ids.")
	}
	ids := *body.UserIDs
	if len(ids) > maxQueryUsers {
		return apierr.Errorf(apierr.KindInvalidParam, "At most %d user_ids per query (got %d).", maxQueryUsers, len(ids))
	}
	for _, id := range ids {
		if err := events.ValidateUserID(id); err != nil {
			return apierr.Errorf(apierr.KindInvalidParam, "Invalid user ID %q: %v.", apierr.Truncate(id, 300), err)
		}
	}
	if err := a.requireServing(); err != nil {
		return err
	}
	// The position is taken before the states are read: a feed started
	// from it may repeat a change the answer holds, but misses none.
	pos := a.f.Feed.Current()
	now := a.d.Clock.Now()
	b := make([]byte, 0, 64+len(ids)*96)
	b = append(b, `{"position":`...)
	b = appendJSONString(b, pos.String())
	b = append(b, `,"presence":{`...)
	first := true
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		st, ok := a.d.Presence.Status(id, now, a.d.Decay)
		if !ok {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, id)
		b = append(b, ':')
		b = appendStatusJSON(b, st)
	}
	b = append(b, "}}"...)
	writeRawJSON(w, http.StatusOK, b)
	return nil
}

// fleetFederation answers POST /_presence/v1/federation.
func (a *API) fleetFederation(w http.ResponseWriter, r *http.Request) error {
	if err := a.internalSecret(r); err != nil {
		return err
	}
	var body struct {
		Origin *string            `json:"origin"`
		Push   *[]json.RawMessage `json:"push"`
	}
	if err := a.decodeBody(w, r, &body); err != nil {
		return err
	}
	origin, err := requireString(body.Origin, "origin")
	if err != nil {
		return err
	}
	if body.Push == nil {
		return apierr.Errorf(apierr.KindMissingParam, "Missing push.")
	}
	if err := a.requireServing(); err != nil {
		return err
	}
	accepted, rejected := 0, 0
	for _, raw := range *body.Push {
		it, ok := a.federationItem(origin, raw)
		if !ok {
			rejected++
			continue
		}
		res, err := a.f.Fleet.Federation(r.Context(), it)
		a.countFleet("federation", res, err)
		if err != nil {
			return storeFailed(err)
		}
		accepted++
	}
	a.d.Metrics.FederationItems.WithLabelValues("accepted").Add(float64(accepted))
	a.d.Metrics.FederationItems.WithLabelValues("rejected").Add(float64(rejected))
	writeJSON(w, http.StatusOK, struct {
		Accepted int `json:"accepted"`
		Rejected int `json:"rejected"`
	}{accepted, rejected})
	return nil
}

// countFleet records the outcome of a fleet command.
func (a *API) countFleet(command string, res fleet.Result, err error) {
	result := "absorbed"
	switch {
	case err != nil && errors.Is(err, fleet.ErrBusy):
		result = "busy"
	case err != nil:
		result = "error"
	case res.Stored:
		result = "stored"
	}
	a.d.Metrics.FleetCommands.WithLabelValues(command, result).Inc()
}
