package vulndb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// EPSS is the exploit prediction score of one CVE.
type EPSS struct {
	Score      float32 `json:"score"`
	Percentile float32 `json:"percentile"`
}

// The EPSS table is stored as fixed-size records sorted by CVE, so opening
// it is one read and a lookup is a binary search, with no decoding:
//
//	"MOATEPS1" | count uint32 | count × (year uint16, seq uint32, score float32, percentile float32)
//
// all little-endian. 360k scores make 5 MB.
const (
	epssMagic  = "MOATEPS1"
	epssRecLen = 14
)

type epssTable struct{ recs []byte }

// cveKey splits "CVE-2021-44228" into (2021, 44228).
func cveKey(cve string) (uint16, uint32, bool) {
	rest, ok := strings.CutPrefix(cve, "CVE-")
	if !ok {
		return 0, 0, false
	}
	ys, ns, ok := strings.Cut(rest, "-")
	// Only the canonical spelling has a key: "CVE-2021-044228" must not
	// share one with (and overwrite) CVE-2021-44228.
	if !ok || ys == "" || (ys[0] == '0' && ys != "0") || len(ns) < 4 || (len(ns) > 4 && ns[0] == '0') {
		return 0, 0, false
	}
	y, err1 := strconv.ParseUint(ys, 10, 16)
	n, err2 := strconv.ParseUint(ns, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint16(y), uint32(n), true
}

func (t *epssTable) lookup(cve string) (EPSS, bool) {
	y, n, ok := cveKey(cve)
	if !ok || t == nil {
		return EPSS{}, false
	}
	count := len(t.recs) / epssRecLen
	key := uint64(y)<<32 | uint64(n)
	i := sort.Search(count, func(i int) bool {
		r := t.recs[i*epssRecLen:]
		return uint64(binary.LittleEndian.Uint16(r))<<32|uint64(binary.LittleEndian.Uint32(r[2:])) >= key
	})
	if i >= count {
		return EPSS{}, false
	}
	r := t.recs[i*epssRecLen:]
	if uint64(binary.LittleEndian.Uint16(r))<<32|uint64(binary.LittleEndian.Uint32(r[2:])) != key {
		return EPSS{}, false
	}
	return EPSS{
		Score:      math.Float32frombits(binary.LittleEndian.Uint32(r[6:])),
		Percentile: math.Float32frombits(binary.LittleEndian.Uint32(r[10:])),
	}, true
}

func decodeEPSS(b []byte) (*epssTable, error) {
	if len(b) < len(epssMagic)+4 || string(b[:len(epssMagic)]) != epssMagic {
		return nil, errors.New("bad EPSS table header")
	}
	n := int(binary.LittleEndian.Uint32(b[len(epssMagic):]))
	recs := b[len(epssMagic)+4:]
	if len(recs) != n*epssRecLen {
		return nil, fmt.Errorf("EPSS table holds %d bytes, want %d", len(recs), n*epssRecLen)
	}
	return &epssTable{recs: recs}, nil
}

func encodeEPSS(m map[string]EPSS) []byte {
	type rec struct {
		key uint64
		e   EPSS
	}
	rs := make([]rec, 0, len(m))
	for cve, e := range m {
		if y, n, ok := cveKey(cve); ok {
			rs = append(rs, rec{uint64(y)<<32 | uint64(n), e})
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].key < rs[j].key })
	out := make([]byte, len(epssMagic)+4, len(epssMagic)+4+len(rs)*epssRecLen)
	copy(out, epssMagic)
	binary.LittleEndian.PutUint32(out[len(epssMagic):], uint32(len(rs)))
	var r [epssRecLen]byte
	for _, x := range rs {
		binary.LittleEndian.PutUint16(r[0:], uint16(x.key>>32))
		binary.LittleEndian.PutUint32(r[2:], uint32(x.key))
		binary.LittleEndian.PutUint32(r[6:], math.Float32bits(x.e.Score))
		binary.LittleEndian.PutUint32(r[10:], math.Float32bits(x.e.Percentile))
		out = append(out, r[:]...)
	}
	return out
}

// ParseEPSS reads EPSS scores into dst. It accepts both the per-year files
// (`CVE;epss;percentile`, no header) and FIRST's daily CSV (comma
// separated, a `#model_version` comment and a `cve,epss,percentile`
// header). Malformed rows are counted in the returned warning count.
func ParseEPSS(r io.Reader, dst map[string]EPSS) (warnings int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		sep := ";"
		if !strings.Contains(line, ";") {
			sep = ","
		}
		f := strings.Split(line, sep)
		if len(f) < 3 {
			warnings++
			continue
		}
		cve := strings.TrimSpace(f[0])
		if strings.EqualFold(cve, "cve") {
			continue // header
		}
		s, err1 := strconv.ParseFloat(strings.TrimSpace(f[1]), 32)
		p, err2 := strconv.ParseFloat(strings.TrimSpace(f[2]), 32)
		if _, _, ok := cveKey(cve); !ok || err1 != nil || err2 != nil {
			warnings++
			continue
		}
		dst[cve] = EPSS{Score: float32(s), Percentile: float32(p)}
	}
	if err := sc.Err(); err != nil {
		return warnings, fmt.Errorf("%w: EPSS: %w", ErrFormat, err)
	}
	return warnings, nil
}
