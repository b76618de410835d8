package vulndb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"time"
)

// CommitOption configures Commit.
type CommitOption func(*commitConfig) error

type commitConfig struct {
	now    func() time.Time
	logger *slog.Logger
}

// WithClock sets the clock stamping the version (default time.Now).
func WithClock(now func() time.Time) CommitOption {
	return func(c *commitConfig) error {
		if now == nil {
			return errors.New("nil clock")
		}
		c.now = now
		return nil
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) CommitOption {
	return func(c *commitConfig) error {
		if l == nil {
			return errors.New("nil logger")
		}
		c.logger = l
		return nil
	}
}

// Commit merges the batch into the current version of the database in dir
// (creating it if needed) and atomically makes the result current. Readers
// that opened the old version keep reading it.
func Commit(ctx context.Context, dir string, b *Batch, opts ...CommitOption) (Meta, error) {
	cfg := commitConfig{now: time.Now, logger: slog.Default()}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return Meta{}, err
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, dirVersions), 0o755); err != nil {
		return Meta{}, err
	}
	unlock, err := lockDir(ctx, filepath.Join(dir, "lock"))
	if err != nil {
		return Meta{}, err
	}
	defer unlock()

	prev, err := Open(dir)
	if prev != nil {
		defer prev.Close()
	}
	switch {
	case errors.Is(err, ErrNoDatabase):
		prev = nil
	case err != nil:
		// A corrupt current version must not block recovery: rebuild from
		// the batch alone.
		cfg.logger.Warn("ignoring unreadable current database version", "err", err)
		prev = nil
	}

	now := cfg.now().UTC()
	meta := Meta{Schema: SchemaVersion, Created: now, Version: now.Format("20060102T150405Z") + "-" + randHex(4)}

	// Sources: batch replaces same-named ones; previous others carry over.
	srcs := map[string]Source{}
	if prev != nil {
		for _, s := range prev.meta.Sources {
			srcs[s.Name] = s
		}
	}
	replaced := map[string]bool{}
	for name, s := range b.sources {
		srcs[name] = *s
		replaced[name] = true
	}
	for _, s := range srcs {
		meta.Sources = append(meta.Sources, s)
	}
	sort.Slice(meta.Sources, func(i, j int) bool { return meta.Sources[i].Name < meta.Sources[j].Name })

	// Advisories: latest modified wins on duplicate ids across sources.
	byID := map[string]*entry{}
	add := func(e *entry) {
		if old, ok := byID[e.id]; ok {
			if old.modified > e.modified || (old.modified == e.modified && old.source > e.source) {
				return
			}
		}
		byID[e.id] = e
	}
	if prev != nil {
		old, err := prev.entries()
		if err != nil {
			return Meta{}, err
		}
		for _, e := range old {
			if !replaced[e.source] {
				add(e)
			}
		}
	}
	for _, es := range b.entries {
		for _, e := range es {
			add(e)
		}
	}
	ents := make([]*entry, 0, len(byID))
	for _, e := range byID {
		ents = append(ents, e)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].id < ents[j].id })

	idx := &index{Keys: map[string][]uint32{}, KeyHash: map[string]uint64{}, Offsets: make([]int64, 0, len(ents)+1)}
	var data bytes.Buffer
	keyRecHashes := map[string][]uint64{}
	for i, e := range ents {
		idx.Offsets = append(idx.Offsets, int64(data.Len()))
		idx.IDs = append(idx.IDs, e.id)
		idx.Sources = append(idx.Sources, e.source)
		idx.Modified = append(idx.Modified, e.modified)
		data.Write(e.raw)
		h := fnv.New64a()
		h.Write(e.raw)
		rh := h.Sum64()
		for _, k := range e.keys {
			idx.Keys[k] = append(idx.Keys[k], uint32(i))
			keyRecHashes[k] = append(keyRecHashes[k], rh)
		}
	}
	idx.Offsets = append(idx.Offsets, int64(data.Len()))
	for k, hs := range keyRecHashes {
		slices.Sort(hs)
		h := fnv.New64a()
		for _, x := range hs {
			var buf [8]byte
			for i := range buf {
				buf[i] = byte(x >> (8 * i))
			}
			h.Write(buf[:])
		}
		idx.KeyHash[k] = h.Sum64()
	}
	var changes []Key
	for k, h := range idx.KeyHash {
		if prev == nil || prev.idx.KeyHash[k] != h {
			changes = append(changes, keyFromString(k))
		}
	}
	if prev != nil {
		for k := range prev.idx.KeyHash {
			if _, ok := idx.KeyHash[k]; !ok {
				changes = append(changes, keyFromString(k))
			}
		}
	}
	sort.Slice(changes, func(i, j int) bool {
		if changes[i].Ecosystem != changes[j].Ecosystem {
			return changes[i].Ecosystem < changes[j].Ecosystem
		}
		return changes[i].Name < changes[j].Name
	})
	meta.Advisories, meta.Keys, meta.Changed = len(ents), len(idx.Keys), len(changes)

	// Build the version in a temp dir beside its final place (same
	// filesystem, so the rename is atomic).
	tmp, err := os.MkdirTemp(filepath.Join(dir, dirVersions), ".tmp-")
	if err != nil {
		return Meta{}, err
	}
	committed := false
	defer func() {
		if !committed {
			_ = os.RemoveAll(tmp)
		}
	}()
	var ib bytes.Buffer
	if err := gob.NewEncoder(&ib).Encode(idx); err != nil {
		return Meta{}, err
	}
	files := map[string][]byte{fileAdvisories: data.Bytes(), fileIndex: ib.Bytes()}
	if files[fileChanges], err = json.Marshal(changes); err != nil {
		return Meta{}, err
	}

	// KEV, EPSS, EOL: the batch's if it has them, else the previous files.
	carry := func(name string) error {
		if prev == nil {
			return nil
		}
		b, ok, err := prev.readLazy(name)
		if ok && err == nil {
			files[name] = b
		}
		return err
	}
	if b.kev != nil {
		if files[fileKEV], err = json.Marshal(b.kev); err != nil {
			return Meta{}, err
		}
		meta.KEV = len(b.kev)
	} else if err := carry(fileKEV); err != nil {
		return Meta{}, err
	} else if prev != nil {
		meta.KEV = prev.meta.KEV
	}
	if b.epss != nil {
		files[fileEPSS] = encodeEPSS(b.epss)
		meta.EPSS = len(b.epss)
	} else if err := carry(fileEPSS); err != nil {
		return Meta{}, err
	} else if prev != nil {
		meta.EPSS = prev.meta.EPSS
	}
	if b.eol != nil {
		if files[fileEOL], err = json.Marshal(b.eol); err != nil {
			return Meta{}, err
		}
		meta.EOL = len(b.eol)
	} else if err := carry(fileEOL); err != nil {
		return Meta{}, err
	} else if prev != nil {
		meta.EOL = prev.meta.EOL
	}
	if files[fileMeta], err = json.MarshalIndent(meta, "", "  "); err != nil {
		return Meta{}, err
	}
	for name, content := range files {
		if err := writeFileSync(filepath.Join(tmp, name), content); err != nil {
			return Meta{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Meta{}, err
	}
	final := filepath.Join(dir, dirVersions, meta.Version)
	if err := os.Rename(tmp, final); err != nil {
		return Meta{}, err
	}
	committed = true
	if err := syncDir(filepath.Join(dir, dirVersions)); err != nil {
		return Meta{}, err
	}
	// Swap the pointer: write CURRENT.tmp, fsync, rename over CURRENT.
	cur := filepath.Join(dir, fileCurrent)
	if err := writeFileSync(cur+".tmp", []byte(meta.Version+"\n")); err != nil {
		return Meta{}, err
	}
	if err := os.Rename(cur+".tmp", cur); err != nil {
		return Meta{}, err
	}
	if err := syncDir(dir); err != nil {
		return Meta{}, err
	}
	keep := map[string]bool{meta.Version: true}
	if prev != nil {
		keep[filepath.Base(prev.dir)] = true
	}
	prune(dir, keep, cfg.logger)
	return meta, nil
}

// entries reconstructs the stored records of a version without decoding
// them, so a partial update copies untouched sources byte for byte.
func (db *DB) entries() ([]*entry, error) {
	n := len(db.idx.IDs)
	data := make([]byte, db.idx.Offsets[n])
	if _, err := db.data.ReadAt(data, 0); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	out := make([]*entry, n)
	for i := range n {
		out[i] = &entry{id: db.idx.IDs[i], source: db.idx.Sources[i], modified: db.idx.Modified[i],
			raw: data[db.idx.Offsets[i]:db.idx.Offsets[i+1]]}
	}
	for k, recs := range db.idx.Keys {
		for _, r := range recs {
			out[r].keys = append(out[r].keys, k)
		}
	}
	return out, nil
}

// prune removes versions not in keep and temp dirs of interrupted writers
// (safe: the writer lock is held).
func prune(dir string, keep map[string]bool, log *slog.Logger) {
	des, err := os.ReadDir(filepath.Join(dir, dirVersions))
	if err != nil {
		return
	}
	for _, de := range des {
		if keep[de.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, dirVersions, de.Name())); err != nil {
			log.Warn("prune old database version", "version", de.Name(), "err", err)
		}
	}
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some filesystems cannot fsync directories; that is not a failure.
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
