package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/opencontainers/go-digest"
)

// GCStats reports one garbage collection run.
type GCStats struct {
	// Candidates is how many unreferenced blobs past the grace period
	// were examined.
	Candidates int
	// Deleted is how many blobs were deleted, record and bytes.
	Deleted int
	// Bytes is the storage freed.
	Bytes int64
}

// CollectGarbage deletes blobs that no manifest references and nobody
// touched within grace. For each candidate the metadata record is deleted
// first, inside a transaction that re-checks it is still unreferenced; only
// then are the bytes deleted. A push committing the same digest holds the
// digest's lock, so it either completes first (and refreshes the record,
// which saves the blob) or starts after the bytes are gone (and writes them
// again).
func (r *Registry) CollectGarbage(ctx context.Context, grace time.Duration) (GCStats, error) {
	const batch = 500
	var st GCStats
	if grace < 0 {
		return st, fmt.Errorf("garbage collection grace %s must not be negative", grace)
	}
	before := r.now().Add(-grace)
	for {
		cands, err := r.md.GCCandidates(ctx, before, batch)
		if err != nil {
			return st, fmt.Errorf("list garbage candidates: %w", err)
		}
		deleted := 0
		for _, d := range cands {
			st.Candidates++
			ok, size, err := r.collect(ctx, d, before)
			if err != nil {
				return st, err
			}
			if ok {
				deleted++
				st.Deleted++
				st.Bytes += size
			}
		}
		// Candidates that survived (touched meanwhile) would come back
		// first in the next batch; stop when a batch freed nothing.
		if len(cands) < batch || deleted == 0 {
			return st, nil
		}
	}
}

func (r *Registry) collect(ctx context.Context, d digest.Digest, before time.Time) (bool, int64, error) {
	unlock, err := r.digestLocks.Lock(ctx, d.String())
	if err != nil {
		return false, 0, err
	}
	defer unlock()
	ok, err := r.md.DeleteBlobIfUnreferenced(ctx, d, before)
	if err != nil {
		return false, 0, fmt.Errorf("delete blob record %s: %w", d, err)
	}
	if !ok {
		return false, 0, nil
	}
	size, err := r.blobs.Stat(ctx, d)
	if errors.Is(err, blob.ErrNotFound) {
		return true, 0, nil
	} else if err != nil {
		return false, 0, fmt.Errorf("stat collected blob %s: %w", d, err)
	}
	if err := r.blobs.Delete(ctx, d); err != nil && !errors.Is(err, blob.ErrNotFound) {
		// The record is gone, so the bytes are unreachable; a later
		// orphan sweep may remove them.
		return false, 0, fmt.Errorf("delete collected blob %s: %w", d, err)
	}
	r.log.Info("garbage collected blob", "digest", d, "bytes", size)
	return true, size, nil
}
