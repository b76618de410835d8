// Package fs is the local-filesystem blob.Driver, moat's embedded default.
//
// On-disk layout under the root directory:
//
//	<root>/blobs/<alg>/<hex[0:2]>/<hex>          committed blob, e.g. blobs/sha256/ab/ab12…
//	<root>/blobs/<alg>/<hex[0:2]>/.tmp-<hex>-*   commit in progress (cross-device fallback only)
//	<root>/uploads/<id>/data                     bytes of upload session <id>
//
// Digests and upload IDs are validated before any path is built from them,
// so no request can name a file outside this layout.
//
// Durability: an append is fsynced before it returns. A commit renames the
// upload's file into place (it is already complete and fsynced) and then
// fsyncs the target directory, so a committed blob survives a crash and a
// half-written blob is never visible. Identical content lands identically,
// so concurrent commits of one digest need no lock.
//
// Concurrency: there is no store-wide lock. Appends and commits of one
// upload exclude each other with an advisory flock(2) on its data file, which
// also holds across processes sharing the root; a loser gets
// blob.ErrUploadBusy at once instead of waiting.
//
// Limits: Unix only (flock, directory fsync). Garbage collection is not the
// driver's business: it enumerates blobs (blob.Walker) and deletes what it is
// told. RemoveTempFiles and RemoveUploadsBefore clean up after crashes and
// abandoned sessions.
package fs
