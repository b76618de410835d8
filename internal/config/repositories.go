package config

import (
	"time"

	"github.com/moat-dev/moat/internal/meta"
)

// RepositoryDefaults are the settings of repositories that have none of
// their own:
//
//	repositories:
//	  tagMutability: IMMUTABLE_WITH_EXCLUSION   # MUTABLE (default) | IMMUTABLE | IMMUTABLE_WITH_EXCLUSION
//	  tagMutabilityExclusionFilters: ["latest", "dev-*"]
//	  lifecycleInterval: 1h              # how often lifecycle policies run
type RepositoryDefaults struct {
	Mutability        string        `yaml:"tagMutability"`
	Exclusions        []string      `yaml:"tagMutabilityExclusionFilters"`
	LifecycleInterval time.Duration `yaml:"lifecycleInterval"`
}

// LifecycleEvery is how often lifecycle policies run (default an hour).
func (r RepositoryDefaults) LifecycleEvery() time.Duration {
	if r.LifecycleInterval <= 0 {
		return time.Hour
	}
	return r.LifecycleInterval
}

// TagMutability is the default tag mutability.
func (r RepositoryDefaults) TagMutability() meta.TagMutability {
	return meta.TagMutability{Mode: r.Mutability, Exclusions: r.Exclusions}
}
