package registry

import (
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Sentinel error kinds, one per error code of the distribution spec (plus
// ErrRangeInvalid and ErrTooLarge, which the spec expresses as HTTP 416 and
// 413). Errors returned by Registry wrap exactly one of them.
var (
	ErrBlobUnknown         = errors.New("blob unknown to registry")
	ErrBlobUploadInvalid   = errors.New("blob upload invalid")
	ErrBlobUploadUnknown   = errors.New("blob upload unknown to registry")
	ErrDigestInvalid       = errors.New("provided digest did not match uploaded content")
	ErrManifestBlobUnknown = errors.New("manifest references unknown content")
	ErrManifestInvalid     = errors.New("manifest invalid")
	ErrManifestUnknown     = errors.New("manifest unknown")
	ErrNameInvalid         = errors.New("invalid repository name")
	ErrNameUnknown         = errors.New("repository name not known to registry")
	ErrSizeInvalid         = errors.New("provided length did not match content length")
	ErrTagInvalid          = errors.New("invalid tag")
	ErrUnsupported         = errors.New("the operation is unsupported")
	ErrRangeInvalid        = errors.New("requested range not satisfiable")
	ErrTooLarge            = errors.New("content too large")
	ErrTooManyRequests     = errors.New("too many requests")
	ErrDenied              = errors.New("requested access to the resource is denied")
	ErrUnauthorized        = errors.New("authentication required")
)

// Detailer is implemented by errors that carry structured detail for the
// "detail" field of the spec's error envelope.
type Detailer interface {
	Detail() any
}

// Messager is implemented by errors that tell the client more than their
// kind's generic message: the text a user sees in "podman pull".
type Messager interface {
	Message() string
}

// DigestMismatchError: the uploaded or pushed bytes do not hash to the
// digest the client named. errors.Is(err, ErrDigestInvalid) holds.
type DigestMismatchError struct {
	Expected digest.Digest
	Computed digest.Digest
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("digest mismatch: expected %s, content hashes to %s", e.Expected, e.Computed)
}

func (e *DigestMismatchError) Unwrap() error { return ErrDigestInvalid }

// Detail names the digest the client sent, as the spec suggests.
func (e *DigestMismatchError) Detail() any { return map[string]string{"digest": e.Expected.String()} }

// RangeError: a chunk did not start where the upload currently ends.
// Offset is the number of bytes the upload holds, so the client can resume.
// errors.Is(err, ErrRangeInvalid) holds.
type RangeError struct {
	Offset int64 // bytes received so far
	Start  int64 // where the rejected chunk claimed to start
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("chunk starts at %d but the upload holds %d bytes", e.Start, e.Offset)
}

func (e *RangeError) Unwrap() error { return ErrRangeInvalid }

func (e *RangeError) Detail() any { return map[string]int64{"offset": e.Offset, "start": e.Start} }

// MissingContentError: a manifest references blobs or manifests that its
// repository does not hold. errors.Is(err, ErrManifestBlobUnknown) holds.
type MissingContentError struct {
	Blobs     []digest.Digest
	Manifests []digest.Digest
}

func (e *MissingContentError) Error() string {
	return fmt.Sprintf("manifest references %d unknown blob(s) and %d unknown manifest(s)", len(e.Blobs), len(e.Manifests))
}

func (e *MissingContentError) Unwrap() error { return ErrManifestBlobUnknown }

func (e *MissingContentError) Detail() any {
	d := map[string][]digest.Digest{}
	if len(e.Blobs) > 0 {
		d["blobs"] = e.Blobs
	}
	if len(e.Manifests) > 0 {
		d["manifests"] = e.Manifests
	}
	return d
}

// UploadLimitError: the actor already holds the most upload sessions it
// may. errors.Is(err, ErrTooManyRequests) holds; sessions free up as they
// finish, are cancelled, or expire.
type UploadLimitError struct {
	Actor string
	Limit int
}

func (e *UploadLimitError) Error() string {
	return fmt.Sprintf("%s has %d upload sessions open, the most allowed; finish or cancel some (DELETE the upload URL) or wait for them to expire", e.Actor, e.Limit)
}

func (e *UploadLimitError) Unwrap() error { return ErrTooManyRequests }

// Message is what the client is told.
func (e *UploadLimitError) Message() string {
	return fmt.Sprintf("too many open upload sessions (the limit is %d per identity); finish or cancel some, or wait for them to expire", e.Limit)
}

// Detail is what the client is told.
func (e *UploadLimitError) Detail() any { return map[string]any{"limit": e.Limit} }

// BusyError: another request is working on the same upload session right
// now. errors.Is(err, ErrTooManyRequests) holds; the client may retry.
type BusyError struct {
	Key  string
	Held time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("%s is busy (held for %s)", e.Key, e.Held.Round(time.Millisecond))
}

func (e *BusyError) Unwrap() error { return ErrTooManyRequests }
