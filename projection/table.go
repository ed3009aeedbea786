package projection

// The projection holds every user of a fleet in memory, so its layout is
// chosen for size (about 60 bytes a user, see BenchmarkMemoryPerUser) rather
// than using a map[string]struct: user IDs live back to back in an arena,
// entries are 24 bytes in fixed pages, and an open-addressing index of
// uint32 slots finds them. Status messages, which few users set, sit in a
// side map. Nothing is ever removed, so none of this needs a free list.

const (
	pageBits  = 10
	pageSize  = 1 << pageBits // entries per page
	chunkSize = 64 << 10      // bytes per arena chunk; a user ID is at most 255
	maxLoad   = 3             // the index is grown past maxLoad/4 full
)

// entry is the state of one user.
type entry struct {
	seq   uint64 // stream sequence of the event that set this state
	tsp   int64  // store time in Unix ms << 2 | presence code
	idOff uint32 // offset of the user ID in the shard's arena
	idLen uint8  // length of the user ID
	tag   uint8  // low byte of the user ID's hash, to skip most mismatches
}

func (e *entry) activeMS() int64 { return e.tsp >> 2 }
func (e *entry) presence() uint8 { return uint8(e.tsp & 3) }

func packTime(ms int64, presence uint8) int64 { return ms<<2 | int64(presence&3) }

// table is one shard's users. It is not safe for concurrent use; the shard's
// lock guards it.
type table struct {
	index  []uint32 // 0 = empty, else entry number + 1
	pages  [][]entry
	n      uint32
	chunks [][]byte
	msgs   map[uint32]string // status messages by entry number
}

func newTable(sizeHint int) *table {
	t := &table{msgs: map[uint32]string{}}
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
	return c[off : off+uint32(e.idLen)]
}

// find returns the entry number of userID, whose hash is h.
func (t *table) find(userID string, h uint64) (uint32, bool) {
	mask := uint64(len(t.index) - 1)
	tag := uint8(h)
	for slot := h & mask; ; slot = (slot + 1) & mask {
		v := t.index[slot]
		if v == 0 {
			return 0, false
		}
		e := t.entry(v - 1)
		if e.tag == tag && int(e.idLen) == len(userID) && string(t.id(e)) == userID {
			return v - 1, true
		}
	}
}

// insert adds userID (not yet present, hash h) and returns its entry.
func (t *table) insert(userID string, h uint64, hash func([]byte) uint64) *entry {
	if (t.n+1)*4 > uint32(len(t.index))*maxLoad {
		t.grow(hash)
	}
	i := t.n
	t.n++
	if int(i>>pageBits) == len(t.pages) {
		t.pages = append(t.pages, make([]entry, pageSize))
	}
	e := t.entry(i)
	*e = entry{idOff: t.store(userID), idLen: uint8(len(userID)), tag: uint8(h)}
	t.place(i, h)
	return e
}

func (t *table) place(i uint32, h uint64) {
	mask := uint64(len(t.index) - 1)
	slot := h & mask
	for t.index[slot] != 0 {
		slot = (slot + 1) & mask
	}
	t.index[slot] = i + 1
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
