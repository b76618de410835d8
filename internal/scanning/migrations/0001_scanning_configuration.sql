-- The scanning configuration managed through the API (one row, JSON),
-- shared by every replica. Absent while the built-in default applies; a
-- configuration file's scanning section takes precedence over it.
CREATE TABLE scanning_configuration (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	document   TEXT NOT NULL,
	updated_at BIGINT NOT NULL,
	updated_by TEXT NOT NULL
);
