package blob

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"
)

// Sentinel error kinds. Drivers wrap them with %w and context; callers
// classify with errors.Is.
var (
	// ErrNotFound: the blob or upload does not exist.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidDigest: the digest is malformed or its algorithm unsupported.
	ErrInvalidDigest = errors.New("blob: invalid digest")
	// ErrInvalidUploadID: the upload ID is not a safe opaque token.
	ErrInvalidUploadID = errors.New("blob: invalid upload id")
	// ErrOffsetMismatch: an append did not start at the upload's current
	// size, or a read offset lies outside the blob.
	ErrOffsetMismatch = errors.New("blob: upload offset mismatch")
	// ErrSizeMismatch: a commit's expected size differs from the upload's size.
	ErrSizeMismatch = errors.New("blob: size mismatch")
	// ErrUploadBusy: another append or commit of the same upload is in
	// progress. The caller may retry; nothing was written.
	ErrUploadBusy = errors.New("blob: upload busy")
)

// Driver stores blobs by digest and the data of upload sessions by ID.
//
// Visibility: a blob becomes visible to Stat/Open only when CommitUpload
// returns nil, and is then complete and durable (fsynced, or a completed
// multipart upload). Committing a digest that already exists succeeds and
// discards the upload: identical content lands identically, so no lock is
// needed. Delete of a missing blob returns ErrNotFound.
//
// Uploads: AppendUpload creates the upload on first use (offset 0). Bytes
// appended are durable once AppendUpload returns. If the reader fails midway,
// the bytes received so far stay in the upload and the returned count says
// how many; callers record that as the new offset.
type Driver interface {
	// Stat returns the size of the blob.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns a reader positioned at offset (0 <= offset <= size).
	Open(ctx context.Context, d digest.Digest, offset int64) (io.ReadCloser, error)
	// Delete removes the blob.
	Delete(ctx context.Context, d digest.Digest) error

	// AppendUpload writes r at the end of upload id, which must currently
	// hold exactly offset bytes (ErrOffsetMismatch otherwise).
	AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	// UploadSize reports how many bytes upload id holds.
	UploadSize(ctx context.Context, id string) (int64, error)
	// OpenUpload reads an upload's bytes from the start, e.g. to hash them
	// with a different algorithm than the one used while streaming.
	OpenUpload(ctx context.Context, id string) (io.ReadCloser, error)
	// CommitUpload turns upload id, which must hold exactly size bytes,
	// into blob d. The caller has verified that the bytes hash to d.
	CommitUpload(ctx context.Context, id string, d digest.Digest, size int64) error
	// DeleteUpload discards an upload. Missing uploads return ErrNotFound.
	DeleteUpload(ctx context.Context, id string) error
}

// Walker is an optional extension: drivers that can enumerate their blobs
// let garbage collection find files that metadata no longer knows, e.g.
// blobs committed just before a crash whose metadata row was never written.
type Walker interface {
	// WalkBlobs calls fn for every committed blob.
	WalkBlobs(ctx context.Context, fn func(d digest.Digest, size int64) error) error
}
