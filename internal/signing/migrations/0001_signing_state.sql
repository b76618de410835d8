-- Managed signing's progress per image and repository: IN_PROGRESS from
-- the push (or while waiting for the scan a rule requires), COMPLETE once
-- every format is signed, FAILED with the reason.
CREATE TABLE image_signing_state (
	repository TEXT NOT NULL,
	digest     TEXT NOT NULL,
	status     TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	key_id     TEXT NOT NULL DEFAULT '',
	signed_at  BIGINT,
	updated_at BIGINT NOT NULL,
	PRIMARY KEY (repository, digest)
);
