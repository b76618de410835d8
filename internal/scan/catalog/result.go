package catalog

import (
	"context"
	"errors"
)

// LayerResult is what one layer contributes before squashing. It depends
// only on the layer's bytes and the analyzer set, so it is what the cache
// stores.
type LayerResult struct {
	Digest string `json:"digest"`
	// Files are the analyzed files in tar order, one entry per analyzer
	// that looked at the file.
	Files []FileResult `json:"files,omitempty"`
	// Shadows are paths of entries some analyzer wanted but that carry no
	// result here (too large, not regular, hard links, or analyzed without
	// finding anything); they still hide the same path in lower layers.
	Shadows []string `json:"shadows,omitempty"`
	// Whiteouts are paths deleted from lower layers (".wh.<name>").
	Whiteouts []string `json:"whiteouts,omitempty"`
	// Opaques are directories whose lower-layer contents are hidden
	// (".wh..wh..opq").
	Opaques  []string `json:"opaques,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Entries are the headers the entry hooks kept, in tar order.
	Entries []Entry `json:"entries,omitempty"`
}

// FileResult is one analyzer's findings in one file.
type FileResult struct {
	Path     string    `json:"path"`
	Analyzer string    `json:"analyzer"`
	Packages []Package `json:"packages,omitempty"`
	Owned    []string  `json:"owned,omitempty"`
	Distro   *Distro   `json:"distro,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
}

// ErrCacheMiss is returned by Cache.Get when no result is stored.
var ErrCacheMiss = errors.New("layer result not cached")

// CacheKey names one cached layer result.
type CacheKey struct {
	// Layer is the layer digest.
	Layer string
	// Analyzers identifies the analyzer set (names, versions and limits).
	Analyzers string
}

// Cache stores layer results. The CLI keeps them on disk
// (catalog/diskcache); the registry keeps them in its metadata store.
// Implementations must be safe for concurrent use; a result is visible to
// Get only once Put has returned nil.
type Cache interface {
	// Get returns ErrCacheMiss (wrapped or not) when nothing is stored.
	Get(ctx context.Context, key CacheKey) (*LayerResult, error)
	Put(ctx context.Context, key CacheKey, r *LayerResult) error
}
