-- image_scans answers "may this image be deployed?" in one query:
--   SELECT is_compliant FROM image_scans WHERE image_digest = ?
-- One row per image manifest per repository; is_compliant is false until
-- a scan completes. It reads the registry's own tables
-- (repositories, manifests), which exist before this migration runs.
CREATE VIEW image_scans AS
SELECT
	r.name AS repository,
	m.digest AS image_digest,
	s.status AS status,
	to_timestamp(s.scanned_at / 1000000000.0) AS scanned_at,
	COALESCE(s.critical, 0) AS critical,
	COALESCE(s.high, 0) AS high,
	COALESCE(s.medium, 0) AS medium,
	COALESCE(s.low, 0) AS low,
	COALESCE(s.unknown, 0) AS unknown,
	COALESCE(s.kev, 0) AS kev,
	COALESCE(s.fixable, 0) AS fixable,
	COALESCE(s.status = 'COMPLETE'
		AND (c.max_severity >= 4 OR s.critical = 0)
		AND (c.max_severity >= 3 OR s.high = 0)
		AND (c.max_severity >= 2 OR s.medium = 0)
		AND (c.max_severity >= 1 OR s.low = 0)
		AND (c.kev_allowed OR s.kev = 0), FALSE) AS is_compliant
FROM manifests m
JOIN repositories r ON r.id = m.repository_id
CROSS JOIN scan_compliance c
LEFT JOIN image_scan_state s ON s.digest = m.digest
WHERE m.media_type IN ('application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json')
AND m.artifact_type IN ('application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json');
