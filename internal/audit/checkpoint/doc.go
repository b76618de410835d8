// Package checkpoint anchors the audit chain outside the database with
// signed checkpoints, in the manner of Certificate Transparency's signed
// tree heads: a checkpoint names a record (its sequence number and hash,
// which covers every record before it), the time, and the key that signs
// it with Ed25519. The key lives in a file apart from the database
// (replicas share the file or a secret mounted as one), the checkpoints
// in the blob storage (a [Store]; package dirstore for the fs driver) and,
// optionally, with a syslog server or a webhook ([Sink]; packages
// syslogsink and webhooksink).
//
// A [Writer] signs the head every interval, after a number of records and
// on shutdown, after checking that the chain still holds the newest
// checkpoint. [Verify] checks the whole chain and
// that it still holds the newest checkpoint's record with the signed
// hash, so deleting the last records and rewriting the head to match, or
// editing and rehashing records before the checkpoint, is detected even
// though the chain is consistent in itself.
//
// Limits: records written after the newest checkpoint are only as safe
// as the database until the next one; someone holding the key and the
// storage can forge both; only the newest checkpoint is read back.
package checkpoint
