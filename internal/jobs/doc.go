// Package jobs is moat's durable work queue, kept in the metadata database
// so that scans, rescans, signing, webhook deliveries, lifecycle runs and
// garbage collection survive crashes and spread over replicas.
//
// A job is enqueued, optionally inside the caller's transaction (so the
// job exists exactly when the change that needs it does), claimed by one
// worker under a lease, and deleted when its handler succeeds. A handler
// error queues the job again after a backoff until its attempts or its
// deadline run out; then it stays "failed" for inspection. A worker that
// dies leaves its lease to expire, and the job is claimed again: delivery
// is at least once, so handlers must be idempotent. Identical queued work
// (same kind and dedupe key) is one job.
//
// On PostgreSQL workers claim with FOR UPDATE SKIP LOCKED, so any number
// of replicas share the queue without blocking each other; on SQLite the
// single writer connection serializes claims. Periodic work (Runner.Every)
// is enqueued by whichever replica first moves the schedule's row
// forward, so it runs once per cluster.
//
// Limits: jobs are polled (a second by default) except that Enqueue wakes
// this process's idle workers at once; payloads are JSON text meant to be
// small (a digest, an id), not data.
package jobs
