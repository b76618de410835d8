package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// Sentinel error kinds, wrapped with %w and context by implementations.
var (
	ErrNotFound = errors.New("meta: not found")
	// ErrConflict: a compare-and-swap precondition failed (e.g. an upload's
	// offset moved underneath the caller).
	ErrConflict = errors.New("meta: conflict")
	// ErrBlobUnknown: a manifest references a blob or child manifest that
	// the repository does not hold. Wrapped in a *MissingError.
	ErrBlobUnknown = errors.New("meta: referenced content unknown")
	// ErrInvalid: an argument is malformed (bad digest, empty repository
	// name, manifest bytes that do not match their digest or size...).
	// Nothing was stored.
	ErrInvalid = errors.New("meta: invalid argument")
	// ErrLimit: the operation would exceed a limit the caller set (e.g.
	// open upload sessions per owner). Nothing was stored.
	ErrLimit = errors.New("meta: limit reached")
)

// MissingError names the digests a manifest referenced but the repository
// lacks. errors.Is(err, ErrBlobUnknown) holds for it.
type MissingError struct {
	Blobs     []digest.Digest // layers/config not linked to the repository
	Manifests []digest.Digest // index children not present in the repository
}

func (e *MissingError) Error() string {
	msg := "meta: manifest references unknown content"
	if len(e.Blobs) > 0 {
		msg += fmt.Sprintf(": blobs %v", e.Blobs)
	}
	if len(e.Manifests) > 0 {
		msg += fmt.Sprintf(": manifests %v", e.Manifests)
	}
	return msg
}

func (e *MissingError) Unwrap() error { return ErrBlobUnknown }

// Manifest is a stored manifest of one repository.
type Manifest struct {
	Repository   string
	Digest       digest.Digest
	MediaType    string
	ArtifactType string // from artifactType, or config.mediaType for artifacts
	Size         int64
	Content      []byte // the exact bytes pushed
	// Subject is the digest in the manifest's "subject" field, if any.
	Subject digest.Digest
	// Annotations from the manifest, returned in referrer descriptors.
	Annotations map[string]string
	// Blobs are the config and layer digests the manifest references and
	// the repository must hold (non-distributable layers excluded).
	Blobs []digest.Digest
	// External are layers fetched from elsewhere (non-distributable,
	// foreign, or with urls): they need not be in the repository, but
	// whenever their bytes are stored, before or after the manifest is
	// put, garbage collection keeps them as long as the manifest exists.
	External []digest.Digest
	// Children are the manifests an index references; they must exist in
	// the repository.
	Children []digest.Digest
	PushedAt time.Time
	PushedBy string
	// PulledAt is the last pull time, zero if never pulled.
	PulledAt time.Time
}

type actorKey struct{}

// WithActor returns a context naming who makes the changes done with it
// ("user:alice"), for the events a store records with them.
func WithActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}

// Actor returns the name set by WithActor, or "" for anonymous callers.
func Actor(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}

type sourceIPKey struct{}

// WithSourceIP returns a context naming the address the changes done with
// it come from, for the events a store records with them.
func WithSourceIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, sourceIPKey{}, ip)
}

// SourceIP returns the address set by WithSourceIP, or "".
func SourceIP(ctx context.Context) string {
	s, _ := ctx.Value(sourceIPKey{}).(string)
	return s
}

// Location is a repository holding a manifest, with the tags that point
// at it there.
type Location struct {
	Repository string
	Tags       []string
}

// Descriptor is what the referrers API lists for one referring manifest.
type Descriptor struct {
	MediaType    string
	ArtifactType string
	Digest       digest.Digest
	Size         int64
	Annotations  map[string]string
}

// Upload is a resumable blob upload session.
type Upload struct {
	ID         string
	Repository string
	// Owner names who opened the session ("robot:ci"), "" for anonymous
	// callers; open sessions are capped per owner.
	Owner string
	// Offset is how many bytes have been received and hashed.
	Offset int64
	// HashState is the marshaled state of the streaming sha256 hash after
	// Offset bytes (encoding.BinaryMarshaler), so a resumed upload, possibly
	// on another replica, continues hashing without rereading.
	HashState []byte
	StartedAt time.Time
	UpdatedAt time.Time
}

// Page asks for at most N items after Last in lexical order. N <= 0 means
// no limit.
type Page struct {
	N    int
	Last string
}

