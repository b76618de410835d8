// Package registry is moat's domain service for the OCI distribution
// model: repositories, blob uploads, blobs, manifests, tags, referrers and
// garbage collection. The HTTP edge (package distribution) calls it; it
// never sees an *http.Request.
//
// Storage is split in two: a blob.Driver holds bytes by digest and the
// bytes of upload sessions, and a meta.Store holds everything else,
// including which repository may read which digest. A digest is readable
// only through a repository that meta links it to.
//
// Uploads are resumable sessions kept in meta together with the marshaled
// sha256 state, so consecutive chunks may reach different replicas. A blob
// becomes visible only after its digest was verified and the driver
// committed it; the metadata record is written after the bytes, and garbage
// collection deletes the record before the bytes, so a recorded blob always
// has its bytes.
//
// Limits: locks that serialize one upload session or one digest (commit
// versus garbage collection) are per process. Across replicas, upload
// appends are still guarded by the driver's offset check and meta's
// compare-and-swap, but garbage collection should run on one replica at a
// time until a database-backed lease exists. Blobs whose bytes were
// committed but whose metadata record was never written (a crash in
// between) are not swept yet.
//
// Errors are wrapped sentinels (ErrBlobUnknown, ErrManifestInvalid, ...)
// and typed errors carrying decision data (*DigestMismatchError,
// *RangeError, *MissingContentError, *BusyError); the edge translates them
// to the spec's error codes exactly once.
package registry
