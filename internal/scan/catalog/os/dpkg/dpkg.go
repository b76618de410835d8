// Package dpkg reads Debian and Ubuntu package databases: the status file
// (/var/lib/dpkg/status), distroless per-package files
// (/var/lib/dpkg/status.d/<name>) and the file lists that say which paths
// belong to an installed package (/var/lib/dpkg/info/*.list and
// status.d/*.md5sums).
//
// Packages are reported with ecosystem Debian and a purl without a distro
// qualifier; the catalog completes both once the image's distribution is
// known. Licenses (which Debian keeps in free-form copyright files) are not
// read.
package dpkg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

const (
	statusPath = "/var/lib/dpkg/status"
	statusDir  = "/var/lib/dpkg/status.d/"
	infoDir    = "/var/lib/dpkg/info/"
	// maxLine bounds one line of a control file (long Description or
	// Conffiles lines stay far below).
	maxLine = 1 << 20
)

// ErrMalformed reports a status paragraph that cannot be read.
var ErrMalformed = errors.New("malformed dpkg status")

// Analyzer reads dpkg databases.
type Analyzer struct{}

var _ catalog.Analyzer = Analyzer{}

func (Analyzer) Name() string { return "dpkg" }
func (Analyzer) Version() int { return 1 }

func (Analyzer) Wants(p string, _ fs.FileMode, _ int64) bool {
	if p == statusPath {
		return true
	}
	if rest, ok := strings.CutPrefix(p, statusDir); ok {
		return rest != "" && !strings.Contains(rest, "/")
	}
	if rest, ok := strings.CutPrefix(p, infoDir); ok {
		return strings.HasSuffix(rest, ".list") && !strings.Contains(rest, "/")
	}
	return false
}

func (Analyzer) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	switch {
	case strings.HasPrefix(f.Path, infoDir):
		owned, err := ReadList(f.Content, false)
		return &catalog.Result{Owned: owned}, err
	case strings.HasSuffix(f.Path, ".md5sums"):
		owned, err := ReadList(f.Content, true)
		return &catalog.Result{Owned: owned}, err
	}
	pkgs, err := ParseStatus(f.Content)
	for i := range pkgs {
		pkgs[i].Paths = []string{f.Path}
	}
	return &catalog.Result{Packages: pkgs}, err
}

// ParseStatus reads control paragraphs and returns the installed packages.
// A malformed paragraph is skipped and reported in the returned error
// together with the packages that could be read.
func ParseStatus(r io.Reader) ([]catalog.Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		pkgs  []catalog.Package
		errs  []error
		para  = map[string]string{}
		last  string
		line  int
		start = 1
	)
	flush := func() {
		if len(para) == 0 {
			return
		}
		p, err := fromParagraph(para)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("paragraph at line %d: %w", start, err))
		case p != nil:
			pkgs = append(pkgs, *p)
		}
		clear(para)
		last = ""
	}
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			flush()
			start = line + 1
			continue
		}
		if b[0] == ' ' || b[0] == '\t' {
			// Continuation lines only matter for the fields we keep,
			// which are single-line.
			if last == "" {
				errs = append(errs, fmt.Errorf("line %d: %w: continuation without field", line, ErrMalformed))
			}
			continue
		}
		k, v, ok := bytes.Cut(b, []byte{':'})
		if !ok {
			errs = append(errs, fmt.Errorf("line %d: %w: no field name", line, ErrMalformed))
			last = ""
			continue
		}
		last = string(k)
		switch last {
		case "Package", "Status", "Version", "Architecture", "Source":
			para[last] = string(bytes.TrimSpace(v))
		default:
			para[last] = ""
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("line %d: %w", line+1, err))
	}
	return pkgs, errors.Join(errs...)
}

// fromParagraph returns nil for packages that are not installed.
func fromParagraph(f map[string]string) (*catalog.Package, error) {
	name, ver := f["Package"], f["Version"]
	if name == "" {
		return nil, fmt.Errorf("%w: no Package field", ErrMalformed)
	}
	// Status is "want flag state"; distroless status.d files omit it.
	if st, ok := f["Status"]; ok {
		fields := strings.Fields(st)
		if len(fields) != 3 || (fields[2] != "installed" && fields[2] != "half-configured") {
			return nil, nil
		}
	}
	if ver == "" {
		return nil, fmt.Errorf("%w: package %s has no Version", ErrMalformed, name)
	}
	p := &catalog.Package{Ecosystem: catalog.Debian, Name: name, Version: ver, Type: "deb"}
	// "Source: name" or "Source: name (version)" when the binary version
	// differs from the source's.
	if src := f["Source"]; src != "" {
		sname, rest, _ := strings.Cut(src, " ")
		if sname != name {
			p.SourceName = sname
		}
		if v := strings.Trim(strings.TrimSpace(rest), "()"); v != "" && v != ver {
			p.SourceVersion = v
		}
	}
	var q packageurl.Qualifiers
	if arch := f["Architecture"]; arch != "" {
		q = packageurl.QualifiersFromMap(map[string]string{"arch": arch})
	}
	p.PURL = packageurl.NewPackageURL(packageurl.TypeDebian, "debian", name, ver, q, "").ToString()
	return p, nil
}

// ReadList reads a dpkg file list: one absolute path per line, or for
// md5sums "<hash>  <relative path>".
func ReadList(r io.Reader, md5sums bool) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var out []string
	for sc.Scan() {
		l := sc.Text()
		if md5sums {
			_, l, _ = strings.Cut(l, "  ")
			l = "/" + l
		}
		if l == "" || l == "/" || l == "/." {
			continue
		}
		out = append(out, path.Clean(l))
	}
	return out, sc.Err()
}
