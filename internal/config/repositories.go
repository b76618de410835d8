package config

import "github.com/moat-dev/moat/internal/meta"

// RepositoryDefaults are the settings of repositories that have none of
// their own:
//
//	repositories:
//	  tagMutability: IMMUTABLE_WITH_EXCLUSION   # MUTABLE (default) | IMMUTABLE | IMMUTABLE_WITH_EXCLUSION
//	  tagMutabilityExclusionFilters: ["latest", "dev-*"]
type RepositoryDefaults struct {
	Mutability string   `yaml:"tagMutability"`
	Exclusions []string `yaml:"tagMutabilityExclusionFilters"`
}

// TagMutability is the default tag mutability.
func (r RepositoryDefaults) TagMutability() meta.TagMutability {
	return meta.TagMutability{Mode: r.Mutability, Exclusions: r.Exclusions}
}
