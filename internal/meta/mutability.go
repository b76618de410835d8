package meta

import (
	"errors"
	"fmt"

	"github.com/moat-dev/moat/internal/wildcard"
)

// Tag mutability settings, as ECR names them.
const (
	Mutable                 = "MUTABLE"
	Immutable               = "IMMUTABLE"
	ImmutableWithExclusion  = "IMMUTABLE_WITH_EXCLUSION"
	maxMutabilityExclusions = 5
)

// TagMutability says which tags of a repository may move once set. Mode
// "" follows the registry's default.
type TagMutability struct {
	Mode string `json:"tagMutability"`
	// Exclusions are the wildcard filters of tags that stay mutable under
	// IMMUTABLE_WITH_EXCLUSION.
	Exclusions []string `json:"tagMutabilityExclusionFilters,omitempty"`
}

// Validate checks the mode and the exclusions.
func (t TagMutability) Validate() error {
	switch t.Mode {
	case "", Mutable, Immutable:
		if len(t.Exclusions) > 0 {
			return fmt.Errorf("%w: exclusion filters need %s", ErrInvalid, ImmutableWithExclusion)
		}
	case ImmutableWithExclusion:
		if len(t.Exclusions) == 0 || len(t.Exclusions) > maxMutabilityExclusions {
			return fmt.Errorf("%w: %s takes 1 to %d exclusion filters", ErrInvalid, ImmutableWithExclusion, maxMutabilityExclusions)
		}
		for _, f := range t.Exclusions {
			if err := wildcard.Check(f); err != nil {
				return fmt.Errorf("%w: exclusion filter: %v", ErrInvalid, err)
			}
		}
	default:
		return fmt.Errorf("%w: tag mutability %q: want %s, %s or %s", ErrInvalid, t.Mode, Mutable, Immutable, ImmutableWithExclusion)
	}
	return nil
}

// Or returns t, or def when t follows the default.
func (t TagMutability) Or(def TagMutability) TagMutability {
	if t.Mode == "" {
		return def
	}
	return t
}

// Fixed reports whether tag may not move once set.
func (t TagMutability) Fixed(tag string) bool {
	switch t.Mode {
	case Immutable:
		return true
	case ImmutableWithExclusion:
		for _, f := range t.Exclusions {
			if wildcard.Match(f, tag) {
				return false
			}
		}
		return true
	}
	return false
}

// TagImmutableError refuses moving or deleting an immutable tag.
type TagImmutableError struct {
	Repository, Tag string
	Current         string // the digest the tag points at
}

func (e *TagImmutableError) Error() string {
	if e.Current == "" {
		return fmt.Sprintf("tag %s is immutable in repository %s", e.Tag, e.Repository)
	}
	return fmt.Sprintf("tag %s is immutable in repository %s: it points at %s", e.Tag, e.Repository, e.Current)
}

// Message is what a client is told.
func (e *TagImmutableError) Message() string {
	return fmt.Sprintf("tag %s is immutable in repository %s; push under a new tag", e.Tag, e.Repository)
}

// Detail is the error's detail in the spec's envelope.
func (e *TagImmutableError) Detail() any {
	d := map[string]string{"repository": e.Repository, "tag": e.Tag}
	if e.Current != "" {
		d["digest"] = e.Current
	}
	return d
}

// ErrTagImmutable classifies TagImmutableError with errors.Is.
var ErrTagImmutable = errors.New("tag is immutable")

func (e *TagImmutableError) Is(target error) bool { return target == ErrTagImmutable }
