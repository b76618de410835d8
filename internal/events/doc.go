// Package events is moat's outbox: every change of state (an image
// pushed or deleted, a scan done, a finding new or resolved, an image
// signed...) is appended to the events table in the same transaction as
// the change itself, whoever makes it (an HTTP request, the CLI, a job).
// Consumers (webhooks, the scan trigger, the audit log, signing) read the
// table in order from their own cursor, so nothing is lost when a process
// dies between the change and its consequences, and there is no
// in-memory queue to lose.
//
// Ordering: on SQLite writers take turns, so events become visible in id
// order and a cursor on the id is exact. On PostgreSQL transactions
// commit in any order, so a plain id cursor could step over an event
// whose transaction commits late. Each event therefore records its
// transaction id, and readers only see events of transactions older than
// the oldest one still running (the snapshot's xmin): that set can no
// longer grow, and the cursor is (txid, id). A transaction held open
// long delays delivery for that long, never loses an event.
//
// Delivery is at least once: a consumer's cursor moves after its handler
// returns, so a crash in between replays the batch. Handlers must be
// idempotent. One replica at a time holds each consumer's lease.
package events
