-- Indexes that match the listing queries exactly, so neither engine sorts:
-- GC candidates and stale uploads order by time with the key as tie-break,
-- and referrers come from (repository, subject) in digest order; SQLite's
-- planner passed over the first referrers index, scanning the whole
-- repository in digest order instead of sorting a few rows.

DROP INDEX blobs_touched_at;
CREATE INDEX blobs_touched_at ON blobs (touched_at, digest);

DROP INDEX uploads_updated_at;
CREATE INDEX uploads_updated_at ON uploads (updated_at, id);

DROP INDEX manifests_referrers;
CREATE INDEX manifests_referrers ON manifests (repository_id, subject, digest);
