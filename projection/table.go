package projection

// The projection holds every user of a fleet in memory, so its layout is
// chosen for size (under 48 bytes a user with 24-byte IDs, see
// BenchmarkMemoryPerUser) rather than using a map[string]struct:
//
//   - entries are 16 bytes (sequence; store time, ID length and presence
//     packed in one word) in fixed pages, numbered in insertion order;
//   - user IDs live back to back in arena chunks, in entry order, so an
//     entry needs no offset of its own: the table keeps the position of
//     every 16th entry's ID and walks the lengths from there;
//   - an open-addressing index of uint32 slots finds entries. A slot holds
//     8 bits of the user's hash beside the entry number, so a probe rarely
//     has to touch an entry that is not the one it looks for (which, on a
//     table of millions, is a cache miss each). Its size is not held to a
//     power of two (a slot's home is a multiply-shift of the hash), so a
//     table sized for its users stays about 3/4 full rather than anywhere
//     between 3/8 and 3/4;
//   - status messages, which not every user sets, and version-2 state
//     (devices, remote flags), which plain PUT users never have, sit in
//     slices of their own, with freed slots reused. An entry's slot is kept
//     beside the entry, in pages of slots allocated only for pages of
//     entries where some entry has one, so plain users pay nothing for it.
//
// Users are never removed, so the arena and the pages only grow.

const (
	pageBits  = 8
	pageSize  = 1 << pageBits // entries per page
	chunkSize = 16 << 10      // bytes per arena chunk; a user ID is at most 255
	groupBits = 4             // the ID position of every 1<<groupBits-th entry is kept
	// The index is grown by half once more than maxLoad of its slots are
	// full; a table sized for its users starts at initLoad.
	maxLoadNum, maxLoadDen   = 4, 5
	initLoadNum, initLoadDen = 3, 4

	// A slot is tag<<slotBits | (entry number + 1); 0 is empty. A shard
	// holds at most maxEntries users (over a billion across the shards).
	slotBits   = 24
	slotMask   = 1<<slotBits - 1
	maxEntries = slotMask - 1
)

// Bits of entry.meta, from the lowest: presence code (2), user ID length
// (8), store time in Unix ms (the rest).
const (
	metaLenShift = 2
	metaMSShift  = 10
)

// entry is the state of one user.
type entry struct {
	seq  uint64 // stream sequence of the event that set this state
	meta uint64
}

func (e *entry) activeMS() int64 { return int64(e.meta >> metaMSShift) }
func (e *entry) idLen() int      { return int(e.meta>>metaLenShift) & 0xff }
func (e *entry) presence() uint8 { return uint8(e.meta & 3) }

// setState records the time and presence of the user's latest event.
func (e *entry) setState(ms int64, presence uint8) {
	e.meta = uint64(max(ms, 0))<<metaMSShift | e.meta&(0xff<<metaLenShift) | uint64(presence&3)
}

// table is one shard's users. It is not safe for concurrent use; the shard's
// lock guards it.
type table struct {
	index  []uint32 // slots: 0 = empty, else tag<<slotBits | (entry number + 1)
	pages  [][]entry
	n      uint32
	chunks [][]byte
	groups []uint32 // arena position of the ID of entry g<<groupBits
	end    uint32   // arena position after the last ID
	// refs, per page of entries, each entry's slot in msgs or exts (see
	// ref); nil for a page none of whose entries has either.
	refs  [][]uint32
	msgs  []string // status messages; entries refer to them by slot
	free  []uint32 // slots of msgs no entry refers to
	exts  []*xstate
	xfree []uint32 // slots of exts no entry refers to
}

func newTable(sizeHint int) *table {
	size := max(16, (sizeHint*initLoadDen+initLoadNum-1)/initLoadNum)
	return &table{index: make([]uint32, size)}
}

func (t *table) entry(i uint32) *entry { return &t.pages[i>>pageBits][i&(pageSize-1)] }

// placeID is where an ID of n bytes goes when the arena ends at pos: there,
// unless it would cross into the next chunk, which it then starts.
func placeID(pos uint32, n int) uint32 {
	if int(pos%chunkSize)+n > chunkSize {
		return (pos/chunkSize + 1) * chunkSize
	}
	return pos
}

// idAt returns the n bytes of the arena at pos, without copying them.
func (t *table) idAt(pos uint32, n int) []byte {
	off := pos % chunkSize
	return t.chunks[pos/chunkSize][off : off+uint32(n)]
}

// id returns the user ID of entry i without copying it: from the position
// of its group's first ID, past the IDs before it in the group.
func (t *table) id(i uint32) []byte {
	j := i &^ (1<<groupBits - 1)
	pos := t.groups[i>>groupBits]
	n := t.entry(j).idLen()
	for ; j < i; j++ {
		next := t.entry(j + 1).idLen()
		pos = placeID(pos+uint32(n), next)
		n = next
	}
	return t.idAt(pos, n)
}

// each calls fn with every entry number and its user ID, in order, until fn
// returns false.
func (t *table) each(fn func(i uint32, id []byte) bool) {
	var pos uint32
	for i := uint32(0); i < t.n; i++ {
		n := t.entry(i).idLen()
		pos = placeID(pos, n)
		if !fn(i, t.idAt(pos, n)) {
			return
		}
		pos += uint32(n)
	}
}

// tagOf is the part of a hash kept in an index slot. Slots use the hash's
// low 32 bits for position and the shard its high bits, so the tag takes
// bits from the middle.
func tagOf(h uint64) uint32 { return uint32(h>>32) & 0xff }

