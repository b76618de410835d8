CREATE TABLE auth_policies (
	id         {{ID}},
	name       TEXT {{C}} NOT NULL UNIQUE,
	kind       TEXT NOT NULL,
	document   TEXT NOT NULL,
	updated_at BIGINT NOT NULL
);

-- target_type is user, group, robot, repository or listener.
CREATE TABLE auth_policy_targets (
	policy_id   BIGINT NOT NULL REFERENCES auth_policies (id) ON DELETE CASCADE,
	target_type TEXT NOT NULL,
	target_name TEXT {{C}} NOT NULL,
	PRIMARY KEY (policy_id, target_type, target_name)
);

CREATE TABLE auth_policy_version (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	version BIGINT NOT NULL
);
INSERT INTO auth_policy_version (id, version) VALUES (1, 0);
