package gunzip

// Decoding tables. A table maps the next primaryBits of the stream
// (least significant bit first, as deflate packs codes) to an entry; codes
// longer than primaryBits go through a subtable the entry points to.
//
// Entry layout (uint32):
//
//	bits 0-4   bits the code takes (for a subtable pointer: primaryBits)
//	bits 5-7   kind
//	bits 8-12  extra bits that follow the code (for a pointer: subtable bits)
//	bits 16-31 value: literal byte, base length, base distance, subtable index
//
// The zero entry is kindInvalid, so codes no symbol owns decode as errors.
const (
	kindInvalid = iota
	kindLit
	kindLen // a length or a distance with its base and extra bits
	kindEOB
	kindSub
)

const (
	litBits  = 10
	distBits = 8
	litMask  = 1<<litBits - 1
	distMask = 1<<distBits - 1
	// Table sizes with room for every complete code of the alphabet (the
	// largest sums of subtables for 288 and 32 symbols of up to 15 bits).
	litTableSize  = 2048
	distTableSize = 1024
	maxCodeLen    = 15
	numLitCodes   = 288
	numDistCodes  = 32
	maxNumLit     = 286 // symbols 286 and 287 exist only in the fixed code, invalid
	maxNumDist    = 30
)

func entry(kind, nbits, extra, value uint32) uint32 {
	return value<<16 | extra<<8 | kind<<5 | nbits
}

var (
	lenBase  = [29]uint32{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint32{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	// distBase and distExtra cover the 30 valid distance symbols.
	distBase  = [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint32{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// litSym is the entry payload (without code length) of a literal/length symbol.
func litSym(sym int) uint32 {
	switch {
	case sym < 256:
		return entry(kindLit, 0, 0, uint32(sym))
	case sym == 256:
		return entry(kindEOB, 0, 0, 0)
	case sym < maxNumLit:
		return entry(kindLen, 0, lenExtra[sym-257], lenBase[sym-257])
	}
	return 0
}

func distSym(sym int) uint32 {
	if sym < maxNumDist {
		return entry(kindLen, 0, distExtra[sym], distBase[sym])
	}
	return 0
}

// codeOK reports whether lengths form a code compress/flate accepts: empty,
// complete, or a single code of one bit.
func codeOK(lengths []uint8) bool {
	var count [maxCodeLen + 1]int
	maxLen := 0
	for _, l := range lengths {
		if l != 0 {
			count[l]++
			maxLen = max(maxLen, int(l))
		}
	}
	if maxLen == 0 {
		return true
	}
	sum := 0 // Kraft sum scaled by 2^maxLen
	for l := 1; l <= maxLen; l++ {
		sum += count[l] << (maxLen - l)
	}
	return sum == 1<<maxLen || (sum == 1 && maxLen == 1)
}

// buildTable fills t for the code of lengths, which codeOK accepted; sym
// gives each symbol's entry payload. It reports false if t is too small,
// which a valid code never makes it.
func buildTable(t []uint32, lengths []uint8, primary uint, sym func(int) uint32) bool {
	var count [maxCodeLen + 1]int
	for _, l := range lengths {
		count[l]++
	}
	count[0] = 0
	var next [maxCodeLen + 2]int
	code := 0
	for l := 1; l <= maxCodeLen; l++ {
		code = (code + count[l-1]) << 1
		next[l] = code
	}
	size := 1 << primary
	clear(t[:size])
	// need[p] is the subtable bits for primary prefix p; the codes are
	// assigned first so subtables can be sized.
	var codes [numLitCodes]uint16
	var need [1 << litBits]uint8
	mask := 1<<primary - 1
	for s, l := range lengths {
		if l == 0 {
			continue
		}
		c := reverse(next[l], int(l))
		next[l]++
		codes[s] = uint16(c)
		if uint(l) > primary {
			p := c & mask
			need[p] = max(need[p], l-uint8(primary))
		}
	}
	var subAt [1 << litBits]int
	end := size
	for p := 0; p < size; p++ {
		if need[p] == 0 {
			continue
		}
		n := 1 << need[p]
		if end+n > len(t) {
			return false
		}
		clear(t[end : end+n])
		subAt[p] = end
		t[p] = entry(kindSub, uint32(primary), uint32(need[p]), uint32(end))
		end += n
	}
	for s, l := range lengths {
		if l == 0 {
			continue
		}
		c := int(codes[s])
		if uint(l) <= primary {
			e := sym(s)
			if e == 0 {
				e = entry(kindInvalid, uint32(l), 0, 0)
			} else {
				e |= uint32(l)
			}
			for i := c; i < size; i += 1 << l {
				t[i] = e
			}
			continue
		}
		p := c & mask
		sl := int(l) - int(primary)
		e := sym(s)
		if e == 0 {
			e = entry(kindInvalid, uint32(sl), 0, 0)
		} else {
			e |= uint32(sl)
		}
		base := subAt[p]
		for i := c >> primary; i < 1<<need[p]; i += 1 << sl {
			t[base+i] = e
		}
	}
	return true
}

func reverse(c, n int) int {
	r := 0
	for range n {
		r = r<<1 | c&1
		c >>= 1
	}
	return r
}
