package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
)

// Defaults for the limits a Catalog applies to every layer.
const (
	DefaultMaxFileSize  = 128 << 20 // largest file handed to an analyzer
	DefaultMaxLayerSize = 64 << 30  // uncompressed bytes read from one layer
	DefaultMaxEntries   = 10_000_000
)

// resultSchema versions the LayerResult encoding; bump it when the catalog
// itself changes what it records so stale cache entries are not reused.
const resultSchema = 2

// ErrDigestMismatch reports a layer whose bytes do not hash to its digest.
var ErrDigestMismatch = errors.New("layer digest mismatch")

// ErrDiffID reports a layer whose uncompressed content does not hash to
// the diff_id its image configuration names (see DiffIDLayer), or could
// not be read to its end to check.
var ErrDiffID = errors.New("layer does not match its diff_id")

// Catalog reads images into inventories. It is safe for concurrent use.
type Catalog struct {
	analyzers    []Analyzer
	cache        Cache
	log          *slog.Logger
	maxFileSize  int64
	maxLayerSize int64
	maxEntries   int
	concurrency  int
	post         []func(*Inventory)
	hooks        []EntryHook
	setID        string
	// inflight merges concurrent reads of the same layer, e.g. two images
	// sharing a base pushed at once.
	inflight singleflight.Group
}

// Option configures a Catalog.
type Option func(*Catalog) error

// WithCache stores and reuses per-layer results. Default: no cache.
func WithCache(c Cache) Option {
	return func(cat *Catalog) error { cat.cache = c; return nil }
}

// WithLogger sets the logger for cache problems. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(cat *Catalog) error {
		if l == nil {
			return errors.New("catalog: nil logger")
		}
		cat.log = l
		return nil
	}
}

// WithMaxFileSize caps the size of a file handed to an analyzer; larger
// wanted files are skipped with a warning. Default: DefaultMaxFileSize.
func WithMaxFileSize(n int64) Option {
	return func(cat *Catalog) error {
		if n <= 0 {
			return fmt.Errorf("catalog: max file size %d must be positive", n)
		}
		cat.maxFileSize = n
		return nil
	}
}

// WithMaxLayerSize caps the uncompressed bytes read from one layer, which
// stops decompression bombs; a layer past it keeps what was found so far
// and gets a warning. Default: DefaultMaxLayerSize.
func WithMaxLayerSize(n int64) Option {
	return func(cat *Catalog) error {
		if n <= 0 {
			return fmt.Errorf("catalog: max layer size %d must be positive", n)
		}
		cat.maxLayerSize = n
		return nil
	}
}

// WithMaxEntries caps the tar entries read from one layer. Default:
// DefaultMaxEntries.
func WithMaxEntries(n int) Option {
	return func(cat *Catalog) error {
		if n <= 0 {
			return fmt.Errorf("catalog: max entries %d must be positive", n)
		}
		cat.maxEntries = n
		return nil
	}
}

// WithConcurrency bounds how many layers are read at once. Default:
// GOMAXPROCS, at most 4.
func WithConcurrency(n int) Option {
	return func(cat *Catalog) error {
		if n <= 0 {
			return fmt.Errorf("catalog: concurrency %d must be positive", n)
		}
		cat.concurrency = n
		return nil
	}
}

// WithPostProcess adds a step run on every squashed inventory, in the
// order given (e.g. dropping lockfile entries that an installed tree
// already reports). Steps must be deterministic. Default: none.
func WithPostProcess(fn func(*Inventory)) Option {
	return func(cat *Catalog) error {
		if fn == nil {
			return errors.New("catalog: nil post-process step")
		}
		cat.post = append(cat.post, fn)
		return nil
	}
}

// WithAnalyzer adds an analyzer after those given to New (the secret
// analyzer beside defaults' package analyzers). Default: none.
func WithAnalyzer(a Analyzer) Option {
	return func(cat *Catalog) error {
		if a == nil {
			return errors.New("catalog: nil analyzer")
		}
		cat.analyzers = append(cat.analyzers, a)
		return nil
	}
}

// WithEntryHook lets h see every entry header of every layer and add
// findings after squashing (misconfig's checks of file modes). The hook
// joins the cache key. Default: none.
func WithEntryHook(h EntryHook) Option {
	return func(cat *Catalog) error {
		if h == nil {
			return errors.New("catalog: nil entry hook")
		}
		cat.hooks = append(cat.hooks, h)
		return nil
	}
}

