package vulndb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Live is the current version of a database directory that another
// process (moat db import or update) may replace at any time: a server
// Refreshes it periodically and every scan Acquires the version it
// matches with, which stays open until the scan releases it.
type Live struct {
	dir string

	mu  sync.Mutex
	cur *held
}

// held is one open version and how many users it has; the Live holds one
// reference while it is current.
type held struct {
	db   *DB
	refs int
}

// OpenLive watches dir. A directory without a database yet is no error:
// Acquire reports ErrNoDatabase until one appears.
func OpenLive(dir string) (*Live, error) {
	l := &Live{dir: dir}
	if _, err := l.Refresh(); err != nil && !errors.Is(err, ErrNoDatabase) {
		return nil, err
	}
	return l, nil
}

// Dir is the watched directory.
func (l *Live) Dir() string { return l.dir }

// Acquire returns the current version and the function that releases it;
// ErrNoDatabase when there is none.
func (l *Live) Acquire() (*DB, func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.cur
	if h == nil {
		return nil, nil, fmt.Errorf("%w in %s", ErrNoDatabase, l.dir)
	}
	h.refs++
	var once sync.Once
	return h.db, func() { once.Do(func() { l.release(h) }) }, nil
}

func (l *Live) release(h *held) {
	l.mu.Lock()
	h.refs--
	last := h.refs == 0
	l.mu.Unlock()
	if last {
		h.db.Close()
	}
}

// Change is a new version found by Refresh. From is the version current
// before (nil when there was none); both stay open until Release.
type Change struct {
	From, To *DB
	release  []func()
}

// Release lets go of both versions.
func (c *Change) Release() {
	for _, r := range c.release {
		r()
	}
}

// Refresh makes the directory's current version the one Acquire returns,
// if it changed since the last call, and reports the change (nil when
// nothing changed). The caller must Release it.
func (l *Live) Refresh() (*Change, error) {
	name, err := os.ReadFile(filepath.Join(l.dir, fileCurrent))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoDatabase, l.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("vulndb: %w", err)
	}
	version := strings.TrimSpace(string(name))
	l.mu.Lock()
	same := l.cur != nil && l.cur.db.meta.Version == version
	l.mu.Unlock()
	if same {
		return nil, nil
	}
	db, err := Open(l.dir)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	old := l.cur
	if old != nil && old.db.meta.Version == db.meta.Version {
		l.mu.Unlock()
		db.Close() // another Refresh got there first
		return nil, nil
	}
	h := &held{db: db, refs: 2} // the Live's reference and the Change's
	l.cur = h
	c := &Change{To: db, release: []func(){func() { l.release(h) }}}
	if old != nil {
		// The Live's reference to the old version passes to the Change.
		c.From = old.db
		c.release = append(c.release, func() { l.release(old) })
	}
	l.mu.Unlock()
	return c, nil
}

// Close releases the current version; scans holding it keep it open
// until they release it.
func (l *Live) Close() error {
	l.mu.Lock()
	h := l.cur
	l.cur = nil
	l.mu.Unlock()
	if h != nil {
		l.release(h)
	}
	return nil
}
