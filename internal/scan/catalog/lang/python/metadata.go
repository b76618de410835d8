package python

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Metadata reads the core metadata of an installed distribution: the
// RFC 822 style header of METADATA or PKG-INFO. Only the header is read;
// the long description that follows it is not.
type Metadata struct{}

var _ catalog.Analyzer = Metadata{}

func (Metadata) Name() string { return "python-metadata" }
func (Metadata) Version() int { return 1 }

func (Metadata) Wants(path string, _ fs.FileMode, _ int64) bool {
	return strings.HasSuffix(path, ".dist-info/METADATA") ||
		strings.HasSuffix(path, ".egg-info/PKG-INFO") ||
		strings.HasSuffix(path, "/EGG-INFO/PKG-INFO") ||
		strings.HasSuffix(path, ".egg-info") // egg-info written as one file
}

func (Metadata) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	h, err := readHeader(io.LimitReader(f.Content, maxHeaderSize+1))
	if err != nil {
		return nil, fmt.Errorf("python metadata: %w", err)
	}
	name, version := h.get("Name"), h.get("Version")
	if !validName(name) {
		return nil, fmt.Errorf("python metadata: invalid name %q", name)
	}
	if !validVersion(version) {
		return nil, fmt.Errorf("python metadata: %s has invalid version %q", name, version)
	}
	p := newPackage(name, version, f.Path, h.licenses())
	return &catalog.Result{Packages: []catalog.Package{p}}, nil
}

type header map[string][]string

func (h header) get(k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// licenses prefers the SPDX expression of metadata 2.4, then a short
// License field, then the license classifiers.
func (h header) licenses() []string {
	if e := h.get("License-Expression"); e != "" {
		return []string{e}
	}
	// Some projects paste their whole license text into License.
	if l := h.get("License"); l != "" && l != "UNKNOWN" && len(l) <= 80 {
		return []string{l}
	}
	var out []string
	for _, c := range h["Classifier"] {
		if rest, ok := strings.CutPrefix(c, "License :: "); ok {
			rest = strings.TrimPrefix(rest, "OSI Approved :: ")
			if rest != "OSI Approved" {
				out = append(out, rest)
			}
		}
	}
	return out
}

// readHeader parses header lines up to the first blank line; continuation
// lines (leading whitespace) extend the previous field.
func readHeader(r io.Reader) (header, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineSize)
	h := header{}
	var last string
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if n += len(line) + 1; n > maxHeaderSize {
			return nil, errors.New("header exceeds 1 MiB")
		}
		if strings.TrimSpace(line) == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if vs := h[last]; len(vs) > 0 {
				vs[len(vs)-1] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("malformed header line %q", truncate(line))
		}
		last = strings.TrimSpace(k)
		h[last] = append(h[last], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return h, nil
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
