-- What moat knows of each image manifest's scan, keyed by digest: an
-- image pushed to several repositories is scanned once. Times are Unix
-- nanoseconds (UTC). The counts are of open findings, kept with the state
-- so that summaries and the image_scans view need no aggregation.
CREATE TABLE image_scan_state (
	digest         TEXT PRIMARY KEY,
	status         TEXT NOT NULL,
	reason         TEXT NOT NULL DEFAULT '',
	scanned_at     BIGINT,
	vulndb_version TEXT NOT NULL DEFAULT '',
	critical       INTEGER NOT NULL DEFAULT 0,
	high           INTEGER NOT NULL DEFAULT 0,
	medium         INTEGER NOT NULL DEFAULT 0,
	low            INTEGER NOT NULL DEFAULT 0,
	unknown        INTEGER NOT NULL DEFAULT 0,
	kev            INTEGER NOT NULL DEFAULT 0,
	fixable        INTEGER NOT NULL DEFAULT 0,
	updated_at     BIGINT NOT NULL
);

-- The package inventory (SBOM) of a scanned image: gzip-compressed gob
-- of the catalog's inventory. Rescans re-match it without reading layers.
CREATE TABLE image_inventories (
	digest    TEXT PRIMARY KEY,
	packages  INTEGER NOT NULL,
	inventory {{BYTES}} NOT NULL
);

-- Which images hold packages judged by which advisory key (ecosystem and
-- normalized name), so that a change to a few advisories re-matches only
-- the images it can affect.
CREATE TABLE image_advisory_keys (
	ecosystem TEXT {{C}} NOT NULL,
	name      TEXT {{C}} NOT NULL,
	digest    TEXT NOT NULL,
	PRIMARY KEY (ecosystem, name, digest)
);
CREATE INDEX image_advisory_keys_digest ON image_advisory_keys (digest);

-- Findings per image. finding_key identifies a finding across scans; a
-- finding no longer found is resolved (resolved_at set), and opens again
-- if it comes back. data is the full finding as JSON.
CREATE TABLE image_findings (
	id          {{ID}},
	digest      TEXT NOT NULL,
	finding_key TEXT NOT NULL,
	kind        TEXT NOT NULL,
	vuln_id     TEXT {{C}} NOT NULL,
	severity    INTEGER NOT NULL,
	kev         BOOLEAN NOT NULL,
	fixable     BOOLEAN NOT NULL,
	epss        DOUBLE PRECISION NOT NULL DEFAULT 0,
	data        TEXT NOT NULL,
	first_seen  BIGINT NOT NULL,
	resolved_at BIGINT,
	UNIQUE (digest, finding_key)
);
CREATE INDEX image_findings_open ON image_findings (digest, resolved_at, severity);
CREATE INDEX image_findings_vuln ON image_findings (vuln_id, resolved_at);

-- What "compliant" means (one row, from the scanning configuration):
-- the highest severity allowed among open findings (report.Severity:
-- 0 unknown .. 4 critical) and whether known-exploited ones are allowed.
CREATE TABLE scan_compliance (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	max_severity INTEGER NOT NULL,
	kev_allowed  BOOLEAN NOT NULL
);
INSERT INTO scan_compliance (id, max_severity, kev_allowed) VALUES (1, 3, FALSE);
