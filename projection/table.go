package projection

// The projection holds every user of a fleet in memory, so its layout is
// chosen for size (about 60 bytes a user, see BenchmarkMemoryPerUser) rather
// than using a map[string]struct: user IDs live back to back in an arena,
// entries are 24 bytes in fixed pages, and an open-addressing index of
// uint32 slots finds them. A slot holds 8 bits of the user's hash beside the
// entry number, so a probe rarely has to touch an entry that is not the one
// it looks for (which, on a table of millions, is a cache miss each).
// Status messages, which not every user sets, sit in a slice of their own
// that entries refer to, with freed slots reused. Version-2 state (devices,
// remote flags), which plain PUT users never have, sits in another such
// slice: an entry whose presence code is codeExt refers to it through the
// same field, so it costs those users nothing. Users are never removed, so
// the arena and the pages only grow.

const (
	pageBits  = 10
	pageSize  = 1 << pageBits // entries per page
	chunkSize = 64 << 10      // bytes per arena chunk; a user ID is at most 255
	maxLoad   = 3             // the index is grown past maxLoad/4 full

	// A slot is tag<<slotBits | (entry number + 1); 0 is empty. A shard
	// holds at most maxEntries users (over a billion across the shards).
	slotBits   = 24
	slotMask   = 1<<slotBits - 1
	maxEntries = slotMask - 1
)

// entry is the state of one user.
type entry struct {
	seq   uint64 // stream sequence of the event that set this state
	meta  uint64 // store time in Unix ms << 10 | user ID length << 2 | presence code
	idOff uint32 // offset of the user ID in the shard's arena
	msg   uint32 // status message slot + 1 (0 when none); extended state slot + 1 when the code is codeExt
}

func (e *entry) activeMS() int64 { return int64(e.meta >> 10) }
func (e *entry) idLen() int      { return int(e.meta>>2) & 0xff }
func (e *entry) presence() uint8 { return uint8(e.meta & 3) }

// setState records the time and presence of the user's latest event.
func (e *entry) setState(ms int64, presence uint8) {
	e.meta = uint64(max(ms, 0))<<10 | e.meta&(0xff<<2) | uint64(presence&3)
}

// table is one shard's users. It is not safe for concurrent use; the shard's
// lock guards it.
type table struct {
	index  []uint32 // slots: 0 = empty, else tag<<slotBits | (entry number + 1)
	pages  [][]entry
	n      uint32
	chunks [][]byte
	msgs   []string // status messages; entries refer to them by slot
	free   []uint32 // slots of msgs no entry refers to
	exts   []*xstate
	xfree  []uint32 // slots of exts no entry refers to
}

func newTable(sizeHint int) *table {
	t := &table{}
	size := 16
	for size*maxLoad/4 < sizeHint {
		size *= 2
	}
	t.index = make([]uint32, size)
	return t
}

func (t *table) entry(i uint32) *entry { return &t.pages[i>>pageBits][i&(pageSize-1)] }

// id returns the user ID of entry e without copying it.
func (t *table) id(e *entry) []byte {
	c := t.chunks[e.idOff/chunkSize]
	off := e.idOff % chunkSize
	return c[off : off+uint32(e.idLen())]
}

// tagOf is the part of a hash kept in an index slot. Slots use the hash's
// low bits for position and the shard its high bits, so the tag takes bits
// from the middle.
func tagOf(h uint64) uint32 { return uint32(h>>32) & 0xff }

// find returns the entry number of userID, whose hash is h.
func (t *table) find(userID string, h uint64) (uint32, bool) {
	mask := uint64(len(t.index) - 1)
	tag := tagOf(h)
	for slot := h & mask; ; slot = (slot + 1) & mask {
		v := t.index[slot]
		if v == 0 {
			return 0, false
		}
		if v>>slotBits != tag {
			continue
		}
		i := v&slotMask - 1
		e := t.entry(i)
		if e.idLen() == len(userID) && string(t.id(e)) == userID {
			return i, true
		}
	}
}

