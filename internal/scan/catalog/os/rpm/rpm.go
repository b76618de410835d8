// Package rpm reads RPM package databases in their three formats:
// BerkeleyDB (/var/lib/rpm/Packages), NDB (Packages.db, SUSE) and SQLite
// (rpmdb.sqlite, RHEL 9 and Fedora), under /var/lib/rpm or
// /usr/lib/sysimage/rpm.
//
// The database files are read by github.com/knqyf263/go-rpmdb's BerkeleyDB
// and NDB readers and by modernc.org/sqlite (go-rpmdb's own SQLite reader
// registers a second "sqlite" driver, which clashes with the one moat
// links). All three need a file, so the database is copied to a temporary
// file first, bounded by the catalog's file size limit, and removed
// afterwards. The package headers stored in them are decoded here.
//
// Packages are reported with ecosystem RPM, their source RPM as source
// package, licenses, and each package's files as owned paths; the catalog
// sets the distribution's ecosystem and purl namespace once known.
package rpm

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/knqyf263/go-rpmdb/pkg/bdb"
	dbi "github.com/knqyf263/go-rpmdb/pkg/db"
	"github.com/knqyf263/go-rpmdb/pkg/ndb"
	"github.com/package-url/packageurl-go"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, for rpmdb.sqlite

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// maxDB bounds the database copied to disk; the largest real rpmdbs are
// tens of MiB.
const maxDB = 512 << 20

// ErrTooLarge reports a database over maxDB.
var ErrTooLarge = errors.New("rpm database too large")

// Analyzer reads rpm databases.
type Analyzer struct {
	// TempDir is where databases are copied; empty means os.TempDir().
	TempDir string
}

var _ catalog.Analyzer = Analyzer{}

func (Analyzer) Name() string { return "rpm" }
func (Analyzer) Version() int { return 1 }

func (Analyzer) Wants(p string, _ fs.FileMode, size int64) bool {
	dir, base := path.Split(p)
	if dir != "/var/lib/rpm/" && dir != "/usr/lib/sysimage/rpm/" {
		return false
	}
	return (base == "Packages" || base == "Packages.db" || base == "rpmdb.sqlite") && size <= maxDB
}

func (a Analyzer) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	tmp, err := os.CreateTemp(a.TempDir, "moat-rpmdb-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(f.Content, maxDB+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if n > maxDB {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxDB)
	}
	var blobs [][]byte
	switch path.Base(f.Path) {
	case "rpmdb.sqlite":
		blobs, err = readSQLite(ctx, tmp.Name())
	case "Packages.db":
		blobs, err = readNDB(tmp.Name())
	default:
		blobs, err = readBDB(tmp.Name())
	}
	if err != nil {
		return nil, err
	}
	res := &catalog.Result{}
	var errs []error
	for i, b := range blobs {
		h, err := ParseHeader(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("header %d: %w", i, err))
			continue
		}
		p, owned, ok := h.toPackage()
		if !ok {
			continue
		}
		p.Paths = []string{f.Path}
		res.Packages = append(res.Packages, p)
		res.Owned = append(res.Owned, owned...)
	}
	return res, errors.Join(errs...)
}

// drain collects a go-rpmdb entry channel, always to its end so the
// reader's goroutine finishes.
func drain(ch <-chan dbi.Entry) ([][]byte, error) {
	var out [][]byte
	var first error
	for e := range ch {
		if e.Err != nil {
			if first == nil {
				first = e.Err
			}
			continue
		}
		out = append(out, e.Value)
	}
	return out, first
}

func readBDB(p string) ([][]byte, error) {
	db, err := bdb.Open(p)
	if err != nil {
		return nil, fmt.Errorf("berkeleydb: %w", err)
	}
	defer db.Close()
	return drain(db.Read())
}

func readNDB(p string) ([][]byte, error) {
	db, err := ndb.Open(p)
	if err != nil {
		return nil, fmt.Errorf("ndb: %w", err)
	}
	defer db.Close()
	return drain(db.Read())
}

func readSQLite(ctx context.Context, p string) ([][]byte, error) {
	db, err := sql.Open("sqlite", "file:"+p+"?mode=ro&immutable=1")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT blob FROM Packages")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return out, fmt.Errorf("sqlite: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Header is a decoded rpm header: the tags this package reads.
type Header struct {
	Name, Version, Release, Arch, License, SourceRPM string
	Epoch                                            *int32
	DirNames, BaseNames                              []string
	DirIndexes                                       []int32
}

// toPackage returns the package and its files; ok is false for entries
// that are not packages (imported GPG keys).
func (h *Header) toPackage() (catalog.Package, []string, bool) {
	if h.Name == "" || h.Name == "gpg-pubkey" || h.Version == "" {
		return catalog.Package{}, nil, false
	}
	ver := h.Version
	if h.Release != "" {
		ver += "-" + h.Release
	}
	full := ver
	q := map[string]string{}
	if h.Arch != "" {
		q["arch"] = h.Arch
	}
	if h.Epoch != nil && *h.Epoch != 0 {
		full = strconv.Itoa(int(*h.Epoch)) + ":" + ver
		q["epoch"] = strconv.Itoa(int(*h.Epoch))
	}
	p := catalog.Package{Ecosystem: catalog.RPM, Type: "rpm", Name: h.Name, Version: full}
	if h.License != "" {
		p.Licenses = []string{h.License}
	}
	if sn, sv, ok := splitSourceRPM(h.SourceRPM); ok {
		if sn != h.Name {
			p.SourceName = sn
		}
		if sv != ver {
			p.SourceVersion = sv
		}
	}
	p.PURL = packageurl.NewPackageURL(packageurl.TypeRPM, "", h.Name, ver, packageurl.QualifiersFromMap(q), "").ToString()
	var owned []string
	for i, b := range h.BaseNames {
		if i >= len(h.DirIndexes) {
			break
		}
		d := h.DirIndexes[i]
		if d < 0 || int(d) >= len(h.DirNames) {
			continue
		}
		owned = append(owned, path.Clean("/"+h.DirNames[d]+b))
	}
	return p, owned, true
}

// splitSourceRPM splits "bash-5.1.8-6.el9.src.rpm" into "bash" and
// "5.1.8-6.el9".
func splitSourceRPM(s string) (string, string, bool) {
	s = strings.TrimSuffix(strings.TrimSuffix(s, ".rpm"), ".src")
	s = strings.TrimSuffix(s, ".nosrc")
	r := strings.LastIndexByte(s, '-')
	if r <= 0 {
		return "", "", false
	}
	v := strings.LastIndexByte(s[:r], '-')
	if v <= 0 {
		return "", "", false
	}
	return s[:v], s[v+1:], true
}
