package golang

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

const buildInfoMagic = "\xff Go buildinf:"

const (
	headerSize   = 32
	window       = 256 << 10
	maxVersion   = 1 << 10
	maxModInfo   = 4 << 20
	flagsInline  = 0x2
	sentinelSize = 16
)

// ErrLegacyBuildInfo reports a binary built before Go 1.18 whose module
// information was not found either; its header alone points elsewhere.
var ErrLegacyBuildInfo = errors.New("build info of a Go binary older than Go 1.18 is not readable from a stream")

// isExecutable reports whether b starts like an ELF, PE or Mach-O file.
func isExecutable(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")), bytes.HasPrefix(b, []byte("MZ")):
		return true
	}
	switch binary.BigEndian.Uint32(b) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe:
		return true
	}
	return false
}

// The module information text is framed by these sentinels wherever the
// linker stores it; binaries of every Go release since 1.13 keep a framed
// copy among their read-only data.
const (
	infoStart = "\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6"
	infoEnd   = "\xf9\x32\x43\x31\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2"
)

// windows recycles scan buffers: an image holds hundreds of executables,
// and a fresh window for each made most of a cold scan's garbage.
var windows = sync.Pool{New: func() any { b := make([]byte, 0, window+len(infoStart)); return &b }}

// buildInfo is what a stream scan found.
type buildInfo struct {
	goVersion string // "" when unknown
	modInfo   string // the text debug.ParseBuildInfo reads
	// legacy marks a binary older than Go 1.18, whose header points at
	// the Go version instead of holding it.
	legacy bool
}

// scanBuildInfo reads r to the embedded build information. It prefers the
// Go 1.18+ header, which holds the Go version and the module information
// inline; for older binaries it keeps the framed module information met on
// the way. A zero buildInfo means r holds no Go build information.
func scanBuildInfo(ctx context.Context, r io.Reader) (buildInfo, error) {
	var found buildInfo
	bp := windows.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 2*window { // a window grown for a long candidate is let go
			*bp = buf[:0]
			windows.Put(bp)
		}
	}()
	eof := false
	fill := func(n int) error { // read until len(buf) >= n or EOF
		for len(buf) < n && !eof {
			if cap(buf)-len(buf) < 4096 {
				nb := make([]byte, len(buf), max(2*cap(buf), n))
				copy(nb, buf)
				buf = nb
			}
			m, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				return fmt.Errorf("read: %w", err)
			}
		}
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return buildInfo{}, err
		}
		if err := fill(window); err != nil {
			return buildInfo{}, err
		}
		if found.modInfo == "" {
			if s := bytes.Index(buf, []byte(infoStart)); s >= 0 {
				for {
					e := bytes.Index(buf[s+len(infoStart):], []byte(infoEnd))
					if e >= 0 {
						found.modInfo = string(buf[s+len(infoStart) : s+len(infoStart)+e])
						break
					}
					if eof || len(buf)-s > maxModInfo {
						break
					}
					if err := fill(len(buf) + window); err != nil {
						return buildInfo{}, err
					}
				}
			}
		}
		i := bytes.Index(buf, []byte(buildInfoMagic))
		for i >= 0 {
			v, m, need, err := decodeInline(buf[i:])
			for need > 0 && !eof {
				if err := fill(i + need); err != nil {
					return buildInfo{}, err
				}
				v, m, need, err = decodeInline(buf[i:])
			}
			if err == nil && need == 0 {
				return buildInfo{goVersion: v, modInfo: m}, nil
			}
			if errors.Is(err, ErrLegacyBuildInfo) {
				found.legacy = true
				return found, nil
			}
			// Not the real header: the magic also occurs as a string
			// constant in binaries that link debug/buildinfo.
			j := bytes.Index(buf[i+1:], []byte(buildInfoMagic))
			if j < 0 {
				break
			}
			i += 1 + j
		}
		if eof {
			return found, nil
		}
		// Keep a tail that may hold the start of a marker split across reads.
		keep := len(infoStart) - 1
		if len(buf) > keep {
			copy(buf, buf[len(buf)-keep:])
			buf = buf[:keep]
		}
		if cap(buf) > 2*window { // shrink after a long candidate grew it
			nb := make([]byte, len(buf), window+len(infoStart))
			copy(nb, buf)
			buf = nb
		}
	}
}

var errNotBuildInfo = errors.New("not Go build info")

// decodeInline decodes the Go 1.18+ layout: a 32-byte header whose flags
// byte has bit 1 set, then the Go version and the module information, each
// as a uvarint length and bytes. need > 0 asks for that many bytes of b.
func decodeInline(b []byte) (goVersion, modInfo string, need int, err error) {
	if len(b) < headerSize {
		return "", "", headerSize, errNotBuildInfo
	}
	ptrSize, flags := b[len(buildInfoMagic)], b[len(buildInfoMagic)+1]
	if ptrSize != 4 && ptrSize != 8 {
		return "", "", 0, errNotBuildInfo
	}
	if flags&flagsInline == 0 {
		return "", "", 0, ErrLegacyBuildInfo
	}
	off := headerSize
	vers, off, need := readString(b, off, maxVersion)
	if need != 0 || vers == nil {
		return "", "", need, errNotBuildInfo
	}
	mod, _, need := readString(b, off, maxModInfo)
	if need != 0 || mod == nil {
		return "", "", need, errNotBuildInfo
	}
	if !bytes.HasPrefix(vers, []byte("go")) && !bytes.HasPrefix(vers, []byte("devel")) {
		return "", "", 0, errNotBuildInfo
	}
	// The module information is framed by 16-byte sentinels.
	if len(mod) >= 2*sentinelSize+1 && mod[len(mod)-sentinelSize-1] == '\n' {
		mod = mod[sentinelSize : len(mod)-sentinelSize]
	} else {
		mod = nil
	}
	return string(vers), string(mod), 0, nil
}

// readString reads a uvarint-prefixed string at off. A nil result with
// need == 0 means the bytes are not a valid string of at most limit bytes.
func readString(b []byte, off, limit int) (s []byte, next, need int) {
	n, w := binary.Uvarint(b[off:])
	switch {
	case w == 0: // buffer too short
		return nil, 0, off + binary.MaxVarintLen64
	case w < 0 || n > uint64(limit):
		return nil, 0, 0
	}
	end := off + w + int(n)
	if end > len(b) {
		return nil, 0, end
	}
	return b[off+w : end], end, 0
}
