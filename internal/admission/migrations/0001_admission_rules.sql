-- Admission rules managed through the API (one row: the rule list as
-- JSON), applied after the configuration file's. generation changes with
-- every write, so replicas reload.
CREATE TABLE admission_rules (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	rules      TEXT NOT NULL,
	generation BIGINT NOT NULL,
	updated_by TEXT NOT NULL DEFAULT '',
	updated_at BIGINT NOT NULL
);
