package gunzip

import (
	"encoding/binary"
	"errors"
	"io"
)

// padding is the zero bytes kept after the input so the bit buffer can
// always load 8 bytes.
const padding = 16

// maxHeaderBytes bounds the bytes a block header can take: 3+14 bits,
// 19 3-bit lengths and 316 lengths of at most 7+7 bits.
const maxHeaderBytes = 600

// errCorrupt is the deflate data error; the Reader reports it as a
// CorruptError with the offset.
var errCorrupt = errors.New("corrupt deflate data")

// event is why inflate returned.
type event int

const (
	evNone      event = iota // nothing to report: a header was read or a block ended
	evOutFull                // fewer than maxMatch bytes left in out
	evNeedInput              // input runs short and more may come
	evEnd                    // the final block ended
)

const maxMatch = 258

type blockState int

const (
	stHeader blockState = iota
	stStored
	stHuff
	stDone
)

// inflater decodes deflate (RFC 1951) from a byte slice. Its state changes
// only between symbols, so it can stop there for more input or output room
// and resume. Absolute bit positions count from the stream offset base.
type inflater struct {
	in    []byte // len(in) >= n+padding; in[n:] is zero
	n     int
	ip    int
	base  int64
	bits  uint64
	nb    uint
	final bool // no input beyond in[:n]

	state  blockState
	last   bool // the current block is the final one
	stored int  // bytes left in the current stored block

	lit  [litTableSize]uint32
	dist [distTableSize]uint32
	lens [numLitCodes + numDistCodes]uint8
}

// pos is the absolute bit position of the next unread bit.
func (f *inflater) pos() int64 { return (f.base+int64(f.ip))*8 - int64(f.nb) }

// reset points f at in[:n] (in has the padding), starting at bit off of it,
// at a block boundary.
func (f *inflater) reset(in []byte, n int, base int64, off int, final bool) {
	f.in, f.n, f.base, f.final = in, n, base, final
	f.ip, f.bits, f.nb = off>>3, 0, 0
	f.state, f.last, f.stored = stHeader, false, 0
	if k := off & 7; k != 0 {
		f.bits = uint64(in[f.ip]) >> k
		f.nb = uint(8 - k)
		f.ip++
	}
}

// refill loads whole bytes into the bit buffer; past n it loads padding
// zeros, which overrun catches.
func (f *inflater) refill() {
	f.bits |= binary.LittleEndian.Uint64(f.in[f.ip:]) << f.nb
	f.ip += int(63-f.nb) >> 3
	f.nb |= 56
}

// overrun reports whether decoding consumed bits past the input.
func (f *inflater) overrun() bool {
	return f.ip > f.n && int64(f.ip)*8-int64(f.nb) > int64(f.n)*8
}

// header reads the next block header.
func (f *inflater) header() (event, error) {
	if f.last {
		f.state = stDone
		return evEnd, nil
	}
	if !f.final && f.n-f.ip < maxHeaderBytes {
		return evNeedInput, nil
	}
	f.refill()
	f.last = f.bits&1 == 1
	typ := (f.bits >> 1) & 3
	f.bits >>= 3
	f.nb -= 3
	if f.overrun() {
		return 0, io.ErrUnexpectedEOF
	}
	switch typ {
	case 0:
		// Stored: drop to a byte boundary, hand whole buffered bytes back.
		f.bits >>= f.nb & 7
		f.nb -= f.nb & 7
		f.ip -= int(f.nb >> 3)
		f.bits, f.nb = 0, 0
		if f.ip+4 > f.n {
			return 0, io.ErrUnexpectedEOF
		}
		l := binary.LittleEndian.Uint16(f.in[f.ip:])
		nl := binary.LittleEndian.Uint16(f.in[f.ip+2:])
		if l != ^nl {
			return 0, errCorrupt
		}
		f.ip += 4
		f.stored = int(l)
		f.state = stStored
	case 1:
		f.fixed()
		f.state = stHuff
	case 2:
		if err := f.dynamic(); err != nil {
			return 0, err
		}
		if f.overrun() {
			return 0, io.ErrUnexpectedEOF
		}
		f.state = stHuff
	default:
		return 0, errCorrupt
	}
	return evNone, nil
}

func (f *inflater) fixed() {
	l := f.lens[:numLitCodes+numDistCodes]
	for i := range 144 {
		l[i] = 8
	}
	for i := 144; i < 256; i++ {
		l[i] = 9
	}
	for i := 256; i < 280; i++ {
		l[i] = 7
	}
	for i := 280; i < 288; i++ {
		l[i] = 8
	}
	for i := 288; i < 320; i++ {
		l[i] = 5
	}
	buildTable(f.lit[:], l[:288], litBits, litSym)
	buildTable(f.dist[:], l[288:], distBits, distSym)
}

var codeOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads a dynamic block's code definitions; the 3 header bits are
// consumed.
func (f *inflater) dynamic() error {
	f.refill()
	nlit := int(f.bits&0x1f) + 257
	ndist := int(f.bits>>5&0x1f) + 1
	nclen := int(f.bits>>10&0xf) + 4
	f.bits >>= 14
	f.nb -= 14
	if nlit > maxNumLit || ndist > maxNumDist {
		return errCorrupt
	}
	var cl [19]uint8
	for i := range nclen {
		if f.nb < 3 {
			f.refill()
		}
		if f.overrun() {
			return io.ErrUnexpectedEOF
		}
		cl[codeOrder[i]] = uint8(f.bits & 7)
		f.bits >>= 3
		f.nb -= 3
	}
	if !codeOK(cl[:]) {
		return errCorrupt
	}
	// The code-length code has at most 7-bit codes: a 7-bit table, no
	// subtables.
	var ct [1 << 7]uint32
	buildTable(ct[:], cl[:], 7, func(s int) uint32 { return entry(kindLit, 0, 0, uint32(s)) })
	lens := f.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		if f.nb < 16 {
			f.refill()
		}
		if f.overrun() {
			return io.ErrUnexpectedEOF
		}
		e := ct[f.bits&0x7f]
		if e>>5&7 == kindInvalid {
			return errCorrupt
		}
		f.bits >>= e & 31
		f.nb -= uint(e & 31)
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 {
				return errCorrupt
			}
			v = lens[i-1]
			rep = 3 + int(f.bits&3)
			f.bits >>= 2
			f.nb -= 2
		case 17:
			rep = 3 + int(f.bits&7)
			f.bits >>= 3
			f.nb -= 3
		default:
			rep = 11 + int(f.bits&0x7f)
			f.bits >>= 7
			f.nb -= 7
		}
		if i+rep > len(lens) {
			return errCorrupt
		}
		for range rep {
			lens[i] = v
			i++
		}
		if f.overrun() {
			return io.ErrUnexpectedEOF
		}
	}
	ll, dl := lens[:nlit], lens[nlit:]
	if !codeOK(ll) || !codeOK(dl) {
		return errCorrupt
	}
	if !buildTable(f.lit[:], ll, litBits, litSym) || !buildTable(f.dist[:], dl, distBits, distSym) {
		return errCorrupt // cannot happen for codes codeOK accepts
	}
	return nil
}

// inflate decodes into out from index op, where out[:op] is the history.
// It returns when out is nearly full, when input runs short, at the end of
// the stream, or on an error; out[:op] is valid in every case.
func inflate(f *inflater, out []byte, op int) (int, event, error) {
	for {
		switch f.state {
		case stHeader:
			ev, err := f.header()
			if err != nil || ev != evNone {
				return op, ev, err
			}
		case stStored:
			for f.stored > 0 {
				if f.ip >= f.n {
					if !f.final {
						return op, evNeedInput, nil
					}
					return op, 0, io.ErrUnexpectedEOF
				}
				if op >= len(out) {
					return op, evOutFull, nil
				}
				k := min(f.stored, f.n-f.ip, len(out)-op)
				copy(out[op:], f.in[f.ip:f.ip+k])
				op += k
				f.ip += k
				f.stored -= k
			}
			f.state = stHeader
		case stHuff:
			var ev event
			var err error
			op, ev, err = huffBytes(f, out, op)
			if err != nil || ev != evNone {
				return op, ev, err
			}
			f.state = stHeader
		case stDone:
			return op, evEnd, nil
		}
	}
}

