// Package apk reads Alpine's package database (/lib/apk/db/installed):
// name, version, architecture, origin (the source package Alpine's
// advisories are keyed by), licenses and each package's files.
//
// Packages are reported with ecosystem Alpine and a purl without a distro
// qualifier; the catalog adds it once the release is known.
package apk

import (
	"bufio"
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
	dbPath  = "/lib/apk/db/installed"
	maxLine = 1 << 20
)

// ErrMalformed reports an entry of the database that cannot be read.
var ErrMalformed = errors.New("malformed apk database")

// Analyzer reads the apk database.
type Analyzer struct{}

var _ catalog.Analyzer = Analyzer{}

func (Analyzer) Name() string { return "apk" }
func (Analyzer) Version() int { return 1 }

func (Analyzer) Wants(p string, _ fs.FileMode, _ int64) bool { return p == dbPath }

func (Analyzer) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	pkgs, owned, err := Parse(f.Content)
	for i := range pkgs {
		pkgs[i].Paths = []string{f.Path}
	}
	return &catalog.Result{Packages: pkgs, Owned: owned}, err
}

type entry struct {
	name, version, arch, origin, license string
	line                                 int
}

// Parse reads the database's blank-line separated entries of "K:value"
// lines. Entries without name or version are skipped and reported in the
// error alongside what could be read.
func Parse(r io.Reader) ([]catalog.Package, []string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		pkgs  []catalog.Package
		owned []string
		errs  []error
		cur   entry
		dir   string
		line  int
	)
	flush := func() {
		if cur == (entry{}) {
			return
		}
		if cur.name == "" || cur.version == "" {
			errs = append(errs, fmt.Errorf("entry at line %d: %w: missing P or V", cur.line, ErrMalformed))
		} else {
			pkgs = append(pkgs, toPackage(cur))
		}
		cur, dir = entry{}, ""
	}
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "" {
			flush()
			continue
		}
		if cur.line == 0 {
			cur.line = line
		}
		if len(l) < 2 || l[1] != ':' {
			errs = append(errs, fmt.Errorf("line %d: %w: %q", line, ErrMalformed, truncate(l)))
			continue
		}
		v := l[2:]
		switch l[0] {
		case 'P':
			cur.name = v
		case 'V':
			cur.version = v
		case 'A':
			cur.arch = v
		case 'o':
			cur.origin = v
		case 'L':
			cur.license = v
		case 'F':
			dir = path.Clean("/" + v)
			owned = append(owned, dir)
		case 'R':
			if dir == "" {
				dir = "/"
			}
			owned = append(owned, path.Join(dir, path.Clean("/"+v)))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("line %d: %w", line+1, err))
	}
	return pkgs, owned, errors.Join(errs...)
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

func toPackage(e entry) catalog.Package {
	p := catalog.Package{Ecosystem: catalog.Alpine, Name: e.name, Version: e.version, Type: "apk"}
	if e.origin != "" && e.origin != e.name {
		p.SourceName = e.origin
	}
	if e.license != "" {
		p.Licenses = splitLicense(e.license)
	}
	var q packageurl.Qualifiers
	if e.arch != "" {
		q = packageurl.QualifiersFromMap(map[string]string{"arch": e.arch})
	}
	p.PURL = packageurl.NewPackageURL(packageurl.TypeApk, "alpine", e.name, e.version, q, "").ToString()
	return p
}

// splitLicense keeps SPDX expressions whole but splits apk's older
// space-separated lists ("MIT BSD GPL2+").
func splitLicense(l string) []string {
	if strings.Contains(l, " AND ") || strings.Contains(l, " OR ") || strings.Contains(l, " WITH ") {
		return []string{l}
	}
	return strings.Fields(l)
}
