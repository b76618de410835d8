-- The registry's signing keys, shared by every replica. Private keys are
-- sealed with the master key (package kms); only public material is
-- stored in the clear.

-- The registry CA that issues the signing certificates (one row).
CREATE TABLE signing_ca (
	id          INTEGER PRIMARY KEY CHECK (id = 1),
	certificate TEXT NOT NULL,
	sealed_key  {{BYTES}} NOT NULL,
	created_at  BIGINT NOT NULL
);

-- Signing keys: one active, the retired ones kept so that what they
-- signed still verifies.
CREATE TABLE signing_keys (
	id         TEXT PRIMARY KEY,
	algorithm  TEXT NOT NULL,
	status     TEXT NOT NULL,
	chain      TEXT NOT NULL,
	sealed_key {{BYTES}} NOT NULL,
	imported   BOOLEAN NOT NULL,
	created_at BIGINT NOT NULL,
	retired_at BIGINT
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';
