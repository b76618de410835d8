package vulndb

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

// Sentinel errors.
var (
	// ErrNoDatabase means DIR holds no database yet (run `moat db update`
	// or `moat db import`).
	ErrNoDatabase = errors.New("no advisory database")
	// ErrCorrupt means a version's files are unreadable or inconsistent.
	ErrCorrupt = errors.New("advisory database corrupt")
	// ErrFormat classifies unreadable feed input (KEV, EPSS, EOL, zips).
	ErrFormat = errors.New("malformed feed")
	// ErrNotFound is returned for an unknown advisory id.
	ErrNotFound = errors.New("not found")
)

// SchemaVersion is bumped whenever the on-disk format changes; Open rejects
// other versions so an old binary never misreads a newer database.
const SchemaVersion = 2

// Source kinds.
const (
	KindOSV  = "osv"
	KindKEV  = "kev"
	KindEPSS = "epss"
	KindEOL  = "eol"
)

// Source describes one imported feed.
type Source struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Origin is the URL or path the data came from.
	Origin   string    `json:"origin"`
	Imported time.Time `json:"imported"`
	Records  int       `json:"records"`
	// Withdrawn counts OSV records skipped because they are withdrawn.
	Withdrawn int `json:"withdrawn,omitempty"`
	Warnings  int `json:"warnings,omitempty"`
	// Messages are the first few warnings, for `moat db status`.
	Messages []string `json:"messages,omitempty"`
}

// Meta describes one database version.
type Meta struct {
	Schema     int       `json:"schema"`
	Version    string    `json:"version"`
	Created    time.Time `json:"created"`
	Sources    []Source  `json:"sources"`
	Advisories int       `json:"advisories"`
	Keys       int       `json:"keys"`
	KEV        int       `json:"kev"`
	EPSS       int       `json:"epss"`
	EOL        int       `json:"eol"`
	// Changed counts keys whose advisories differ from the previous version.
	Changed int `json:"changed"`
}

// index is the gob-encoded lookup structure of a version.
type index struct {
	// Keys maps Key.String() to record numbers.
	Keys map[string][]uint32
	// Offsets[i] is where record i starts in advisories.bin; one extra
	// entry marks the end of the last record.
	Offsets  []int64
	IDs      []string
	Sources  []string // per record
	Modified []int64  // per record, unix seconds (0 = unknown)
	// KeyHash fingerprints each key's advisories for change detection.
	KeyHash map[string]uint64
}

const (
	fileCurrent    = "CURRENT"
	dirVersions    = "versions"
	fileMeta       = "meta.json"
	fileAdvisories = "advisories.bin"
	fileIndex      = "index.gob"
	fileChanges    = "changes.json"
	fileKEV        = "kev.json"
	fileEPSS       = "epss.bin"
	fileEOL        = "eol.json"
)

// DB is an open, read-only database version. It is safe for concurrent use.
type DB struct {
	dir  string // the version directory
	meta Meta
	// lazy holds the files read on first use open from Open on.
	lazy map[string]*os.File
	idx  *index
	// data is advisories.bin, read record by record: a scan touches a
	// few hundred of tens of thousands.
	data *os.File

	mu    sync.Mutex
	cache map[uint32]*osv.Advisory
	byID  map[string]uint32

	kevOnce sync.Once
	kev     map[string]KEVEntry
	kevErr  error

	epssOnce sync.Once
	epss     *epssTable
	epssErr  error

	eolOnce sync.Once
	eol     map[string]*Product
	eolErr  error
}

