-- Tag mutability per repository: '' follows the registry's default;
-- MUTABLE, IMMUTABLE, or IMMUTABLE_WITH_EXCLUSION with up to 5 wildcard
-- exclusions (a JSON array of tag filters that stay mutable).
ALTER TABLE repositories ADD COLUMN tag_mutability TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN tag_mutability_exclusions TEXT NOT NULL DEFAULT '[]';
