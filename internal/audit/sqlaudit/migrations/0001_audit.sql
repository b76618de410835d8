-- The audit chain. seq is assigned by the writer holding the head row's
-- lock; at is Unix nanoseconds (UTC); details is compact JSON kept as
-- text so its bytes, which are hashed, never change.
CREATE TABLE audit_log (
	seq       BIGINT PRIMARY KEY,
	at        BIGINT NOT NULL,
	actor     TEXT {{C}} NOT NULL,
	action    TEXT {{C}} NOT NULL,
	resource  TEXT {{C}} NOT NULL,
	source_ip TEXT NOT NULL,
	result    TEXT NOT NULL,
	details   TEXT NOT NULL,
	prev_hash {{BYTES}} NOT NULL,
	hash      {{BYTES}} NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- One row: the end of the chain. Appends lock it, which serializes them
-- across connections and replicas.
CREATE TABLE audit_head (
	id   INTEGER PRIMARY KEY CHECK (id = 1),
	seq  BIGINT NOT NULL,
	hash {{BYTES}} NOT NULL
);
