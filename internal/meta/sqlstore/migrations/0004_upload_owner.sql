-- Who opened each upload session, so open sessions can be capped per
-- identity ('' for anonymous callers, who are not capped).
ALTER TABLE uploads ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX uploads_owner ON uploads (owner);
