// Package blob defines moat's content-addressed blob storage.
//
// A Driver stores immutable blobs keyed by digest and the in-progress bytes
// of upload sessions keyed by session ID. Drivers know nothing about
// repositories, manifests or HTTP: which repository may read a digest is
// decided by package meta. Drivers never verify digests themselves; callers
// hash while streaming and commit an upload only after its digest matched,
// so a blob is visible only once it is known to be correct.
//
// Implementations live in sibling packages (blob/fs, later blob/s3) and all
// run the shared conformance suite in blob/blobtest. Callers use a driver
// through Instrumented, the one decorator that validates keys before they
// reach a driver and records metrics; ValidateDigest and ValidateUploadID
// are the key rules it and every driver apply.
package blob