// home is the first slot h probes in an index of size slots.
func home(h uint64, size int) int { return int(uint64(uint32(h)) * uint64(size) >> 32) }

// find returns the entry number of userID, whose hash is h.
func (t *table) find(userID string, h uint64) (uint32, bool) {
	tag := tagOf(h)
	for slot := home(h, len(t.index)); ; {
		v := t.index[slot]
		if v == 0 {
			return 0, false
		}
		if v>>slotBits == tag {
			i := v&slotMask - 1
			if t.entry(i).idLen() == len(userID) && string(t.id(i)) == userID {
				return i, true
			}
		}
		if slot++; slot == len(t.index) {
			slot = 0
		}
	}
}

// insert adds userID (not yet present, hash h) and returns its entry.
func (t *table) insert(userID string, h uint64, hash func([]byte) uint64) *entry {
	if t.n >= maxEntries {
		panic("projection: more than 16M users in one shard")
	}
	if uint64(t.n+1)*maxLoadDen > uint64(len(t.index))*maxLoadNum {
		t.grow(hash)
	}
	i := t.n
	if int(i>>pageBits) == len(t.pages) {
		t.pages = append(t.pages, make([]entry, pageSize))
	}
	pos := t.store(userID)
	if i&(1<<groupBits-1) == 0 {
		t.groups = append(t.groups, pos)
	}
	t.n++
	e := t.entry(i)
	*e = entry{meta: uint64(len(userID)) << metaLenShift}
	t.place(i, h)
	return e
}

func (t *table) place(i uint32, h uint64) {
	slot := home(h, len(t.index))
	for t.index[slot] != 0 {
		if slot++; slot == len(t.index) {
			slot = 0
		}
	}
	t.index[slot] = tagOf(h)<<slotBits | (i + 1)
}

// grow makes the index half as large again and re-places every entry.
func (t *table) grow(hash func([]byte) uint64) {
	t.index = make([]uint32, len(t.index)*3/2)
	t.each(func(i uint32, id []byte) bool {
		t.place(i, hash(id))
		return true
	})
}

// store copies userID into the arena and returns its position.
func (t *table) store(userID string) uint32 {
	pos := placeID(t.end, len(userID))
	if int(pos/chunkSize) == len(t.chunks) {
		t.chunks = append(t.chunks, make([]byte, 0, chunkSize))
	}
	c := &t.chunks[pos/chunkSize]
	*c = append(*c, userID...)
	t.end = pos + uint32(len(userID))
	return pos
}

// ref is entry i's slot + 1 in msgs, or in exts when its presence code is
// codeExt; 0 when it has neither. The slots of a page of entries are only
// allocated once one of its entries needs one.
func (t *table) ref(i uint32) uint32 {
	if p := i >> pageBits; int(p) < len(t.refs) && t.refs[p] != nil {
		return t.refs[p][i&(pageSize-1)]
	}
	return 0
}

func (t *table) setRef(i, v uint32) {
	p := int(i >> pageBits)
	for len(t.refs) <= p {
		t.refs = append(t.refs, nil)
	}
	if t.refs[p] == nil {
		if v == 0 {
			return
		}
		t.refs[p] = make([]uint32, pageSize)
	}
	t.refs[p][i&(pageSize-1)] = v
}

// setMsg gives entry i the status message msg ("" for none), reusing its
// slot or a freed one where it can. Its presence code is not codeExt.
func (t *table) setMsg(i uint32, msg string) {
	r := t.ref(i)
	switch {
	case msg == "" && r != 0:
		t.msgs[r-1] = ""
		t.free = append(t.free, r-1)
		t.setRef(i, 0)
	case msg == "":
	case r != 0:
		t.msgs[r-1] = msg
	case len(t.free) > 0:
		slot := t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
		t.msgs[slot] = msg
		t.setRef(i, slot+1)
	default:
		t.msgs = append(t.msgs, msg)
		t.setRef(i, uint32(len(t.msgs)))
	}
}

// msgOf returns the status message of entry i (e), "" for none.
func (t *table) msgOf(i uint32, e *entry) string {
	if e.presence() == codeExt {
		return ""
	}
	if r := t.ref(i); r != 0 {
		return t.msgs[r-1]
	}
	return ""
}

// setExt gives entry i (e) the extended state x, or none when x is nil, and
// sets its time and presence code. The code tells what the entry's ref
// refers to, so the old referent is released before the code changes.
func (t *table) setExt(i uint32, e *entry, ms int64, presence uint8, msg string, x *xstate) {
	if e.presence() == codeExt {
		r := t.ref(i)
		if x != nil {
			t.exts[r-1] = x
			e.setState(ms, codeExt)
			return
		}
		t.exts[r-1] = nil
		t.xfree = append(t.xfree, r-1)
		t.setRef(i, 0)
	}
	if x == nil {
		e.setState(ms, presence)
		t.setMsg(i, msg)
		return
	}
	t.setMsg(i, "")
	e.setState(ms, codeExt)
	if n := len(t.xfree); n > 0 {
		slot := t.xfree[n-1]
		t.xfree = t.xfree[:n-1]
		t.exts[slot] = x
		t.setRef(i, slot+1)
		return
	}
	t.exts = append(t.exts, x)
	t.setRef(i, uint32(len(t.exts)))
}

// extOf returns the extended state of entry i (e), nil when it has none.
func (t *table) extOf(i uint32, e *entry) *xstate {
	if e.presence() != codeExt {
		return nil
	}
	return t.exts[t.ref(i)-1]
}
