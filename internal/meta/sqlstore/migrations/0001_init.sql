-- The initial schema.
--
-- Portability: {{ID}}, {{BYTES}} and {{C}} are replaced per engine (see
-- dialect.go). Times are unix nanoseconds (UTC) in BIGINT columns, so both
-- engines compare them identically. Names listed in lexical order use a
-- byte-wise collation ({{C}}) so that pagination does not depend on the
-- server's locale.

CREATE TABLE repositories (
    id         {{ID}},
    name       TEXT {{C}} NOT NULL UNIQUE, -- also serves catalog pagination
    created_at BIGINT NOT NULL
);

-- A blob record means the bytes are in blob storage. touched_at is
-- refreshed by uploads, mounts and manifest pushes; garbage collection only
-- considers blobs untouched for its grace period.
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL CHECK (size >= 0),
    created_at BIGINT NOT NULL,
    touched_at BIGINT NOT NULL
);
CREATE INDEX blobs_touched_at ON blobs (touched_at);

-- A blob is readable through a repository only while linked to it.
CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT NOT NULL REFERENCES blobs (digest) ON DELETE CASCADE,
    linked_at     BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    id            {{ID}},
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    artifact_type TEXT NOT NULL DEFAULT '',
    size          BIGINT NOT NULL CHECK (size >= 0),
    content       {{BYTES}} NOT NULL,
    subject       TEXT,   -- NULL without a subject
    annotations   TEXT,   -- JSON object, NULL without annotations
    pushed_at     BIGINT NOT NULL,
    pushed_by     TEXT NOT NULL DEFAULT '',
    pulled_at     BIGINT, -- NULL until first pulled
    UNIQUE (repository_id, digest)
);
CREATE INDEX manifests_referrers ON manifests (repository_id, subject, artifact_type)
    WHERE subject IS NOT NULL;

-- Blobs a manifest references. The foreign key without ON DELETE makes
-- both engines refuse to delete a referenced blob record, a last line of
-- defence behind the garbage collector's own checks.
CREATE TABLE manifest_blobs (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    digest      TEXT NOT NULL REFERENCES blobs (digest),
    ordinal     INTEGER NOT NULL,
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX manifest_blobs_digest ON manifest_blobs (digest); -- GC candidates

-- Manifests an index references, in the same repository. No foreign key:
-- a child may be deleted while an index still lists it.
CREATE TABLE manifest_children (
    manifest_id  BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_digest TEXT NOT NULL,
    ordinal      INTEGER NOT NULL,
    PRIMARY KEY (manifest_id, child_digest)
);
CREATE INDEX manifest_children_child ON manifest_children (child_digest);

CREATE TABLE tags (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name          TEXT {{C}} NOT NULL,
    manifest_id   BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name) -- tag lookups and tag list pagination
);
CREATE INDEX tags_manifest ON tags (manifest_id);

-- Upload sessions name their repository rather than reference it: a
-- repository comes into existence with its first blob, not its first upload.
CREATE TABLE uploads (
    id          TEXT PRIMARY KEY,
    repository  TEXT NOT NULL,
    byte_offset BIGINT NOT NULL CHECK (byte_offset >= 0),
    hash_state  {{BYTES}},
    started_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX uploads_updated_at ON uploads (updated_at); -- stale uploads