// insert adds userID (not yet present, hash h) and returns its entry.
func (t *table) insert(userID string, h uint64, hash func([]byte) uint64) *entry {
	if t.n >= maxEntries {
		panic("projection: more than 16M users in one shard")
	}
	if uint64(t.n+1)*4 > uint64(len(t.index))*maxLoad {
		t.grow(hash)
	}
	i := t.n
	t.n++
	if int(i>>pageBits) == len(t.pages) {
		t.pages = append(t.pages, make([]entry, pageSize))
	}
	e := t.entry(i)
	*e = entry{idOff: t.store(userID), meta: uint64(len(userID)) << 2}
	t.place(i, h)
	return e
}

func (t *table) place(i uint32, h uint64) {
	mask := uint64(len(t.index) - 1)
	slot := h & mask
	for t.index[slot] != 0 {
		slot = (slot + 1) & mask
	}
	t.index[slot] = tagOf(h)<<slotBits | (i + 1)
}

// grow doubles the index and re-places every entry.
func (t *table) grow(hash func([]byte) uint64) {
	t.index = make([]uint32, len(t.index)*2)
	for i := uint32(0); i < t.n; i++ {
		t.place(i, hash(t.id(t.entry(i))))
	}
}

// store copies userID into the arena and returns its offset.
func (t *table) store(userID string) uint32 {
	last := len(t.chunks) - 1
	if last < 0 || len(t.chunks[last])+len(userID) > chunkSize {
		t.chunks = append(t.chunks, make([]byte, 0, chunkSize))
		last++
	}
	c := t.chunks[last]
	off := uint32(last)*chunkSize + uint32(len(c))
	t.chunks[last] = append(c, userID...)
	return off
}

// setMsg gives entry e the status message msg ("" for none), reusing its
// slot or a freed one where it can.
func (t *table) setMsg(e *entry, msg string) {
	switch {
	case msg == "" && e.msg != 0:
		t.msgs[e.msg-1] = ""
		t.free = append(t.free, e.msg-1)
		e.msg = 0
	case msg == "":
	case e.msg != 0:
		t.msgs[e.msg-1] = msg
	case len(t.free) > 0:
		slot := t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
		t.msgs[slot] = msg
		e.msg = slot + 1
	default:
		t.msgs = append(t.msgs, msg)
		e.msg = uint32(len(t.msgs))
	}
}

// msgOf returns the status message of e ("" for none).
func (t *table) msgOf(e *entry) string {
	if e.msg == 0 {
		return ""
	}
	return t.msgs[e.msg-1]
}

// setExt gives entry e the extended state x, or none when x is nil, and
// sets its time and presence code. The code tells what e.msg refers to, so
// the old referent is released before the code changes.
func (t *table) setExt(e *entry, ms int64, presence uint8, msg string, x *xstate) {
	if e.presence() == codeExt {
		if x != nil {
			t.exts[e.msg-1] = x
			e.setState(ms, codeExt)
			return
		}
		t.exts[e.msg-1] = nil
		t.xfree = append(t.xfree, e.msg-1)
		e.msg = 0
	}
	if x == nil {
		e.setState(ms, presence)
		t.setMsg(e, msg)
		return
	}
	t.setMsg(e, "")
	e.setState(ms, codeExt)
	if n := len(t.xfree); n > 0 {
		slot := t.xfree[n-1]
		t.xfree = t.xfree[:n-1]
		t.exts[slot] = x
		e.msg = slot + 1
		return
	}
	t.exts = append(t.exts, x)
	e.msg = uint32(len(t.exts))
}

// extOf returns the extended state of e, nil when it has none.
func (t *table) extOf(e *entry) *xstate {
	if e.presence() != codeExt {
		return nil
	}
	return t.exts[e.msg-1]
}
