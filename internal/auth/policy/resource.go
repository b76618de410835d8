package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Resource prefixes and singletons.
const (
	// RepositoryPrefix starts every repository resource: "repository/team-a/app".
	RepositoryPrefix = "repository/"
	// RegistryResource names the registry as a whole (administration and
	// registry-wide listing).
	RegistryResource = "registry"
)

// RepositoryResource returns the resource name of a repository.
func RepositoryResource(name string) string { return RepositoryPrefix + name }

// component is one path component of an OCI repository name.
var component = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)

// resourceKind tells how a compiled resource matches.
type resourceKind uint8

const (
	resAny    resourceKind = iota // "*"
	resExact                      // "registry" or "repository/a/b"
	resPrefix                     // "repository/a/*" or "repository/*"; prefix keeps the trailing "/"
)

type resourcePattern struct {
	kind resourceKind
	// value is the exact resource, or for a prefix everything before the
	// final "*" (ending in "/").
	value string
}

func compileResource(p string) (resourcePattern, error) {
	switch {
	case p == "*":
		return resourcePattern{kind: resAny}, nil
	case p == RegistryResource:
		return resourcePattern{kind: resExact, value: p}, nil
	case !strings.HasPrefix(p, RepositoryPrefix):
		return resourcePattern{}, fmt.Errorf("resource %q: want \"*\", %q, \"repository/NAME\" or \"repository/PREFIX/*\"", p, RegistryResource)
	}
	path := strings.TrimPrefix(p, RepositoryPrefix)
	if path == "*" {
		return resourcePattern{kind: resPrefix, value: RepositoryPrefix}, nil
	}
	parts := strings.Split(path, "/")
	wild := parts[len(parts)-1] == "*"
	if wild {
		parts = parts[:len(parts)-1]
	}
	for _, c := range parts {
		if strings.Contains(c, "*") {
			return resourcePattern{}, fmt.Errorf("resource %q: a wildcard may only be the whole last path segment (\"repository/team-a/*\")", p)
		}
		if !component.MatchString(c) {
			return resourcePattern{}, fmt.Errorf("resource %q: %q is not a valid repository path component (lower-case letters, digits and separators . _ __ -)", p, c)
		}
	}
	if wild {
		return resourcePattern{kind: resPrefix, value: RepositoryPrefix + strings.Join(parts, "/") + "/"}, nil
	}
	return resourcePattern{kind: resExact, value: p}, nil
}

// String renders the pattern as written in a policy.
func (r resourcePattern) String() string {
	switch r.kind {
	case resAny:
		return "*"
	case resPrefix:
		return r.value + "*"
	}
	return r.value
}

// matches reports whether a concrete resource falls under the pattern.
func (r resourcePattern) matches(res string) bool {
	switch r.kind {
	case resAny:
		return true
	case resPrefix:
		return len(res) > len(r.value) && strings.HasPrefix(res, r.value)
	}
	return res == r.value
}
