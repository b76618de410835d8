-- Durable jobs. A job is queued (waiting for run_at), running (leased by
-- lease_owner until lease_until; an expired lease is claimed again, so a
-- job whose process died is redone) or failed (out of attempts; kept for
-- inspection until purged). A job that succeeds is deleted. Times are
-- Unix nanoseconds (UTC); give_up_at 0 means no deadline.
CREATE TABLE jobs (
	id           {{ID}},
	kind         TEXT {{C}} NOT NULL,
	dedupe_key   TEXT {{C}} NOT NULL DEFAULT '',
	payload      TEXT NOT NULL,
	state        TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	max_attempts INTEGER NOT NULL,
	run_at       BIGINT NOT NULL,
	give_up_at   BIGINT NOT NULL DEFAULT 0,
	lease_owner  TEXT NOT NULL DEFAULT '',
	lease_until  BIGINT NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL
);
-- Identical queued work is one job: a second enqueue of the same kind and
-- key while one waits is a no-op. A running job may have one queued
-- successor, so work that changed during a run is done again.
CREATE UNIQUE INDEX jobs_dedupe ON jobs (kind, dedupe_key) WHERE state = 'queued' AND dedupe_key <> '';
CREATE INDEX jobs_ready ON jobs (kind, state, run_at, id);
CREATE INDEX jobs_leases ON jobs (state, lease_until);

-- Periodic work: the replica that moves next_run_at forward enqueues the
-- run, so each period runs once per cluster, not once per replica.
CREATE TABLE job_schedules (
	name        TEXT {{C}} PRIMARY KEY,
	next_run_at BIGINT NOT NULL
);
