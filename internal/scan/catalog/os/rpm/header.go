package rpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Header tags read (rpmtag.h).
const (
	tagName       = 1000
	tagVersion    = 1001
	tagRelease    = 1002
	tagEpoch      = 1003
	tagLicense    = 1014
	tagArch       = 1022
	tagSourceRPM  = 1044
	tagDirIndexes = 1116
	tagBaseNames  = 1117
	tagDirNames   = 1118
)

// Header data types.
const (
	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

// Limits from rpm itself (header_internal.h): at most 0xffff entries and
// 256 MiB of data per header.
const (
	maxEntries = 0xffff
	maxData    = 256 << 20
)

// ErrBadHeader reports a header blob that cannot be decoded.
var ErrBadHeader = errors.New("malformed rpm header")

// ParseHeader decodes a header blob as stored in an rpmdb: a count of
// index entries and the data size (big-endian int32s), the 16-byte index
// entries (tag, type, offset, count) and the data area.
func ParseHeader(b []byte) (*Header, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadHeader, len(b))
	}
	il := binary.BigEndian.Uint32(b[0:4])
	dl := binary.BigEndian.Uint32(b[4:8])
	if il == 0 || il > maxEntries || dl > maxData {
		return nil, fmt.Errorf("%w: %d entries, %d data bytes", ErrBadHeader, il, dl)
	}
	dataStart := 8 + 16*uint64(il)
	if uint64(len(b)) < dataStart+uint64(dl) {
		return nil, fmt.Errorf("%w: truncated", ErrBadHeader)
	}
	data := b[dataStart : dataStart+uint64(dl)]
	h := &Header{}
	for i := range uint64(il) {
		e := b[8+16*i : 8+16*i+16]
		tag := binary.BigEndian.Uint32(e[0:4])
		typ := binary.BigEndian.Uint32(e[4:8])
		off := binary.BigEndian.Uint32(e[8:12])
		cnt := binary.BigEndian.Uint32(e[12:16])
		if uint64(off) > uint64(len(data)) {
			return nil, fmt.Errorf("%w: tag %d offset %d past data", ErrBadHeader, tag, off)
		}
		v := data[off:]
		var err error
		switch tag {
		case tagName:
			h.Name, err = str(v, typ)
		case tagVersion:
			h.Version, err = str(v, typ)
		case tagRelease:
			h.Release, err = str(v, typ)
		case tagArch:
			h.Arch, err = str(v, typ)
		case tagLicense:
			h.License, err = str(v, typ)
		case tagSourceRPM:
			h.SourceRPM, err = str(v, typ)
		case tagEpoch:
			var ep []int32
			if ep, err = int32s(v, typ, cnt); err == nil && len(ep) > 0 {
				h.Epoch = &ep[0]
			}
		case tagDirIndexes:
			h.DirIndexes, err = int32s(v, typ, cnt)
		case tagBaseNames:
			h.BaseNames, err = strs(v, typ, cnt)
		case tagDirNames:
			h.DirNames, err = strs(v, typ, cnt)
		}
		if err != nil {
			return nil, fmt.Errorf("tag %d: %w", tag, err)
		}
	}
	return h, nil
}

func str(v []byte, typ uint32) (string, error) {
	if typ != typeString && typ != typeI18NString && typ != typeStringArray {
		return "", fmt.Errorf("%w: type %d for a string", ErrBadHeader, typ)
	}
	i := bytes.IndexByte(v, 0)
	if i < 0 {
		return "", fmt.Errorf("%w: unterminated string", ErrBadHeader)
	}
	return string(v[:i]), nil
}

func strs(v []byte, typ, cnt uint32) ([]string, error) {
	if typ != typeStringArray && typ != typeI18NString {
		return nil, fmt.Errorf("%w: type %d for a string array", ErrBadHeader, typ)
	}
	// Each string takes at least its terminator, so cnt is bounded by
	// the data left.
	if uint64(cnt) > uint64(len(v)) {
		return nil, fmt.Errorf("%w: %d strings in %d bytes", ErrBadHeader, cnt, len(v))
	}
	out := make([]string, 0, cnt)
	for range cnt {
		i := bytes.IndexByte(v, 0)
		if i < 0 {
			return nil, fmt.Errorf("%w: unterminated string", ErrBadHeader)
		}
		out = append(out, string(v[:i]))
		v = v[i+1:]
	}
	return out, nil
}

func int32s(v []byte, typ, cnt uint32) ([]int32, error) {
	if typ != typeInt32 {
		return nil, fmt.Errorf("%w: type %d for int32", ErrBadHeader, typ)
	}
	if uint64(cnt)*4 > uint64(len(v)) {
		return nil, fmt.Errorf("%w: %d int32s in %d bytes", ErrBadHeader, cnt, len(v))
	}
	out := make([]int32, cnt)
	for i := range out {
		out[i] = int32(binary.BigEndian.Uint32(v[4*i:]))
	}
	return out, nil
}
