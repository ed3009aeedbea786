package events

import (
	"fmt"
	"unicode/utf8"
)

// SchemaVersion is the newest event schema version this build reads and
// writes. Decoders accept every version up to and including it; a newer
// version is reported as ErrUnknownVersion so that a reader can skip it
// instead of misreading it. Encode writes the lowest version that can express
// an event (see Event.Version), so that readers of an older version keep
// reading every event that needs nothing newer.
const SchemaVersion = 2

// Presence is one of the three presence states of the Matrix specification.
type Presence string

// The presence states of the Matrix specification.
const (
	Online      Presence = "online"
	Unavailable Presence = "unavailable"
	Offline     Presence = "offline"
)

// Valid reports whether p is one of the states of the specification. The
// comparison is case-sensitive, as the specification's enum is.
func (p Presence) Valid() bool {
	switch p {
	case Online, Unavailable, Offline:
		return true
	}
	return false
}

// canonical returns the package's own copy of a valid state, so that a
// decoded event does not keep its message's memory alive through it.
func (p Presence) canonical() Presence {
	switch p {
	case Online:
		return Online
	case Unavailable:
		return Unavailable
	}
	return Offline
}

// Event is one presence update: the complete state of a user. An event
// replaces the previous state of its user; it is not a patch. The stream
// keeps only the latest event of each user, so an event of version 2 carries
// every device of the user, not only the one that changed.
//
// The time of the update is not part of the event: it is the time JetStream
// stored the message (the stream leader's clock, the same on every replica),
// so that every node computes last_active_ago from one source of truth.
// Version 2 times (ActiveTS, Device.ActiveTS, Device.SyncTS) are absolute
// only when they were carried forward from an earlier store time; a time the
// event itself records is left absent and means its own store time.
type Event struct {
	// V is the schema version. Encode sets it to Version(); Decode reports
	// the same, whatever the message said, so that a version-2 message that
	// uses no version-2 field reads exactly like its version-1 form.
	V int `json:"v"`
	// UserID is the fully qualified Matrix user ID, e.g. "@alice:example.com".
	UserID string `json:"user_id"`
	// Presence is the state the user set. With Devices it is the state the
	// devices combine to at the event's store time, written for readers that
	// want one word; presenced itself combines the devices.
	Presence Presence `json:"presence"`
	// StatusMsg is the status message; nil means none.
	StatusMsg *string `json:"status_msg,omitempty"`
	// Origin names the node (or other fleet component) that published the event.
	Origin string `json:"origin,omitempty"`
	// RequestID identifies the request that produced the event. It is also the
	// Nats-Msg-Id of the publish, which makes retried publishes idempotent.
	RequestID string `json:"request_id,omitempty"`

	// Fields of version 2. Each is omitted when empty, and an event that
	// uses none of them is written as version 1.

	// Kind says why the event was written. Informational: readers fold every
	// kind the same way. Empty means KindPut.
	Kind Kind `json:"kind,omitempty"`
	// ActiveTS is the user's last activity in Unix milliseconds. Absent means
	// the event's store time, as in version 1.
	ActiveTS *int64 `json:"active_ts,omitempty"`
	// ActiveAgo, for a Remote event only, puts the activity this many
	// milliseconds before the store time (federation's last_active_ago).
	ActiveAgo *int64 `json:"active_ago,omitempty"`
	// Devices is the state of each of the user's devices. Without devices
	// the event's Presence is the state of the user's device-less slot.
	Devices []Device `json:"devices,omitempty"`
	// Remote marks the state of another server's user as received over
	// federation: taken as given, with no devices, and offline once the
	// federation timeout has passed since the store time.
	Remote bool `json:"remote,omitempty"`
	// CurrentlyActive, for a Remote event only, is currently_active as the
	// remote server gave it. Local users' currently_active is computed.
	CurrentlyActive *bool `json:"currently_active,omitempty"`
}

// Kind says why an event was written.
type Kind string

// The kinds of event.
const (
	KindPut        Kind = "put"        // a PUT of the client API
	KindSync       Kind = "sync"       // a device's sync liveness
	KindActive     Kind = "active"     // user activity (message, receipt, typing)
	KindExpire     Kind = "expire"     // a timer transition made durable
	KindFederation Kind = "federation" // a remote user's state from federation
)

// Valid reports whether k is empty or one of the kinds above.
func (k Kind) Valid() bool {
	switch k {
	case "", KindPut, KindSync, KindActive, KindExpire, KindFederation:
		return true
	}
	return false
}

