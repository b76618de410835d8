-- The outbox: every change of state, written in the transaction that
-- makes the change. txid orders events by transaction where commits can
-- interleave (PostgreSQL: the writing transaction's id; SQLite, whose
-- writers take turns and so commit in id order: 0). time is Unix
-- nanoseconds (UTC); data is a JSON object.
CREATE TABLE events (
	id      {{SERIAL}},
	txid    BIGINT NOT NULL,
	type    TEXT {{C}} NOT NULL,
	subject TEXT NOT NULL,
	time    BIGINT NOT NULL,
	data    TEXT NOT NULL
);
CREATE INDEX events_order ON events (txid, id);
CREATE INDEX events_time ON events (time);

-- Where each consumer has got to, and which process holds it: one
-- replica at a time works through a consumer's events.
CREATE TABLE event_consumers (
	name        TEXT {{C}} PRIMARY KEY,
	txid        BIGINT NOT NULL DEFAULT 0,
	event_id    BIGINT NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0
);
