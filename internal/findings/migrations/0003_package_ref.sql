-- Which package each finding is in (a hash of its ecosystem, name,
-- version, type and first path), so that a rescan limited to the
-- packages an advisory change touches compares only their findings.
ALTER TABLE image_findings ADD COLUMN package_ref TEXT NOT NULL DEFAULT '';
CREATE INDEX image_findings_package ON image_findings (digest, package_ref);
