package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/opencontainers/go-digest"
)

// StatBlob returns the size of blob d as seen through repo. Manifests are
// content too: a manifest digest of repo is served as a blob, as clients
// that fetch manifests through the blob endpoint expect.
func (r *Registry) StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	size, _, err := r.statBlob(ctx, repo, d)
	return size, err
}

func (r *Registry) statBlob(ctx context.Context, repo string, d digest.Digest) (int64, []byte, error) {
	if err := validRepo(repo); err != nil {
		return 0, nil, err
	}
	if err := validDigest(d); err != nil {
		return 0, nil, err
	}
	size, err := r.md.StatBlob(ctx, repo, d)
	if err == nil {
		return size, nil, nil
	}
	if !errors.Is(err, meta.ErrNotFound) {
		return 0, nil, fmt.Errorf("stat blob %s in %s: %w", d, repo, err)
	}
	m, err := r.md.GetManifest(ctx, repo, d)
	if errors.Is(err, meta.ErrNotFound) {
		return 0, nil, fmt.Errorf("%w: %s in %s", ErrBlobUnknown, d, repo)
	} else if err != nil {
		return 0, nil, fmt.Errorf("stat blob %s in %s: %w", d, repo, err)
	}
	return int64(len(m.Content)), m.Content, nil
}

// OpenBlob returns blob d of repo positioned at offset, and its full size.
func (r *Registry) OpenBlob(ctx context.Context, repo string, d digest.Digest, offset int64) (io.ReadCloser, int64, error) {
	size, content, err := r.statBlob(ctx, repo, d)
	if err != nil {
		return nil, 0, err
	}
	if offset < 0 || offset > size {
		return nil, 0, fmt.Errorf("%w: offset %d of %d bytes", ErrRangeInvalid, offset, size)
	}
	if content != nil {
		return io.NopCloser(bytes.NewReader(content[offset:])), size, nil
	}
	rc, err := r.blobs.Open(ctx, d, offset)
	if errors.Is(err, blob.ErrNotFound) {
		// Recorded but gone from storage: report it, don't pretend.
		r.log.Error("blob recorded but missing from storage", "digest", d, "repository", repo)
		return nil, 0, fmt.Errorf("%w: %s: bytes missing from storage", ErrBlobUnknown, d)
	} else if err != nil {
		return nil, 0, fmt.Errorf("open blob %s: %w", d, err)
	}
	return rc, size, nil
}

// DeleteBlob unlinks blob d from repo. The bytes stay until garbage
// collection finds them unreferenced everywhere.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := validRepo(repo); err != nil {
		return err
	}
	if err := validDigest(d); err != nil {
		return err
	}
	if err := r.md.UnlinkBlob(ctx, repo, d); errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: %s in %s", ErrBlobUnknown, d, repo)
	} else if err != nil {
		return fmt.Errorf("delete blob %s in %s: %w", d, repo, err)
	}
	return nil
}
