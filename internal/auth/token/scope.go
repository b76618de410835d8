package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moat-dev/moat/internal/lazyregexp"
)

// ErrInvalidScope classifies malformed scopes.
var ErrInvalidScope = errors.New("invalid scope")

// Scope is one resource scope: "type[(class)]:name:action,action".
type Scope struct {
	Type    string
	Class   string
	Name    string
	Actions []string
}

// Resource types and names the registry understands.
const (
	TypeRepository = "repository"
	TypeRegistry   = "registry"
	CatalogName    = "catalog"
)

var (
	typeRE   = lazyregexp.New(`^[a-z0-9]+$`)
	actionRE = lazyregexp.New(`^(?:[a-z]+|\*)$`)
	// A repository name: an optional registry host (with port) then path
	// components, as in the distribution reference grammar.
	repoNameRE = lazyregexp.New(`^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
)

// maxScopeLen bounds one scope; repository names are at most 255 bytes.
const maxScopeLen = 1024

// ParseScope parses one resource scope. The name may itself contain
// colons (a registry host with a port), so the type ends at the first
// colon and the actions start after the last.
func ParseScope(s string) (Scope, error) {
	bad := func(why string) (Scope, error) {
		return Scope{}, fmt.Errorf("%w %q: %s", ErrInvalidScope, s, why)
	}
	if len(s) > maxScopeLen {
		return bad(fmt.Sprintf("longer than %d bytes", maxScopeLen))
	}
	first, last := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if first < 0 || first == last {
		return bad(`want "type:name:actions"`)
	}
	typ, name, actions := s[:first], s[first+1:last], s[last+1:]
	var sc Scope
	if open := strings.IndexByte(typ, '('); open >= 0 {
		if !strings.HasSuffix(typ, ")") {
			return bad("unclosed resource class")
		}
		sc.Class = typ[open+1 : len(typ)-1]
		typ = typ[:open]
		if !typeRE().MatchString(sc.Class) {
			return bad("resource class must be lower-case letters and digits")
		}
	}
	if !typeRE().MatchString(typ) {
		return bad("resource type must be lower-case letters and digits")
	}
	sc.Type = typ
	if name == "" {
		return bad("empty resource name")
	}
	if typ == TypeRepository && (len(name) > 255 || !repoNameRE().MatchString(name)) {
		return bad("not a valid repository name")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return bad("resource name must be printable ASCII without spaces, quotes or backslashes")
		}
	}
	sc.Name = name
	if actions == "" {
		return bad("no actions")
	}
	for _, a := range strings.Split(actions, ",") {
		if !actionRE().MatchString(a) {
			return bad(fmt.Sprintf("action %q must be lower-case letters or *", a))
		}
		if !slices.Contains(sc.Actions, a) {
			sc.Actions = append(sc.Actions, a)
		}
	}
	return sc, nil
}

// ParseScopes parses space-separated scopes, from any number of "scope"
// parameters. Empty strings are skipped.
func ParseScopes(params ...string) ([]Scope, error) {
	var out []Scope
	for _, p := range params {
		for _, f := range strings.Fields(p) {
			sc, err := ParseScope(f)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

// String renders the scope in the wire form.
func (s Scope) String() string {
	t := s.Type
	if s.Class != "" {
		t += "(" + s.Class + ")"
	}
	return t + ":" + s.Name + ":" + strings.Join(s.Actions, ",")
}

// FormatScopes joins scopes with spaces, as the scope parameter wants.
func FormatScopes(scopes []Scope) string {
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = sc.String()
	}
	return strings.Join(s, " ")
}
