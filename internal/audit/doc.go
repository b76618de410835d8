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
// Limits: the chain proves integrity relative to its head. Someone able
// to rewrite the whole table and the head row together can forge a
// consistent log; publish [Report.Head] elsewhere (an external log, a
// signed checkpoint) to anchor it. Details are stored as the compact JSON
// they were given and hashed byte for byte.
package audit
