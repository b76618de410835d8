package rust

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
)

const (
	window        = 256 << 10
	probeTail     = 4 << 10 // enough compressed bytes to inflate the probe
	maxJSON       = 16 << 20
	maxLockSize   = 32 << 20
	minBinarySize = 1 << 10
	maxBinarySize = 2 << 30
)

const auditPrefix = `{"packages":[`

func newPackage(name, version, path string) catalog.Package {
	return catalog.Package{
		Ecosystem: catalog.CratesIO,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeCargo, "", name, version, nil, "").ToString(),
		Type:      "cargo",
		Paths:     []string{path},
	}
}

func validCrate(name, version string) bool {
	if name == "" || len(name) > 64 || version == "" || len(version) > 128 {
		return false
	}
	return !strings.ContainsAny(name+version, " \t\r\n/\\@")
}

// Binary reads the dependency tree that cargo-auditable embeds.
type Binary struct{}

var _ catalog.Analyzer = Binary{}

func (Binary) Name() string { return "rust-audit-binary" }
func (Binary) Version() int { return 1 }

func (Binary) Wants(_ string, mode fs.FileMode, size int64) bool {
	return mode&0o111 != 0 && size >= minBinarySize && size <= maxBinarySize
}

type auditInfo struct {
	Packages []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Source  string `json:"source"`
	} `json:"packages"`
}

func (Binary) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	var magic [4]byte
	if _, err := io.ReadFull(f.Content, magic[:]); err != nil || !isExecutable(magic[:]) {
		return nil, nil
	}
	js, err := findAuditJSON(ctx, io.MultiReader(bytes.NewReader(magic[:]), f.Content), maxJSON)
	if err != nil {
		return nil, fmt.Errorf("rust binary: %w", err)
	}
	if js == nil {
		return nil, nil
	}
	var info auditInfo
	if err := json.Unmarshal(js, &info); err != nil {
		return nil, fmt.Errorf("rust binary: audit data: %w", err)
	}
	var out []catalog.Package
	for _, p := range info.Packages {
		if p.Source == "local" {
			continue
		}
		if !validCrate(p.Name, p.Version) {
			return nil, fmt.Errorf("rust binary: invalid crate %q %q", p.Name, p.Version)
		}
		out = append(out, newPackage(p.Name, p.Version, f.Path))
	}
	return &catalog.Result{Packages: out}, nil
}

func isExecutable(b []byte) bool {
	if bytes.HasPrefix(b, []byte("\x7fELF")) || bytes.HasPrefix(b, []byte("MZ")) {
		return true
	}
	switch binary.BigEndian.Uint32(b) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe, 0xcafebabe:
		return true
	}
	return false
}

// zlibHeader reports whether b starts a zlib stream: deflate, a 32 KiB
// window or less, no preset dictionary, valid check bits.
func zlibHeader(b []byte) bool {
	return b[0]&0x0f == 8 && b[0]>>4 <= 7 && b[1]&0x20 == 0 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// scratch is what one findAuditJSON call works in: the window and the
// inflater that probes candidates (its 32 KiB history made anew for each
// executable was most of a cold scan's garbage, with the window).
type scratch struct {
	buf     [window + probeTail]byte
	inflate io.ReadCloser
}

var scratches = sync.Pool{New: func() any { return new(scratch) }}

// findAuditJSON streams r looking for the compressed audit JSON and returns
// it decompressed (at most limit bytes), or nil when r holds none.
func findAuditJSON(ctx context.Context, r io.Reader, limit int64) ([]byte, error) {
	sc := scratches.Get().(*scratch)
	defer scratches.Put(sc)
	buf := sc.buf[:]
	n, eof := 0, false
	var (
		probe   [len(auditPrefix)]byte
		src     bytes.Reader
		inflate = sc.inflate
	)
	defer func() { sc.inflate = inflate }()
	for !eof {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := io.ReadFull(r, buf[n:])
		n += m
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			eof = true
		} else if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
		// Candidates in the tail are tried again after the next read,
		// with enough bytes behind them.
		end := n - probeTail
		if eof {
			end = n - 2
		}
		for i := 0; i < end; i++ {
			j := bytes.IndexByte(buf[i:end], 0x78) // the usual CMF; others are rare
			if j < 0 {
				break
			}
			i += j
			if !zlibHeader(buf[i : i+2]) {
				continue
			}
			src.Reset(buf[i+2 : n])
			if inflate == nil {
				inflate = flate.NewReader(&src)
			} else if err := inflate.(flate.Resetter).Reset(&src, nil); err != nil {
				continue
			}
			if _, err := io.ReadFull(inflate, probe[:]); err != nil || string(probe[:]) != auditPrefix {
				continue
			}
			zr, err := zlib.NewReader(io.MultiReader(bytes.NewReader(buf[i:n]), r))
			if err != nil {
				return nil, fmt.Errorf("audit data: %w", err)
			}
			js, err := bounded.ReadAll(zr, limit)
			if err != nil {
				return nil, fmt.Errorf("audit data: %w", err)
			}
			return js, nil
		}
		if !eof {
			copy(buf, buf[n-probeTail:n])
			n = probeTail
		}
	}
	return nil, nil
}

// Lock reads Cargo.lock.
type Lock struct{}

var _ catalog.Analyzer = Lock{}

func (Lock) Name() string { return "cargo-lock" }
func (Lock) Version() int { return 1 }

func (Lock) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxLockSize && strings.HasSuffix(path, "/Cargo.lock")
}

func (Lock) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxLockSize)
	if err != nil {
		return nil, fmt.Errorf("Cargo.lock: %w", err)
	}
	var lf struct {
		Package []struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
			Source  string `toml:"source"`
		} `toml:"package"`
	}
	if err := toml.Unmarshal(b, &lf); err != nil {
		return nil, fmt.Errorf("Cargo.lock: %w", err)
	}
	var out []catalog.Package
	for _, p := range lf.Package {
		if p.Source == "" {
			continue // a workspace member
		}
		if !validCrate(p.Name, p.Version) {
			return nil, fmt.Errorf("Cargo.lock: invalid crate %q %q", p.Name, p.Version)
		}
		out = append(out, newPackage(p.Name, p.Version, f.Path))
	}
	return &catalog.Result{Packages: out}, nil
}