// New returns a Catalog running the given analyzers. Their names must be
// unique; there may be none when an entry hook does the work.
func New(analyzers []Analyzer, opts ...Option) (*Catalog, error) {
	c := &Catalog{
		analyzers:    append([]Analyzer(nil), analyzers...),
		log:          slog.Default(),
		maxFileSize:  DefaultMaxFileSize,
		maxLayerSize: DefaultMaxLayerSize,
		maxEntries:   DefaultMaxEntries,
		concurrency:  min(runtime.GOMAXPROCS(0), 4),
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if len(c.analyzers) == 0 && len(c.hooks) == 0 {
		return nil, errors.New("catalog: no analyzers and no entry hooks")
	}
	ids := make([]string, 0, len(c.analyzers))
	seen := map[string]bool{}
	for _, a := range c.analyzers {
		if seen[a.Name()] {
			return nil, fmt.Errorf("catalog: analyzer %q given twice", a.Name())
		}
		seen[a.Name()] = true
		ids = append(ids, fmt.Sprintf("%s@%d", a.Name(), a.Version()))
	}
	for _, h := range c.hooks {
		if seen["hook:"+h.Name()] {
			return nil, fmt.Errorf("catalog: entry hook %q given twice", h.Name())
		}
		seen["hook:"+h.Name()] = true
		ids = append(ids, fmt.Sprintf("hook:%s@%d", h.Name(), h.Version()))
	}
	sort.Strings(ids)
	// The limits are part of the key: a layer cut short by a limit has a
	// partial result that a larger limit must not reuse.
	h := sha256.Sum256(fmt.Appendf(nil, "schema=%d file=%d layer=%d entries=%d|%s",
		resultSchema, c.maxFileSize, c.maxLayerSize, c.maxEntries, strings.Join(ids, ",")))
	c.setID = hex.EncodeToString(h[:8])
	return c, nil
}

// Catalog reads every layer of img (from the cache where it can) and
// returns the squashed inventory. Layer-level problems become warnings;
// an error means a layer could not be read at all (source I/O, digest
// mismatch, cancellation).
func (c *Catalog) Catalog(ctx context.Context, img Image) (*Inventory, error) {
	layers := img.Layers()
	results := make([]*LayerResult, len(layers))
	// Identical layers within one image are read once.
	first := map[string]int{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.concurrency)
	for i, l := range layers {
		if d := l.Digest(); d != "" {
			if _, dup := first[d]; dup {
				continue
			}
			first[d] = i
		}
		g.Go(func() error {
			r, err := c.sharedLayer(gctx, l)
			if err != nil {
				return fmt.Errorf("layer %d (%s): %w", i, l.Digest(), err)
			}
			results[i] = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, l := range layers {
		if results[i] == nil {
			results[i] = results[first[l.Digest()]]
		}
	}
	inv := squash(results)
	inv.Image = img.Digest()
	if len(c.hooks) > 0 {
		entries := make([]LayerEntries, len(results))
		for i, r := range results {
			entries[i] = LayerEntries{Digest: r.Digest, Entries: r.Entries}
		}
		for _, h := range c.hooks {
			h.Squash(entries, inv)
		}
	}
	for _, fn := range c.post {
		fn(inv)
	}
	return inv, nil
}

// sharedLayer is layer, deduplicated across concurrent calls by digest.
// A caller whose context ends stops waiting; the shared read goes on for
// the others only while its own (first) caller's context lives, and when
// that context ends the others, still waiting, read the layer again
// rather than fail with an error that is not theirs.
func (c *Catalog) sharedLayer(ctx context.Context, l Layer) (*LayerResult, error) {
	if l.Digest() == "" {
		return c.layer(ctx, l)
	}
	for {
		ch := c.inflight.DoChan(l.Digest(), func() (any, error) { return c.layer(ctx, l) })
		select {
		case r := <-ch:
			if r.Err == nil {
				return r.Val.(*LayerResult), nil
			}
			if ctx.Err() == nil && (errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				continue // the first caller gave up, not this one
			}
			return nil, r.Err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// layer returns the result for one layer, from the cache when possible.
func (c *Catalog) layer(ctx context.Context, l Layer) (*LayerResult, error) {
	key := CacheKey{Layer: l.Digest(), Analyzers: c.setID}
	useCache := c.cache != nil && key.Layer != ""
	if useCache {
		r, err := c.cache.Get(ctx, key)
		switch {
		case err == nil:
			return r, nil
		case !errors.Is(err, ErrCacheMiss):
			c.log.WarnContext(ctx, "layer cache read failed", "layer", key.Layer, "err", err)
		}
	}
	var (
		r   *LayerResult
		err error
	)
	if fl, ok := l.(FSLayer); ok {
		r, err = c.walkFS(ctx, fl)
	} else {
		r, err = c.walkTar(ctx, l)
	}
	if err != nil {
		return nil, err
	}
	if useCache {
		if err := c.cache.Put(ctx, key, r); err != nil {
			c.log.WarnContext(ctx, "layer cache write failed", "layer", key.Layer, "err", err)
		}
	}
	return r, nil
}
