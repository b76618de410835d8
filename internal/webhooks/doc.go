// Package webhooks sends moat's events to HTTP receivers as CloudEvents
// 1.0 in structured JSON mode, signed, retried and logged.
//
// A webhook (a name, a URL, an HMAC secret, event type and repository
// filters, an enabled flag) comes from the configuration file (SyncConfig
// at every start; source "config", which the API may not change) or from
// the management API (source "api"). All live in the metadata database,
// so every replica sees the same set.
//
// Delivery is durable end to end. The outbox consumer (Consumer, run by
// events.Outbox.Run) renders each event once and, in one transaction,
// stores it and enqueues one "webhook-delivery" job per enabled webhook
// whose filters it passes; a replayed batch finds its events stored and
// enqueues nothing again. The job handler (Register) POSTs the body with
// Content-Type application/cloudevents+json and the headers
//
//	X-Moat-Signature: sha256=<hex HMAC-SHA256 of the exact body, keyed by the secret>
//	X-Moat-Delivery:  <id shared by every attempt at this event for this webhook>
//	X-Moat-Event:     <event type>
//
// A 2xx answer is delivered. 410 Gone, a redirect (never followed) and
// any other 4xx but 429 fail at once. 429, 5xx, timeouts (10 s) and
// transport errors are retried with exponential backoff, or after the
// receiver's Retry-After when that is longer, until 24 h after the event:
// the last retry starts at that deadline, and when it fails too the
// delivery ends failed. Each attempt is a
// row of the delivery log (Deliveries), written in the transaction that
// schedules the next one. A worker killed mid-attempt leaves its job to
// be claimed again when the lease expires: delivery is at least once,
// and receivers deduplicate by the CloudEvents id or X-Moat-Delivery.
// The CloudEvents id is "<instance>-<outbox event id>", the instance made
// once per database, so ids stay unique across reinstalls.
//
// Receivers verify a delivery by computing the HMAC of the raw body with
// the shared secret and comparing it, in constant time, to the header.
//
// Security: webhook URLs are chosen by the registry's operators, who may
// point them anywhere their network allows, internal addresses included
// (a receiver beside the registry is the common case), so there is no
// address block list. What is refused: schemes other than http and https,
// user information in URLs (it would show wherever the URL does), and
// redirects (a receiver cannot bounce a signed request elsewhere).
// Secrets are write-only: no method returns them and they are never
// logged. They are stored as given, protected by the database's access
// control; issue #14's key management will seal them with the registry's
// key-encryption key. Error texts never include the URL, which may carry
// a token.
//
// Limits: events whose data names no "repository" reach only webhooks
// without repository filters; each delivery reads its webhook and body
// from the database, a few small queries per attempt; the log and the
// rendered events are kept for the retention (14 days) and purged by an
// hourly job.
package webhooks
