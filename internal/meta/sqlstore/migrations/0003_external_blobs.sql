-- Layers a manifest names but need not be pushed (non-distributable,
-- foreign, or with urls). No foreign key to blobs: the bytes may arrive
-- after the manifest, or never. Garbage collection keeps any stored blob
-- listed here, exactly as it keeps those in manifest_blobs.
CREATE TABLE manifest_external_blobs (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    digest      TEXT NOT NULL,
    ordinal     INTEGER NOT NULL,
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX manifest_external_blobs_digest ON manifest_external_blobs (digest);
