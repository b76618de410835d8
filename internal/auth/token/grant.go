package token

import (
	"context"
	"slices"

	"github.com/moat-dev/moat/internal/auth/policy"
)

// AllowFunc reports whether subject may perform a policy action on a
// policy resource ("repository/NAME"). An empty resource asks whether the
// subject may perform the action on at least one resource (the catalog
// scope). An empty subject is the anonymous caller. ctx carries whatever
// the caller needs for conditions (source address, listener).
type AllowFunc func(ctx context.Context, subject string, action policy.Action, resource string) bool

// repositoryActions maps the protocol's repository actions to policy
// actions. "*" asks for all of them.
var repositoryActions = []struct {
	name   string
	action policy.Action
}{
	{"pull", policy.ActionPull},
	{"push", policy.ActionPush},
	{"delete", policy.ActionDelete},
}

// Intersect returns the access to grant: for each requested scope, the
// actions allow permits. Unknown resource types and actions are left out.
// Scopes naming the same resource are merged. A "*" request is answered
// with the concrete actions granted, or "*" when all of them are.
func Intersect(ctx context.Context, subject string, requested []Scope, allow AllowFunc) []Access {
	var out []Access
	grant := func(typ, name, action string) {
		for i := range out {
			if out[i].Type == typ && out[i].Name == name {
				if !slices.Contains(out[i].Actions, action) {
					out[i].Actions = append(out[i].Actions, action)
				}
				return
			}
		}
		out = append(out, Access{Type: typ, Name: name, Actions: []string{action}})
	}
	for _, sc := range requested {
		if sc.Class != "" {
			continue // no resource classes are defined for this registry
		}
		switch {
		case sc.Type == TypeRepository:
			res := policy.RepositoryResource(sc.Name)
			all := slices.Contains(sc.Actions, "*")
			granted := 0
			for _, ra := range repositoryActions {
				if (all || slices.Contains(sc.Actions, ra.name)) && allow(ctx, subject, ra.action, res) {
					grant(sc.Type, sc.Name, ra.name)
					granted++
				}
			}
			if all && granted == len(repositoryActions) {
				grant(sc.Type, sc.Name, "*")
			}
		case sc.Type == TypeRegistry && sc.Name == CatalogName && slices.Contains(sc.Actions, "*"):
			if allow(ctx, subject, policy.ActionListRepositories, "") {
				grant(sc.Type, sc.Name, "*")
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].Actions)
	}
	return out
}
