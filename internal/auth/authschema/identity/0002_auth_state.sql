-- One row of counters that every writer of the identity tables moves in
-- the same transaction as its change (see package authschema):
--   generation  rises with every change to users, groups, memberships,
--               robots and tokens, so every server process (and replica)
--               polls one number to know when its caches are stale;
--   last_id     is the last account or token id handed out. Ids come from
--               here, not from the tables' own keys, because SQLite reuses
--               the largest rowid after it is deleted: a deleted and
--               re-created account must never get its predecessor's id.
CREATE TABLE auth_state (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	generation BIGINT NOT NULL,
	last_id    BIGINT NOT NULL
);
INSERT INTO auth_state (id, generation, last_id)
SELECT 1, 0, COALESCE(MAX(id), 0) FROM (
	SELECT id FROM auth_users UNION ALL
	SELECT id FROM auth_groups UNION ALL
	SELECT id FROM auth_robots UNION ALL
	SELECT id FROM auth_tokens
) AS ids;