// Device is the state of one device of a user (schema version 2).
type Device struct {
	// ID is the Matrix device ID. "" is the device-less slot, used when the
	// component that saw the update knew no device.
	ID string `json:"id"`
	// Presence is the state set on this device.
	Presence Presence `json:"presence"`
	// ActiveTS is the device's last activity in Unix ms; absent means the
	// event's store time.
	ActiveTS *int64 `json:"active_ts,omitempty"`
	// Synced marks a device that has called sync: it is dropped when its
	// sync deadline passes. A device that never synced keeps its state,
	// which decays with time like a version-1 state.
	Synced bool `json:"synced,omitempty"`
	// SyncTS is the time of the device's last stored sync in Unix ms; absent
	// means the event's store time. Only with Synced.
	SyncTS *int64 `json:"sync_ts,omitempty"`
	// HoldMS is the long-poll timeout of that sync, when known: the device
	// counts as syncing until SyncTS + HoldMS + the sync timeout. Only with
	// Synced.
	HoldMS int64 `json:"hold_ms,omitempty"`
	// Pinned marks an unavailable state set explicitly by a PUT: a sync
	// does not raise it, only activity does.
	Pinned bool `json:"pinned,omitempty"`
}

// Bounds of the version-2 fields.
const (
	MaxDevices        = 64             // devices per event; writers drop the oldest beyond it
	MaxDeviceIDLength = 255            // bytes
	MaxHoldMS         = 60 * 60 * 1000 // an hour: no long poll is longer
	MaxTimestampMS    = 1<<53 - 1      // exact in every JSON implementation
)

// Version is the lowest schema version that expresses e: 2 when it uses any
// version-2 field, 1 otherwise.
func (e *Event) Version() int {
	if e.Kind != "" || e.ActiveTS != nil || e.ActiveAgo != nil || len(e.Devices) > 0 || e.Remote || e.CurrentlyActive != nil {
		return 2
	}
	return 1
}

// Validate checks the fields every reader relies on.
func (e *Event) Validate() error {
	if e.V < 1 {
		return fmt.Errorf("%w: schema version %d", ErrMalformed, e.V)
	}
	if err := ValidateUserID(e.UserID); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !e.Presence.Valid() {
		return fmt.Errorf("%w: presence %q", ErrMalformed, e.Presence)
	}
	if v := e.Version(); v > e.V {
		return fmt.Errorf("%w: version-%d fields in a version-%d event", ErrMalformed, v, e.V)
	}
	return e.validateV2()
}

func (e *Event) validateV2() error {
	if !e.Kind.Valid() {
		return fmt.Errorf("%w: kind %q", ErrMalformed, e.Kind)
	}
	if err := checkTS("active_ts", e.ActiveTS); err != nil {
		return err
	}
	if err := checkTS("active_ago", e.ActiveAgo); err != nil {
		return err
	}
	if !e.Remote && (e.ActiveAgo != nil || e.CurrentlyActive != nil) {
		return fmt.Errorf("%w: active_ago and currently_active are for remote events only", ErrMalformed)
	}
	if e.ActiveAgo != nil && e.ActiveTS != nil {
		return fmt.Errorf("%w: both active_ts and active_ago", ErrMalformed)
	}
	if e.Remote && len(e.Devices) > 0 {
		return fmt.Errorf("%w: a remote event has no devices", ErrMalformed)
	}
	if len(e.Devices) > MaxDevices {
		return fmt.Errorf("%w: %d devices, at most %d", ErrMalformed, len(e.Devices), MaxDevices)
	}
	for i := range e.Devices {
		d := &e.Devices[i]
		if err := d.validate(); err != nil {
			return err
		}
		for j := range i {
			if e.Devices[j].ID == d.ID {
				return fmt.Errorf("%w: device %q twice", ErrMalformed, d.ID)
			}
		}
	}
	return nil
}

func (d *Device) validate() error {
	if len(d.ID) > MaxDeviceIDLength || !validText(d.ID) {
		return fmt.Errorf("%w: device ID %q", ErrMalformed, d.ID)
	}
	if !d.Presence.Valid() {
		return fmt.Errorf("%w: device %q presence %q", ErrMalformed, d.ID, d.Presence)
	}
	if err := checkTS("device active_ts", d.ActiveTS); err != nil {
		return err
	}
	if err := checkTS("device sync_ts", d.SyncTS); err != nil {
		return err
	}
	if !d.Synced && (d.SyncTS != nil || d.HoldMS != 0) {
		return fmt.Errorf("%w: device %q has sync_ts or hold_ms but never synced", ErrMalformed, d.ID)
	}
	if d.HoldMS < 0 || d.HoldMS > MaxHoldMS {
		return fmt.Errorf("%w: device %q hold_ms %d", ErrMalformed, d.ID, d.HoldMS)
	}
	if d.Pinned && d.Presence != Unavailable {
		return fmt.Errorf("%w: device %q is pinned but not unavailable", ErrMalformed, d.ID)
	}
	return nil
}

func checkTS(name string, v *int64) error {
	if v != nil && (*v < 0 || *v > MaxTimestampMS) {
		return fmt.Errorf("%w: %s %d", ErrMalformed, name, *v)
	}
	return nil
}

// validText reports whether s survives a JSON round trip unchanged
// (encoding/json replaces invalid UTF-8).
func validText(s string) bool { return utf8.ValidString(s) }
