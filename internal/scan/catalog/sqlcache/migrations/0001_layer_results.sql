-- Catalog results per layer digest and analyzer set, shared by every
-- image holding the layer and every replica: gzip-compressed gob of
-- catalog.LayerResult. used_at (Unix nanoseconds) drives eviction.
CREATE TABLE layer_results (
	layer      TEXT NOT NULL,
	analyzers  TEXT NOT NULL,
	result     {{BYTES}} NOT NULL,
	created_at BIGINT NOT NULL,
	used_at    BIGINT NOT NULL,
	PRIMARY KEY (layer, analyzers)
);
CREATE INDEX layer_results_used ON layer_results (used_at);
