package audit

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
)

// Markers that truncateDetails adds to what it shortens. They replace
// fields of the same name in the original.
const (
	markTruncated    = "truncated"     // true
	markOriginalSize = "original_size" // bytes of the compact original
	markOmitted      = "omitted"       // names of fields left out (at most maxOmittedNames)
	markOmittedCount = "omitted_count" // how many fields were left out
)

// truncateReserve is kept free for the markers; maxOmittedNames and
// maxOmittedName bound their size.
const (
	truncateReserve = 2048
	maxOmittedNames = 16
	maxOmittedName  = 64
)

// truncateDetails shortens a compact JSON object larger than maxDetails
// to at most maxDetails bytes of valid JSON, deterministically (the same
// input always gives the same bytes, so a stored record rehashes the
// same). Fields are taken smallest first, each whole while it fits,
// else cut to an equal share of the room left for it and the rest: a
// string to a prefix ending in "…", an array to its leading elements,
// anything else to a string prefix of its JSON text. Fields left without
// room are named under "omitted". The result says "truncated": true and
// carries "original_size".
func truncateDetails(compact []byte) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(compact, &obj); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if k != markTruncated && k != markOriginalSize && k != markOmitted && k != markOmittedCount {
			keys = append(keys, k)
		}
	}
	// Smallest first, so short fields (a reason, a digest) survive whole
	// and the large ones share what is left.
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(obj[a]), len(obj[b])), cmp.Compare(a, b))
	})

	var b bytes.Buffer
	b.WriteByte('{')
	budget := maxDetails - truncateReserve
	var omitted []string
	nOmitted := 0
	for i, k := range keys {
		name := jsonString(k)
		v := obj[k]
		// Whole if it fits; else cut to an equal share of what is left
		// for this and each later field (its name, colon, value and the
		// comma after it).
		if len(name)+len(v)+2 > budget-b.Len() {
			room := (budget-b.Len())/(len(keys)-i) - len(name) - 2
			var ok bool
			if v, ok = shrink(v, room); !ok {
				nOmitted++
				if len(omitted) < maxOmittedNames {
					omitted = append(omitted, field(cutUTF8(k, maxOmittedName)))
				}
				continue
			}
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(v)
		b.WriteByte(',')
	}
	if nOmitted > 0 {
		names, _ := json.Marshal(omitted)
		b.WriteString(`"` + markOmitted + `":`)
		b.Write(names)
		b.WriteString(`,"` + markOmittedCount + `":` + strconv.Itoa(nOmitted) + `,`)
	}
	b.WriteString(`"` + markOriginalSize + `":` + strconv.Itoa(len(compact)) + `,"` + markTruncated + `":true}`)
	return b.Bytes(), nil
}

// shrink cuts the JSON value v to at most room bytes, or reports false
// when nothing useful fits.
func shrink(v json.RawMessage, room int) (json.RawMessage, bool) {
	const minRoom = 16
	if room < minRoom {
		return nil, false
	}
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, false
		}
		return shrinkString(s, room), true
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(v, &elems); err != nil {
			return nil, false
		}
		var b bytes.Buffer
		b.WriteByte('[')
		for i, e := range elems {
			if b.Len()+len(e)+2 > room {
				break
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(e)
		}
		b.WriteByte(']')
		return b.Bytes(), true
	}
	return shrinkString(string(v), room), true
}

// shrinkString encodes the longest prefix of s, plus "…", whose JSON
// string fits in room bytes (room >= 16). Escapes make the encoding
// longer than the text, so the prefix shortens until it fits.
func shrinkString(s string, room int) json.RawMessage {
	n := room - 2 - len("…")
	for {
		enc := jsonString(cutUTF8(s, n) + "…")
		if len(enc) <= room {
			return enc
		}
		// At most six bytes per escaped byte: shorten by the excess.
		n -= max((len(enc)-room+5)/6, 1)
	}
}

// jsonString encodes s as a JSON string without escaping HTML
// characters, as json.Compact leaves them.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
