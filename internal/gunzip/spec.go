package gunzip

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
)

// Speculative decoding of one chunk (the two-stage method): find a block
// boundary at or after the chunk's start by trying block headers at each
// bit offset, then decode from there not knowing the 32 KiB window before
// it. References into that window come out as markers (256 + the offset
// in the window) in 16-bit output; once 32 KiB pass without a marker the
// decoder continues in bytes. The driver resolves the markers when the
// window is known and uses the output only if its own decoding reached
// exactly the chunk's start.

const (
	windowSize = 32 << 10
	// maxTrials bounds the candidate starts decoded past their header.
	maxTrials = 16
	// markerCheck is how often, in output, the decoder checks whether
	// markers died out.
	markerCheck = 64 << 10
)

// errSpecFailed ends a speculation that cannot be used; the driver
// decodes the range itself.
var errSpecFailed = errors.New("speculation failed")

// job is one chunk's speculative decode.
type job struct {
	in    []byte // compressed bytes from base, with padding
	n     int
	base  int64 // stream offset of in[0]
	final bool  // in reaches the end of the stream
	// from is the first bit to try, search the bits tried, limit the bit at
	// or after which the decode stops at the first qualifying boundary.
	from, search, limit int64
	maxOut, maxMarked   int

	done chan struct{}
	// Results, valid after done is closed.
	err        error
	start, end int64 // bit positions of the first block and the stop
	last       bool  // the stop is the end of the final block
	marked     []uint16
	plain      []byte
	mkBuf      []uint16 // backing arrays, reused across trial starts
	plBuf      []byte
	res        []byte // marked, resolved
}

// qualifies reports whether a block may start at bit (relative to in):
// a non-final stored block with zero padding and matching lengths, or a
// non-final dynamic block whose code-length code is complete. The search
// and the decode's stop rule use it alike, so they agree on boundaries.
func qualifies(in []byte, n int, bit int64) bool {
	ip := int(bit >> 3)
	if ip+8 > len(in) {
		return false
	}
	v := binary.LittleEndian.Uint64(in[ip:]) >> (bit & 7)
	if v&1 != 0 {
		return false
	}
	switch v >> 1 & 3 {
	case 0:
		end := bit + 3
		pad := (8 - end&7) & 7
		if v>>3&(1<<pad-1) != 0 {
			return false
		}
		q := int((end + pad) >> 3)
		if q+4 > n {
			return false
		}
		return binary.LittleEndian.Uint16(in[q:]) == ^binary.LittleEndian.Uint16(in[q+2:])
	case 2:
		if v>>3&31 > 29 || v>>8&31 > 29 {
			return false
		}
		nclen := int(v>>13&15) + 4
		at := bit + 17
		p := int(at >> 3)
		if p+16 > len(in) {
			return false
		}
		// 18 lengths fit in one load, the 19th needs a second.
		w := binary.LittleEndian.Uint64(in[p:]) >> (at & 7)
		var kraft, count, maxLen int
		for i := 0; i < nclen; i++ {
			if i == 18 {
				w = binary.LittleEndian.Uint64(in[p+6:]) >> (at&7 + 6)
			}
			l := int(w & 7)
			w >>= 3
			if l != 0 {
				kraft += 1 << (7 - l)
				count++
				maxLen = max(maxLen, l)
			}
		}
		return kraft == 128 || (count == 1 && maxLen == 1)
	}
	return false
}

// speculate runs j on f; stop aborts it at the next block boundary.
func speculate(j *job, f *inflater, stop *atomic.Bool) {
	defer close(j.done)
	j.err = errSpecFailed
	lo := j.from - j.base*8
	hi := min(lo+j.search, int64(j.n)*8)
	trials := 0
	for bit := lo; bit < hi && trials < maxTrials; bit++ {
		if !qualifies(j.in, j.n, bit) {
			continue
		}
		if stop.Load() {
			return
		}
		err, started := decodeChunk(j, f, bit, stop)
		if err == nil {
			j.err = nil
			return
		}
		if !errors.Is(err, errCorrupt) {
			return // out of input or output: later starts fare no better
		}
		if started {
			trials++
		}
	}
}

