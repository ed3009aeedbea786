package projection

import (
	"fmt"
	"hash/fnv"
	"strconv"
)

// Digest summarises the whole state in a string that is equal on two
// projections exactly when they hold the same users with the same states
// (up to hash collisions). It does not depend on map order, so nodes can
// compare their projections cheaply.
func (p *Projection) Digest() string {
	var sum uint64
	n := 0
	p.Range(func(r Record) bool {
		h := fnv.New64a()
		h.Write([]byte(r.UserID))
		h.Write([]byte{0})
		h.Write(strconv.AppendUint(nil, r.Seq, 10))
		h.Write([]byte{0})
		h.Write(strconv.AppendInt(nil, r.ActiveAt.UnixMilli(), 10))
		h.Write([]byte{0})
		h.Write([]byte(r.Presence))
		h.Write([]byte{0})
		h.Write([]byte(r.StatusMsg))
		if x := r.x; x != nil {
			// Version-2 state; a version-1 user's digest is what it always was.
			h.Write([]byte{1})
			h.Write(strconv.AppendInt(nil, x.storedMS, 10))
			h.Write([]byte{x.kind, x.pres, boolByte(x.remote), boolByte(x.curActive)})
			for _, d := range x.devs {
				h.Write([]byte(d.id))
				h.Write([]byte{0, d.pres, d.flags})
				h.Write(strconv.AppendInt(nil, d.activeMS, 10))
				h.Write([]byte{0})
				h.Write(strconv.AppendInt(nil, d.syncMS, 10))
				h.Write([]byte{0})
				h.Write(strconv.AppendUint(nil, uint64(d.holdMS), 10))
				h.Write([]byte{0})
			}
		}
		sum += h.Sum64()
		n++
		return true
	})
	return fmt.Sprintf("%d:%016x", n, sum)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
