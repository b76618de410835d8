package admission

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/events"
)

// cacheTTL bounds how long facts are reused without an event saying
// they changed: a safety net for events this process missed.
const cacheTTL = 30 * time.Second

// maxCached bounds the cache; facts are cheap to read again.
const maxCached = 50_000

type cacheKey struct{ repo, ref string }

type cacheEntry struct {
	image    *Image
	digest   string
	children []string
	trust    string
	until    time.Time
	verdicts *verdicts
}

// verdicts keeps the rules' verdicts on one entry's facts: a rule reads
// nothing but the image, so its verdict holds as long as the facts do.
type verdicts struct{ m sync.Map } // verdictKey → verdict

type verdictKey struct {
	rule *ruleID
	host string // image.host differs by the name the pod used
}

type verdict struct {
	ok  bool
	msg string
	err error
}

// factCache keeps images' facts by repository and tag or digest. Events
// drop what they change: a tag's move, a digest's scan, findings or
// signatures (and an index's, when one of its images changes).
type factCache struct {
	mu sync.RWMutex
	m  map[cacheKey]cacheEntry
}

func newFactCache() *factCache { return &factCache{m: map[cacheKey]cacheEntry{}} }

func (c *factCache) get(k cacheKey, trust string, now time.Time) (cacheEntry, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || e.trust != trust || now.After(e.until) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *factCache) put(k cacheKey, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCached {
		clear(c.m)
	}
	c.m[k] = e
}

// forgetDigest drops every entry about digest, in any repository ("" for
// all), and the indexes holding it.
func (c *factCache) forgetDigest(repo, digest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if repo != "" && k.repo != repo {
			continue
		}
		if e.digest == digest || k.ref == digest || contains(e.children, digest) {
			delete(c.m, k)
		}
	}
}

// forgetRef drops repo's entry for ref (a tag that moved).
func (c *factCache) forgetRef(repo, ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, cacheKey{repo: repo, ref: ref})
}

func (c *factCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Outbox is the part of the events outbox the cache follows.
type Outbox interface {
	Head(ctx context.Context) (events.Cursor, error)
	Read(ctx context.Context, c events.Cursor, limit int) ([]events.Event, events.Cursor, error)
}

// Follow reads the events outbox from its head every poll and drops the
// cached facts the events change, until ctx ends. Every replica follows
// on its own, so a change made through any of them reaches all.
func (s *Service) Follow(ctx context.Context, o Outbox, poll time.Duration) {
	var cur events.Cursor
	started := false
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if !started {
			c, err := o.Head(ctx)
			if err == nil {
				cur, started = c, true
			}
		} else {
			for {
				evs, next, err := o.Read(ctx, cur, 500)
				if err != nil {
					if ctx.Err() == nil {
						s.log.Warn("admission: reading events; dropping cached facts", "err", err)
						s.cache.clear()
					}
					break
				}
				for _, e := range evs {
					s.invalidate(e)
				}
				cur = next
				if len(evs) < 500 {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// invalidate drops what event e changes.
func (s *Service) invalidate(e events.Event) {
	repo, digest, _ := strings.Cut(e.Subject, "@")
	switch e.Type {
	case events.ImagePushed, events.ImageDeleted:
		var d events.ImageData
		if json.Unmarshal(e.Data, &d) != nil {
			s.cache.clear()
			return
		}
		if d.Tag != "" {
			s.cache.forgetRef(d.Repository, d.Tag)
			// cosign's signature tag names the image it signs.
			if hex, ok := strings.CutSuffix(strings.TrimPrefix(d.Tag, "sha256-"), ".sig"); ok && len(hex) == 64 {
				s.cache.forgetDigest(d.Repository, "sha256:"+hex)
			}
		}
		if d.Subject != "" { // a signature or another referrer
			s.cache.forgetDigest(d.Repository, d.Subject)
		}
		if e.Type == events.ImageDeleted {
			s.cache.forgetDigest(d.Repository, d.Digest)
		}
	case events.ScanCompleted, events.ScanFailed, events.FindingNew, events.FindingResolved:
		s.cache.forgetDigest("", digest)
	case events.ImageSigned:
		s.cache.forgetDigest(repo, digest)
	}
}
