package vulndb

import (
	"archive/zip"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

// MaxRecordSize caps one OSV document; larger ones are skipped with a
// warning instead of being read into memory.
const MaxRecordSize = 32 << 20

// maxMessages bounds the warning texts kept per source.
const maxMessages = 20

// Batch collects the feeds of one update. Every source it names replaces
// that source wholesale when committed; sources it does not name are kept.
// A Batch is not safe for concurrent use.
type Batch struct {
	now     func() time.Time
	sources map[string]*Source
	entries map[string][]*entry // source name → records
	kev     map[string]KEVEntry
	epss    map[string]EPSS
	eol     map[string]*Product
}

type entry struct {
	id       string
	source   string
	modified int64
	keys     []string
	raw      []byte
}

// NewBatch returns an empty batch; now stamps the import times.
func NewBatch(now func() time.Time) *Batch {
	if now == nil {
		now = time.Now
	}
	return &Batch{now: now, sources: map[string]*Source{}, entries: map[string][]*entry{}}
}

// Sources lists the sources read so far.
func (b *Batch) Sources() []Source {
	out := make([]Source, 0, len(b.sources))
	for _, s := range b.sources {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (b *Batch) source(name, kind, origin string) *Source {
	s, ok := b.sources[name]
	if !ok {
		s = &Source{Name: name, Kind: kind, Origin: origin, Imported: b.now().UTC()}
		b.sources[name] = s
	}
	return s
}

func (s *Source) warn(format string, args ...any) {
	s.Warnings++
	if len(s.Messages) < maxMessages {
		s.Messages = append(s.Messages, fmt.Sprintf(format, args...))
	}
}

// doc is one OSV document waiting to be parsed.
type doc struct {
	source string
	name   string // file or zip entry, for warnings
	open   func() (io.ReadCloser, int64, error)
}

// addDocs parses docs in parallel and files the records under their sources.
func (b *Batch) addDocs(ctx context.Context, docs []doc) error {
	type result struct {
		d   doc
		e   *entry
		wd  bool
		err error
	}
	work := make(chan doc)
	results := make(chan result, 64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				e, withdrawn, err := parseDoc(d)
				results <- result{d: d, e: e, wd: withdrawn, err: err}
			}
		}()
	}
	go func() {
		defer close(work)
		for _, d := range docs {
			select {
			case work <- d:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for r := range results {
		s := b.sources[r.d.source]
		switch {
		case r.err != nil:
			s.warn("%s: %v", r.d.name, r.err)
		case r.wd:
			s.Withdrawn++
		case r.e != nil:
			s.Records++
			b.entries[r.d.source] = append(b.entries[r.d.source], r.e)
		}
	}
	return ctx.Err()
}

func parseDoc(d doc) (*entry, bool, error) {
	rc, size, err := d.open()
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	if size > MaxRecordSize {
		return nil, false, fmt.Errorf("record of %d bytes exceeds %d", size, MaxRecordSize)
	}
	data, err := io.ReadAll(io.LimitReader(rc, MaxRecordSize+1))
	if err != nil {
		return nil, false, err
	}
	if len(data) > MaxRecordSize {
		return nil, false, fmt.Errorf("record exceeds %d bytes", MaxRecordSize)
	}
	a, err := osv.Parse(data)
	if err != nil {
		return nil, false, err
	}
	if !a.Withdrawn.IsZero() {
		return nil, true, nil
	}
	a.Source = d.source
	return newEntry(a)
}

func newEntry(a *osv.Advisory) (*entry, bool, error) {
	e := &entry{id: a.ID, source: a.Source, raw: encodeRecord(a)}
	if !a.Modified.IsZero() {
		e.modified = a.Modified.Unix()
	}
	for _, k := range a.Keys() {
		e.keys = append(e.keys, Key{Ecosystem: k[0], Name: k[1]}.String())
	}
	return e, false, nil
}

// AddOSVZip reads every *.json entry of an OSV zip (osv.dev's all.zip) as
// source name.
func (b *Batch) AddOSVZip(ctx context.Context, path, name string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrFormat, path, err)
	}
	defer zr.Close()
	s := b.source(name, KindOSV, path)
	var docs []doc
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		f := f
		docs = append(docs, doc{source: s.Name, name: f.Name, open: func() (io.ReadCloser, int64, error) {
			rc, err := f.Open()
			return rc, int64(f.UncompressedSize64), err
		}})
	}
	return b.addDocs(ctx, docs)
}

// AddKEV reads the CISA KEV JSON feed, replacing any earlier KEV data.
func (b *Batch) AddKEV(r io.Reader, origin string) error {
	m, err := ParseKEV(r)
	if err != nil {
		return err
	}
	s := b.source("kev", KindKEV, origin)
	b.kev = m
	s.Records = len(m)
	return nil
}

// AddEPSS reads one EPSS CSV (plain or gzip-compressed); several files add
// up (one per CVE year).
func (b *Batch) AddEPSS(r io.Reader, origin string) error {
	s := b.source("epss", KindEPSS, origin)
	if b.epss == nil {
		b.epss = map[string]EPSS{}
	}
	br := newPeekReader(r)
	if br.isGzip() {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: EPSS %s: %w", ErrFormat, origin, err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	w, err := ParseEPSS(r, b.epss)
	if w > 0 {
		s.warn("%s: %d malformed rows", origin, w)
		s.Warnings += w - 1
	}
	s.Records = len(b.epss)
	return err
}

// AddEOL reads one endoflife.date release-data file for product.
func (b *Batch) AddEOL(product string, r io.Reader, origin string) error {
	s := b.source("eol", KindEOL, origin)
	p, err := ParseEOL(r)
	if err != nil {
		s.warn("%s: %v", product, err)
		return nil
	}
	if hasEOLDates(p) {
		p.Versions = nil // only needed when releases carry no dates
	}
	if b.eol == nil {
		b.eol = map[string]*Product{}
	}
	b.eol[product] = p
	s.Records = len(b.eol)
	return nil
}

func hasEOLDates(p *Product) bool {
	for _, r := range p.Releases {
		if r.EOL != "" {
			return true
		}
	}
	return false
}

// AddPath imports a file or directory tree for air-gapped sites. A file
// is read by its own kind (see addFile): an OSV zip (source: its name,
// or the parent directory's for all.zip), EPSS CSV, the KEV catalog or an
// endoflife.date product file. A directory is read as:
//
//	PATH/kev/*.json            CISA KEV catalog
//	PATH/epss/**/*.csv[.gz]    EPSS scores
//	PATH/eol/**/<product>.json endoflife.date release data
//	PATH/**/*.json             every other JSON file is an OSV record; its
//	                           directory (relative to PATH) names the source
//	PATH/**/*.zip              every other zip is an OSV zip
//
// So both the shared data tree (advisories/, kev/, epss/, eol/) and a
// mirror of osv.dev's bucket (<Ecosystem>/all.zip) import as they are.
func (b *Batch) AddPath(ctx context.Context, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return b.addFile(ctx, path)
	}
	var docs []doc
	var zips [][2]string
	// A feed folder of the tree (kev/, epss/, eol/) imported by its own
	// path is read as that feed, not as OSV records.
	feedDir := ""
	switch b := filepath.Base(filepath.Clean(path)); b {
	case "kev", "epss", "eol":
		feedDir = b
	}
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(path, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		top, _, _ := strings.Cut(rel, "/")
		if feedDir != "" {
			top = feedDir
		}
		switch {
		case top == "kev" && strings.HasSuffix(p, ".json"):
			// Feeds ship a schema beside the catalog: a file that is not
			// a catalog is a warning, not a failed import.
			err := withFile(p, func(r io.Reader) error { return b.AddKEV(r, p) })
			if errors.Is(err, ErrFormat) {
				b.source("kev", KindKEV, p).warn("%s: %v", rel, err)
				return nil
			}
			return err
		case top == "epss" && (strings.HasSuffix(p, ".csv") || strings.HasSuffix(p, ".csv.gz")):
			return withFile(p, func(r io.Reader) error { return b.AddEPSS(r, p) })
		case top == "eol" && strings.HasSuffix(p, ".json"):
			product := strings.TrimSuffix(d.Name(), ".json")
			return withFile(p, func(r io.Reader) error { return b.AddEOL(product, r, p) })
		case top == "kev" || top == "epss" || top == "eol":
			return nil
		case strings.HasSuffix(p, ".zip"):
			zips = append(zips, [2]string{p, zipSourceName(rel, p)})
		case strings.HasSuffix(p, ".json"):
			src := filepath.ToSlash(filepath.Dir(rel))
			if src == "." {
				src = filepath.Base(path)
			}
			s := b.source(src, KindOSV, filepath.Join(path, filepath.FromSlash(src)))
			info, err := d.Info()
			if err != nil {
				s.warn("%s: %v", rel, err)
				return nil
			}
			docs = append(docs, doc{source: s.Name, name: rel, open: func() (io.ReadCloser, int64, error) {
				f, err := os.Open(p)
				return f, info.Size(), err
			}})
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	if err := b.addDocs(ctx, docs); err != nil {
		return err
	}
	for _, z := range zips {
		if err := b.AddOSVZip(ctx, z[0], z[1]); err != nil {
			return err
		}
	}
	return nil
}

// zipSourceName names a zip source: "Go/all.zip" → "Go", "x/PyPI.zip" → "x/PyPI".
func zipSourceName(rel, full string) string {
	rel = filepath.ToSlash(rel)
	if filepath.Base(rel) == "all.zip" {
		d := filepath.ToSlash(filepath.Dir(rel))
		if d == "." {
			return filepath.Base(filepath.Dir(full))
		}
		return d
	}
	return strings.TrimSuffix(rel, ".zip")
}

func withFile(path string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(f)
}

// peekReader lets AddEPSS sniff the gzip magic without consuming it.
type peekReader struct {
	r    io.Reader
	head []byte
}

func newPeekReader(r io.Reader) *peekReader {
	head := make([]byte, 2)
	n, _ := io.ReadFull(r, head)
	return &peekReader{r: r, head: head[:n]}
}

func (p *peekReader) isGzip() bool { return len(p.head) == 2 && p.head[0] == 0x1f && p.head[1] == 0x8b }

func (p *peekReader) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.r.Read(b)
}
