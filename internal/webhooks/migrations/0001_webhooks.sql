-- Webhooks: HTTP receivers of moat's events. source is 'config' for a
-- webhook the configuration file declares (written again at every start;
-- the API may not change it) or 'api'. events and repositories are JSON
-- arrays of filters; an empty array matches everything. Times are Unix
-- nanoseconds (UTC).
--
-- secret is the HMAC key, stored as given: the server must read it back
-- to sign, so it cannot be hashed. It is protected by access to the
-- database alone and never leaves the server through the API or the
-- logs. Issue #14's key management will seal it with the registry's
-- key-encryption key (envelope encryption, the key id stored beside it),
-- re-sealing existing rows in a later migration.
CREATE TABLE webhooks (
	id           {{ID}},
	name         TEXT {{C}} NOT NULL UNIQUE,
	url          TEXT NOT NULL,
	secret       TEXT NOT NULL,
	events       TEXT NOT NULL,
	repositories TEXT NOT NULL,
	enabled      BOOLEAN NOT NULL,
	source       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);

-- The CloudEvents body of each event sent to at least one webhook,
-- rendered once so that every webhook and every attempt gets the same
-- bytes, and so deliveries outlive the outbox's own purge. id is the
-- CloudEvents id.
CREATE TABLE webhook_messages (
	id         TEXT {{C}} PRIMARY KEY,
	type       TEXT NOT NULL,
	subject    TEXT NOT NULL,
	body       TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE INDEX webhook_messages_created ON webhook_messages (created_at);

-- The delivery log: one row per attempt. delivery is the X-Moat-Delivery
-- id shared by the attempts at one (webhook, event); status_code 0 means
-- no response (error says why); duration is in nanoseconds; outcome is
-- delivered, retrying or failed; next_attempt_at is set when retrying.
CREATE TABLE webhook_deliveries (
	id              {{SERIAL}},
	webhook_id      BIGINT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	delivery        TEXT {{C}} NOT NULL,
	event_id        TEXT NOT NULL,
	event_type      TEXT NOT NULL,
	subject         TEXT NOT NULL,
	attempt         INTEGER NOT NULL,
	time            BIGINT NOT NULL,
	status_code     INTEGER NOT NULL,
	error           TEXT NOT NULL,
	duration        BIGINT NOT NULL,
	outcome         TEXT NOT NULL,
	next_attempt_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_delivery ON webhook_deliveries (delivery);
CREATE INDEX webhook_deliveries_time ON webhook_deliveries (time);

-- This registry's instance id, made at the first start: CloudEvents ids
-- are "<instance>-<outbox event id>", so a receiver that deduplicates on
-- (source, id) is not fooled by a reinstalled registry counting from 1.
CREATE TABLE webhook_instance (
	one INTEGER PRIMARY KEY CHECK (one = 1),
	id  TEXT NOT NULL
);
