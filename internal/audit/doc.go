// Package audit keeps moat's tamper-evident, append-only audit log: who
// did what to which resource, from where, when, and with what result.
//
// Each record carries the SHA-256 hash of the record before it
// (prev_hash) and its own hash over a canonical encoding of its fields
// plus prev_hash (see [Record.ComputeHash]); the first record's prev_hash
// is 32 zero bytes. [Log.Verify] walks the chain from the start and
// reports the first record that was edited, deleted or moved, and a tail
// cut off after the head was recorded. Appends are serialized by the
// store (a row lock on the chain head in PostgreSQL, the single writer in
// SQLite), so concurrent writers on any number of replicas extend one
// chain.
//
// Entries are built one way, by [Op.Entry], from who acted, what, on
// which resource, from where, with which details and which error: nil is
// a success, a [Refusal] (bad credentials, an invalid token, a policy
// denial) is recorded with its result and reason class but never its
// text, and any other error is a failure with its text. [Log.Record]
// appends such an Op and waits for its commit, except that identical
// refusals within a minute are counted and summarized once the minute
// ends, so a flood of refused requests cannot grow the log (or cost a
// write) per request; memory for the counts is bounded, and [Log.Close]
// writes what is pending.
//
// Limits: the chain proves integrity relative to its head. Someone able
// to rewrite the whole table and the head row together can forge a
// consistent log; package checkpoint anchors it with signed checkpoints
// kept outside the database. Details are stored as compact JSON and
// hashed byte for byte; beyond 64 KiB they are truncated, deterministically
// and marked ("truncated": true, "original_size"), never dropped.
package audit
