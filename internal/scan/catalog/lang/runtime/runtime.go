package runtime

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

const (
	maxTextSize   = 64 << 10
	window        = 256 << 10
	maxBinarySize = 2 << 30
)

func newRuntime(eco catalog.Ecosystem, name, version, path string) catalog.Package {
	return catalog.Package{
		Ecosystem: eco,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeGeneric, "", name, version, nil, "").ToString(),
		Type:      "runtime",
		Paths:     []string{path},
	}
}

// validVersion accepts dotted numeric versions with an optional suffix
// ("20.20.2", "17.0.15", "3.13.0rc1", "21-ea").
func validVersion(v string) bool {
	if v == "" || len(v) > 32 || v[0] < '0' || v[0] > '9' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '+' || c == '_') {
			return false
		}
	}
	return true
}

// defines reads C "#define NAME value" lines.
func defines(r io.Reader) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(r, maxTextSize))
	sc.Buffer(make([]byte, 0, 4096), maxTextSize)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "#define ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) >= 2 {
			m[f[0]] = strings.Trim(f[1], `"`)
		}
	}
	return m, sc.Err()
}

// NodeHeader reads include/node/node_version.h.
type NodeHeader struct{}

var _ catalog.Analyzer = NodeHeader{}

func (NodeHeader) Name() string { return "node-header" }
func (NodeHeader) Version() int { return 1 }

func (NodeHeader) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxTextSize && strings.HasSuffix(path, "/include/node/node_version.h")
}

func (NodeHeader) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	d, err := defines(f.Content)
	if err != nil {
		return nil, fmt.Errorf("node_version.h: %w", err)
	}
	if d["NODE_MAJOR_VERSION"] == "" {
		return nil, errors.New("node_version.h: no NODE_MAJOR_VERSION")
	}
	v := d["NODE_MAJOR_VERSION"] + "." + d["NODE_MINOR_VERSION"] + "." + d["NODE_PATCH_VERSION"]
	if !validVersion(v) {
		return nil, fmt.Errorf("node_version.h: invalid version %q", v)
	}
	return &catalog.Result{Packages: []catalog.Package{newRuntime(catalog.Npm, "node", v, f.Path)}}, nil
}

// NodeBinary reads the release string of a node executable.
type NodeBinary struct{}

var _ catalog.Analyzer = NodeBinary{}

func (NodeBinary) Name() string { return "node-binary" }
func (NodeBinary) Version() int { return 1 }

func (NodeBinary) Wants(path string, mode fs.FileMode, size int64) bool {
	return mode&0o111 != 0 && size <= maxBinarySize &&
		(strings.HasSuffix(path, "/bin/node") || strings.HasSuffix(path, "/bin/nodejs"))
}

func (NodeBinary) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	v, found, err := scanFor(ctx, f.Content, []byte("node.js/v"))
	if err != nil {
		return nil, fmt.Errorf("node binary: %w", err)
	}
	if !found {
		return nil, nil // a wrapper script or another program named node
	}
	if !validVersion(v) {
		return nil, fmt.Errorf("node binary: invalid version %q", v)
	}
	return &catalog.Result{Packages: []catalog.Package{newRuntime(catalog.Npm, "node", v, f.Path)}}, nil
}

// scanFor streams r to the first occurrence of marker and returns the
// version characters that follow it; found is false when r has no marker.
func scanFor(ctx context.Context, r io.Reader, marker []byte) (version string, found bool, err error) {
	const tail = 64 // marker plus the longest version read after it
	buf := make([]byte, window+tail)
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
		m, err := io.ReadFull(r, buf[n:])
		n += m
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return "", false, fmt.Errorf("read: %w", err)
		}
		if i := bytes.Index(buf[:n], marker); i >= 0 && (eof || i+tail <= n) {
			rest := buf[i+len(marker) : min(n, i+tail)]
			end := 0
			for end < len(rest) && (rest[end] == '.' || rest[end] >= '0' && rest[end] <= '9') {
				end++
			}
			return string(rest[:end]), true, nil
		}
		if eof {
			return "", false, nil
		}
		copy(buf, buf[n-tail:n])
		n = tail
	}
}

// Python reads patchlevel.h of a CPython installation.
type Python struct{}

var _ catalog.Analyzer = Python{}

func (Python) Name() string { return "python-runtime" }
func (Python) Version() int { return 1 }

func (Python) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxTextSize && strings.HasSuffix(path, "/patchlevel.h") && strings.Contains(path, "/include/python")
}

func (Python) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	d, err := defines(f.Content)
	if err != nil {
		return nil, fmt.Errorf("patchlevel.h: %w", err)
	}
	v := d["PY_VERSION"]
	if !validVersion(v) {
		return nil, fmt.Errorf("patchlevel.h: invalid PY_VERSION %q", v)
	}
	return &catalog.Result{Packages: []catalog.Package{newRuntime(catalog.PyPI, "python", v, f.Path)}}, nil
}

// Java reads the release file at the root of a JDK or JRE.
type Java struct{}

var _ catalog.Analyzer = Java{}

func (Java) Name() string { return "java-runtime" }
func (Java) Version() int { return 1 }

func (Java) Wants(path string, _ fs.FileMode, size int64) bool {
	dir, ok := strings.CutSuffix(path, "/release")
	if !ok || size > maxTextSize {
		return false
	}
	return strings.Contains(dir, "/jvm/") || strings.Contains(dir, "java") ||
		strings.Contains(dir, "jdk") || strings.Contains(dir, "jre")
}

func (Java) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	sc := bufio.NewScanner(io.LimitReader(f.Content, maxTextSize))
	sc.Buffer(make([]byte, 0, 4096), maxTextSize)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "JAVA_VERSION=")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if !validVersion(v) {
			return nil, fmt.Errorf("java release: invalid JAVA_VERSION %q", v)
		}
		return &catalog.Result{Packages: []catalog.Package{newRuntime(catalog.Maven, "java", v, f.Path)}}, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("java release: %w", err)
	}
	return nil, nil // another file named release
}
