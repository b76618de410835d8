// Package dirstore keeps audit checkpoints as files in a directory: the
// checkpoint.Store for the fs blob driver, under its root, so the anchor
// of the audit chain lives with the blobs and not in the database. An S3
// driver would keep them as objects under a prefix of its bucket.
//
// Layout:
//
//	<dir>/<seq as 20 digits>.json   one signed checkpoint (JSON form)
//	<dir>/.tmp-*                    a write in progress
//
// Writes go to a temp file in the directory, are fsynced and renamed into
// place, then the directory is fsynced, so a checkpoint appears whole or
// not at all. Only the newest Keep files are kept: the newest covers all
// before it.
package dirstore