// huff decodes the symbols of a Huffman block until its end (evNone) or a
// stop.
func huff(f *inflater, out []byte, op int) (int, event, error) {
	in, n := f.in, f.n
	ip, bits, nb := f.ip, f.bits, f.nb
	lt, dt := &f.lit, &f.dist
	for {
		if ip+8 > n && !f.final {
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, evNeedInput, nil
		}
		if op > len(out)-maxMatch {
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, evOutFull, nil
		}
		bits |= binary.LittleEndian.Uint64(in[ip:]) << nb
		ip += int(63-nb) >> 3
		nb |= 56

		e := lt[bits&litMask]
		if e>>5&7 == kindSub {
			bits >>= litBits
			nb -= litBits
			e = lt[e>>16+uint32(bits)&(1<<(e>>8&31)-1)]
		}
		cl := uint(e & 31)
		bits >>= cl
		nb -= cl
		if ip > n && int64(ip)*8-int64(nb) > int64(n)*8 {
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, 0, io.ErrUnexpectedEOF
		}
		switch e >> 5 & 7 {
		case kindLit:
			out[op] = byte(e >> 16)
			op++
			continue
		case kindLen:
		case kindEOB:
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, evNone, nil
		default:
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, 0, errCorrupt
		}
		x := uint(e >> 8 & 31)
		length := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nb -= x

		e = dt[bits&distMask]
		if e>>5&7 == kindSub {
			bits >>= distBits
			nb -= distBits
			e = dt[e>>16+uint32(bits)&(1<<(e>>8&31)-1)]
		}
		if e>>5&7 != kindLen {
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, 0, errCorrupt
		}
		cl = uint(e & 31)
		bits >>= cl
		nb -= cl
		x = uint(e >> 8 & 31)
		dist := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nb -= x
		if ip > n && int64(ip)*8-int64(nb) > int64(n)*8 {
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, 0, io.ErrUnexpectedEOF
		}
		if dist > op {
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, 0, errCorrupt
		}
		if dist >= length {
			if length <= 16 {
				d, s := out[op:op+length], out[op-dist:op-dist+length]
				for i := range d {
					d[i] = s[i]
				}
			} else {
				copy(out[op:op+length], out[op-dist:op])
			}
		} else {
			s := out[op-dist : op+length]
			for i := dist; i < len(s); i++ {
				s[i] = s[i-dist]
			}
		}
		op += length
	}
}

// huffBytes is huff for byte output with the common case made fast: while
// 8 input bytes and room for a match plus a word remain, no bound is
// checked per symbol, literals come up to three per refill and matches are
// copied a word at a time. It leaves the rest to huff.
func huffBytes(f *inflater, out []byte, op int) (int, event, error) {
	in, n := f.in, f.n
	ip, bits, nb := f.ip, f.bits, f.nb
	lt, dt := &f.lit, &f.dist
	outEnd := len(out) - maxMatch - 8
	for ip+8 <= n && op <= outEnd {
		bits |= binary.LittleEndian.Uint64(in[ip:]) << nb
		ip += int(63-nb) >> 3
		nb |= 56

		e := lt[bits&litMask]
		if e>>5&7 == kindLit {
			// Up to three literals: each code takes at most 15 of the 56
			// bits.
			bits >>= e & 31
			nb -= uint(e & 31)
			out[op] = byte(e >> 16)
			op++
			e = lt[bits&litMask]
			if e>>5&7 != kindLit {
				continue
			}
			bits >>= e & 31
			nb -= uint(e & 31)
			out[op] = byte(e >> 16)
			op++
			e = lt[bits&litMask]
			if e>>5&7 != kindLit {
				continue
			}
			bits >>= e & 31
			nb -= uint(e & 31)
			out[op] = byte(e >> 16)
			op++
			continue
		}
		if e>>5&7 == kindSub {
			bits >>= litBits
			nb -= litBits
			e = lt[e>>16+uint32(bits)&(1<<(e>>8&31)-1)]
		}
		cl := uint(e & 31)
		bits >>= cl
		nb -= cl
		switch e >> 5 & 7 {
		case kindLit:
			out[op] = byte(e >> 16)
			op++
			continue
		case kindLen:
		case kindEOB:
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, evNone, nil
		default:
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, 0, errCorrupt
		}
		x := uint(e >> 8 & 31)
		length := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nb -= x

		e = dt[bits&distMask]
		if e>>5&7 == kindSub {
			bits >>= distBits
			nb -= distBits
			e = dt[e>>16+uint32(bits)&(1<<(e>>8&31)-1)]
		}
		if e>>5&7 != kindLen {
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, 0, errCorrupt
		}
		cl = uint(e & 31)
		bits >>= cl
		nb -= cl
		x = uint(e >> 8 & 31)
		dist := int(e>>16) + int(bits&(1<<x-1))
		bits >>= x
		nb -= x
		if dist > op {
			f.ip, f.bits, f.nb = ip, bits, nb
			return op, 0, errCorrupt
		}
		src := op - dist
		switch {
		case dist >= 8:
			// Words may write up to 7 bytes past the match, within the
			// room outEnd keeps; they read only bytes already written.
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(out[op+i:], binary.LittleEndian.Uint64(out[src+i:]))
			}
		case dist == 1:
			c := out[src]
			s := out[op : op+length]
			for i := range s {
				s[i] = c
			}
		default:
			s := out[src : op+length]
			for i := dist; i < len(s); i++ {
				s[i] = s[i-dist]
			}
		}
		op += length
	}
	f.ip, f.bits, f.nb = ip, bits, nb
	return huff(f, out, op)
}