// grow returns buf with its contents up to n kept and at least double
// the room, within limit elements; ok is false at the limit.
func grow[T byte | uint16](buf []T, n, limit int) ([]T, bool) {
	if len(buf) >= limit {
		return buf, false
	}
	nb := make([]T, min(max(2*len(buf), windowSize+1<<20), limit))
	copy(nb, buf[:n])
	return nb, true
}

// decodeChunk decodes j from bit (relative to j.in). started reports
// whether the first header was accepted.
func decodeChunk(j *job, f *inflater, bit int64, stop *atomic.Bool) (err error, started bool) {
	f.reset(j.in, j.n, j.base, int(bit), j.final)
	j.start = j.base*8 + bit
	mk := j.mkBuf
	if len(mk) == 0 {
		mk, _ = grow(mk, 0, windowSize+j.maxMarked)
	}
	for i := range windowSize {
		mk[i] = uint16(256 + i)
	}
	defer func() { j.mkBuf = mk }()
	op, lastMarker, checked := windowSize, windowSize-1, windowSize
	var ev event
	for {
		// Stop every markerCheck elements to see whether the markers died
		// out, as blocks can be long.
		op, ev, err = inflate(f, mk[:min(len(mk), op+markerCheck)], op)
		if err != nil {
			return err, started || op > windowSize || f.state != stHeader
		}
		started = true
		for i := op - 1; i >= checked; i-- {
			if mk[i] >= 256 {
				lastMarker = i
				break
			}
		}
		checked = op
		switch ev {
		case evEnd:
			j.last, j.end = true, f.pos()
			j.marked, j.plain = mk[windowSize:op], nil
			return nil, true
		case evOutFull:
			if op <= len(mk)-maxMatch { // only the check's stop
				if op-lastMarker <= windowSize {
					continue
				}
				break
			}
			var ok bool
			if mk, ok = grow(mk, op, windowSize+j.maxMarked); !ok {
				return errSpecFailed, true
			}
			continue
		case evNeedInput:
			return errSpecFailed, true
		}
		if ev == evBoundary {
			if stop.Load() {
				return errSpecFailed, true
			}
			if f.pos() >= j.limit && qualifies(f.in, f.n, f.pos()-j.base*8) {
				j.last, j.end = false, f.pos()
				j.marked, j.plain = mk[windowSize:op], nil
				return nil, true
			}
		}
		if op-lastMarker > windowSize {
			break
		}
	}
	// The last 32 KiB hold no marker: continue in bytes.
	j.marked = mk[windowSize:op]
	limit := windowSize + j.maxOut - len(j.marked)
	pl := j.plBuf
	if len(pl) == 0 {
		pl, _ = grow(pl, 0, limit)
	}
	defer func() { j.plBuf = pl }()
	for i, v := range mk[op-windowSize : op] {
		pl[i] = byte(v)
	}
	pp := windowSize
	for {
		pp, ev, err = inflate(f, pl[:min(len(pl), limit)], pp)
		if err != nil {
			return err, true
		}
		switch ev {
		case evEnd:
			j.last, j.end = true, f.pos()
			j.plain = pl[windowSize:pp]
			return nil, true
		case evOutFull:
			var ok bool
			if pl, ok = grow(pl, pp, limit); !ok {
				return errSpecFailed, true
			}
			continue
		case evNeedInput:
			return errSpecFailed, true
		}
		if stop.Load() {
			return errSpecFailed, true
		}
		if f.pos() >= j.limit && qualifies(f.in, f.n, f.pos()-j.base*8) {
			j.last, j.end = false, f.pos()
			j.plain = pl[windowSize:pp]
			return nil, true
		}
	}
}
