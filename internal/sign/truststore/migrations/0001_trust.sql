-- What signature verification trusts, shared by every replica: named
-- trust stores (certificates for Notation, public keys for cosign) and
-- named trust policy documents (Notation's trustpolicy.json).
CREATE TABLE trust_stores (
	type       TEXT NOT NULL,
	name       TEXT NOT NULL,
	content    TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (type, name)
);

CREATE TABLE trust_policies (
	name       TEXT PRIMARY KEY,
	document   TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	updated_by TEXT NOT NULL
);

-- Bumped by every change above, so caches of verification results know
-- when to drop them.
CREATE TABLE trust_generation (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	generation BIGINT NOT NULL
);
INSERT INTO trust_generation (id, generation) VALUES (1, 0);
