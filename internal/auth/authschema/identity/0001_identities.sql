-- Users, groups, robots and personal access tokens. Times are Unix
-- nanoseconds (UTC); NULL expires_at/revoked_at mean never/not revoked.
CREATE TABLE auth_users (
	id            {{ID}},
	name          TEXT {{C}} NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	disabled      BOOLEAN NOT NULL DEFAULT FALSE,
	created_at    BIGINT NOT NULL
);

CREATE TABLE auth_groups (
	id         {{ID}},
	name       TEXT {{C}} NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

CREATE TABLE auth_group_members (
	group_id BIGINT NOT NULL REFERENCES auth_groups (id) ON DELETE CASCADE,
	user_id  BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX auth_group_members_user ON auth_group_members (user_id);

CREATE TABLE auth_robots (
	id          {{ID}},
	name        TEXT {{C}} NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	secret_hash {{BYTES}} NOT NULL,
	expires_at  BIGINT,
	disabled    BOOLEAN NOT NULL DEFAULT FALSE,
	created_at  BIGINT NOT NULL
);

CREATE TABLE auth_tokens (
	id          {{ID}},
	user_id     BIGINT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
	description TEXT NOT NULL DEFAULT '',
	secret_hash {{BYTES}} NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	revoked_at  BIGINT
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id);
CREATE INDEX auth_tokens_expires ON auth_tokens (expires_at);