// Open opens the current version of the database in dir.
//
// A version can be pruned between reading CURRENT and opening its files
// when updates follow each other quickly; Open then starts over with the
// new CURRENT. Once open, a DB holds every file it reads lazily open, so
// pruning never pulls data from under a reader.
func Open(dir string) (*DB, error) {
	var last error
	for range 5 {
		name, err := os.ReadFile(filepath.Join(dir, fileCurrent))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w in %s", ErrNoDatabase, dir)
		}
		if err != nil {
			return nil, fmt.Errorf("read current version: %w", err)
		}
		v := strings.TrimSpace(string(name))
		if v == "" || strings.ContainsAny(v, `/\`) || v == "." || v == ".." {
			return nil, fmt.Errorf("%w: bad CURRENT %q", ErrCorrupt, v)
		}
		db, err := openVersion(filepath.Join(dir, dirVersions, v))
		if !errors.Is(err, fs.ErrNotExist) {
			return db, err
		}
		last = err
	}
	return nil, last
}

func openVersion(vdir string) (_ *DB, err error) {
	db := &DB{dir: vdir, cache: map[uint32]*osv.Advisory{}, lazy: map[string]*os.File{}}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	for _, name := range []string{fileChanges, fileKEV, fileEPSS, fileEOL} {
		f, err := os.Open(filepath.Join(vdir, name))
		if errors.Is(err, fs.ErrNotExist) && name != fileChanges {
			continue // feed never imported
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
		}
		db.lazy[name] = f
	}
	mb, err := os.ReadFile(filepath.Join(vdir, fileMeta))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err := json.Unmarshal(mb, &db.meta); err != nil {
		return nil, fmt.Errorf("%w: meta: %w", ErrCorrupt, err)
	}
	if db.meta.Schema != SchemaVersion {
		return nil, fmt.Errorf("%w: schema %d, this moat reads %d (run moat db update)", ErrCorrupt, db.meta.Schema, SchemaVersion)
	}
	ib, err := os.ReadFile(filepath.Join(vdir, fileIndex))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	db.idx = &index{}
	if err := gob.NewDecoder(bytes.NewReader(ib)).Decode(db.idx); err != nil {
		return nil, fmt.Errorf("%w: index: %w", ErrCorrupt, err)
	}
	if db.data, err = os.Open(filepath.Join(vdir, fileAdvisories)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	st, err := db.data.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	n := len(db.idx.IDs)
	if len(db.idx.Offsets) != n+1 || len(db.idx.Sources) != n || len(db.idx.Modified) != n || db.idx.Offsets[n] != st.Size() {
		return nil, fmt.Errorf("%w: index does not match advisories", ErrCorrupt)
	}
	return db, nil
}

// Close releases the database's open files. Reads after Close fail.
func (db *DB) Close() error {
	var errs []error
	if db.data != nil {
		errs = append(errs, db.data.Close())
	}
	for _, f := range db.lazy {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// readLazy reads a file opened by Open; ok is false when the version has
// no such file.
func (db *DB) readLazy(name string) (b []byte, ok bool, err error) {
	f, ok := db.lazy[name]
	if !ok {
		return nil, false, nil
	}
	st, err := f.Stat()
	if err != nil {
		return nil, true, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	b = make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, true, fmt.Errorf("%w: %s: %w", ErrCorrupt, name, err)
	}
	return b, true, nil
}

// Meta describes the open version.
func (db *DB) Meta() Meta { return db.meta }

// Lookup returns every advisory with an affected entry for (ecosystem, name).
// The returned advisories are shared and must not be modified.
func (db *DB) Lookup(ecosystem, name string) ([]*osv.Advisory, error) {
	recs := db.idx.Keys[Key{Ecosystem: ecosystem, Name: name}.String()]
	if len(recs) == 0 {
		return nil, nil
	}
	out := make([]*osv.Advisory, 0, len(recs))
	for _, r := range recs {
		a, err := db.record(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// Has reports whether any advisory is keyed by (ecosystem, name), without
// decoding records.
func (db *DB) Has(ecosystem, name string) bool {
	return len(db.idx.Keys[Key{Ecosystem: ecosystem, Name: name}.String()]) > 0
}

// Advisory returns the advisory with the given id.
func (db *DB) Advisory(id string) (*osv.Advisory, error) {
	db.mu.Lock()
	if db.byID == nil {
		db.byID = make(map[string]uint32, len(db.idx.IDs))
		for i, id := range db.idx.IDs {
			db.byID[id] = uint32(i)
		}
	}
	r, ok := db.byID[id]
	db.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("advisory %s: %w", id, ErrNotFound)
	}
	return db.record(r)
}

// Keys lists every indexed key (names normalized), for benchmarks and
// tools that walk the whole database.
func (db *DB) Keys() []Key {
	out := make([]Key, 0, len(db.idx.Keys))
	for k := range db.idx.Keys {
		out = append(out, keyFromString(k))
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Ecosystem != out[j].Ecosystem {
			return out[i].Ecosystem < out[j].Ecosystem
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Changes lists the keys whose advisories changed when this version was
// built (every key for the first version), for continuous rescans.
func (db *DB) Changes() ([]Key, error) {
	b, _, err := db.readLazy(fileChanges)
	if err != nil {
		return nil, err
	}
	var out []Key
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%w: changes: %w", ErrCorrupt, err)
	}
	return out, nil
}

// Difference is what changed from one version to another.
type Difference struct {
	// Keys are the advisory keys whose advisories differ (added, changed
	// or removed), sorted.
	Keys []Key
	// Context reports changed KEV, EPSS or end-of-life data, which can
	// change any finding's details or end-of-life findings.
	Context bool
}

// Diff compares two versions of a database, however many versions lie
// between them, by the per-key fingerprints each version records.
func Diff(from, to *DB) Difference {
	var d Difference
	for k, h := range to.idx.KeyHash {
		if old, ok := from.idx.KeyHash[k]; !ok || old != h {
			d.Keys = append(d.Keys, keyFromString(k))
		}
	}
	for k := range from.idx.KeyHash {
		if _, ok := to.idx.KeyHash[k]; !ok {
			d.Keys = append(d.Keys, keyFromString(k))
		}
	}
	sort.Slice(d.Keys, func(i, j int) bool { return d.Keys[i].String() < d.Keys[j].String() })
	context := func(m Meta) map[string]Source {
		out := map[string]Source{}
		for _, s := range m.Sources {
			if s.Kind != KindOSV {
				s.Messages = nil
				out[s.Kind+"\x00"+s.Name] = s
			}
		}
		return out
	}
	a, b := context(from.meta), context(to.meta)
	if len(a) != len(b) {
		d.Context = true
	}
	for k, s := range b {
		if old, ok := a[k]; !ok || old.Origin != s.Origin || !old.Imported.Equal(s.Imported) || old.Records != s.Records {
			d.Context = true
		}
	}
	return d
}

func (db *DB) record(r uint32) (*osv.Advisory, error) {
	db.mu.Lock()
	a, ok := db.cache[r]
	db.mu.Unlock()
	if ok {
		return a, nil
	}
	if int(r) >= len(db.idx.IDs) {
		return nil, fmt.Errorf("%w: record %d out of range", ErrCorrupt, r)
	}
	raw, err := db.raw(r)
	if err != nil {
		return nil, err
	}
	a, err = decodeRecord(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: record %d: %w", ErrCorrupt, r, err)
	}
	db.mu.Lock()
	db.cache[r] = a
	db.mu.Unlock()
	return a, nil
}

// raw reads the stored bytes of record r.
func (db *DB) raw(r uint32) ([]byte, error) {
	off, end := db.idx.Offsets[r], db.idx.Offsets[r+1]
	if end < off {
		return nil, fmt.Errorf("%w: record %d has negative length", ErrCorrupt, r)
	}
	b := make([]byte, end-off)
	if _, err := db.data.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("%w: record %d: %w", ErrCorrupt, r, err)
	}
	return b, nil
}

// KEV returns the KEV entry of a CVE.
func (db *DB) KEV(cve string) (KEVEntry, bool, error) {
	db.kevOnce.Do(func() {
		db.kev = map[string]KEVEntry{}
		db.kevErr = db.readJSONIfExists(fileKEV, &db.kev)
	})
	e, ok := db.kev[cve]
	return e, ok, db.kevErr
}

// EPSS returns the EPSS score of a CVE.
func (db *DB) EPSS(cve string) (EPSS, bool, error) {
	db.epssOnce.Do(func() {
		b, ok, err := db.readLazy(fileEPSS)
		if !ok || err != nil {
			db.epssErr = err
			return
		}
		if db.epss, err = decodeEPSS(b); err != nil {
			db.epssErr = fmt.Errorf("%w: epss: %w", ErrCorrupt, err)
		}
	})
	e, ok := db.epss.lookup(cve)
	return e, ok, db.epssErr
}

// EOL returns the release data of a product ("debian", "python").
func (db *DB) EOL(product string) (*Product, bool, error) {
	db.eolOnce.Do(func() {
		db.eol = map[string]*Product{}
		db.eolErr = db.readJSONIfExists(fileEOL, &db.eol)
	})
	p, ok := db.eol[product]
	return p, ok, db.eolErr
}

func (db *DB) readJSONIfExists(name string, v any) error {
	b, ok, err := db.readLazy(name)
	if !ok || err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, name, err)
	}
	return nil
}