// Store is the metadata store. Every method is safe for concurrent use from
// many goroutines and many processes sharing one database.
type Store interface {
	// Close releases what the store holds. A store on a database its
	// caller opened and shares leaves that database open.
	Close() error

	// PutBlob records that the blob exists in storage with this size and
	// links it to repo, creating the repository if needed. Idempotent; it
	// refreshes the blob's touch time, which protects it from garbage
	// collection for the grace period.
	PutBlob(ctx context.Context, repo string, d digest.Digest, size int64) error
	// LinkBlob links an already recorded blob to repo (cross-repository
	// mount). ErrNotFound if the blob is not recorded at all.
	LinkBlob(ctx context.Context, repo string, d digest.Digest) error
	// StatBlob returns the size of a blob linked to repo; ErrNotFound if
	// the blob is not linked there.
	StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error)
	// UnlinkBlob removes the blob's link to repo (blob DELETE); the bytes
	// stay until garbage collection finds them unreferenced.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error

	// PutManifest stores m and, if tag is not empty, points tag at it, in
	// one transaction. It fails with a *MissingError if m.Blobs are not all
	// linked to the repository or m.Children are not all manifests of it.
	// Putting an existing digest again updates only the tag and push time.
	// previous is the digest the tag pointed at before: empty for a new
	// tag (or none given), m.Digest when the tag did not move.
	PutManifest(ctx context.Context, m *Manifest, tag string) (previous digest.Digest, err error)
	// GetManifest returns a manifest by digest within repo.
	GetManifest(ctx context.Context, repo string, d digest.Digest) (*Manifest, error)
	// ResolveTag returns the digest a tag points to.
	ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	// TagMutability returns repo's own tag mutability (Mode "" when it
	// follows the default) and the one in force; SetTagMutability sets it,
	// creating the repository. PutManifest refuses to move a tag that is
	// immutable with a *TagImmutableError.
	TagMutability(ctx context.Context, repo string) (own, effective TagMutability, err error)
	SetTagMutability(ctx context.Context, repo string, t TagMutability) error
	// FixedTags lists the immutable tags deleting tag (or, tag empty, the
	// manifest d) would remove.
	FixedTags(ctx context.Context, repo, tag string, d digest.Digest) ([]string, error)
	// FetchManifest returns the manifest tag points to (d empty) or the
	// manifest d, in one read and without its references (Blobs,
	// Children and External stay empty): what serving a pull needs.
	FetchManifest(ctx context.Context, repo, tag string, d digest.Digest) (*Manifest, error)
	// DeleteManifest removes a manifest and every tag pointing to it.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	// DeleteTag removes one tag, leaving the manifest.
	DeleteTag(ctx context.Context, repo, tag string) error
	// ListTags returns a repository's tags in lexical order;
	// ErrNotFound if the repository does not exist.
	ListTags(ctx context.Context, repo string, p Page) ([]string, error)
	// ListRepositories returns repository names in lexical order.
	ListRepositories(ctx context.Context, p Page) ([]string, error)
	// Referrers lists manifests in repo whose subject is d, optionally
	// only those with the given artifact type.
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]Descriptor, error)
	// MarkPulled records a pull of a manifest (best effort bookkeeping).
	MarkPulled(ctx context.Context, repo string, d digest.Digest, at time.Time) error

	// CreateUpload starts an upload session. When maxOpen > 0 and u.Owner
	// is not empty, it fails with ErrLimit if the owner already has
	// maxOpen sessions open.
	CreateUpload(ctx context.Context, u *Upload, maxOpen int) error
	// GetUpload returns a session; ErrNotFound if absent.
	GetUpload(ctx context.Context, id string) (*Upload, error)
	// AdvanceUpload moves a session from offset from to u.Offset, storing
	// u.HashState; ErrConflict if the stored offset is no longer from.
	AdvanceUpload(ctx context.Context, u *Upload, from int64) error
	// DeleteUpload ends a session.
	DeleteUpload(ctx context.Context, id string) error
	// StaleUploads lists sessions not updated since before.
	StaleUploads(ctx context.Context, before time.Time, limit int) ([]Upload, error)

	// GCCandidates lists blobs no manifest references and that have not
	// been touched since before (the grace period).
	GCCandidates(ctx context.Context, before time.Time, limit int) ([]digest.Digest, error)
	// DeleteBlobIfUnreferenced deletes a blob record and its links only if,
	// inside the same transaction, it is still unreferenced and untouched
	// since before. It reports whether the record was deleted; only then
	// may the caller delete the bytes from blob storage.
	DeleteBlobIfUnreferenced(ctx context.Context, d digest.Digest, before time.Time) (bool, error)
	// HasBlob reports whether a blob record exists at all (any repository).
	HasBlob(ctx context.Context, d digest.Digest) (bool, error)
}
