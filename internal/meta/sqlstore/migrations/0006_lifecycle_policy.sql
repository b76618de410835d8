-- A repository's lifecycle policy (ECR's JSON grammar), NULL without one.
ALTER TABLE repositories ADD COLUMN lifecycle_policy TEXT;
