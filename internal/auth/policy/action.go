package policy

import (
	"fmt"
	"strings"
)

// Action names an operation, "service:Name".
type Action string

// The known actions. Patterns in policies are expanded against this list.
const (
	ActionPull             Action = "registry:Pull"
	ActionPush             Action = "registry:Push"
	ActionDelete           Action = "registry:Delete"
	ActionListTags         Action = "registry:ListTags"
	ActionListRepositories Action = "registry:ListRepositories"
	ActionScanRead         Action = "scan:Read"
	ActionScanWrite        Action = "scan:Write"
	// ActionScanBypassPullGate exempts a principal from the pull gates
	// of scanning rules (see scanrules.PreventPull).
	ActionScanBypassPullGate Action = "scan:BypassPullGate"
	ActionAdminIdentities    Action = "admin:ManageIdentities"
	ActionAdminPolicies      Action = "admin:ManagePolicies"
	ActionAdminAudit         Action = "admin:ReadAudit"
	ActionAdminRegistry      Action = "admin:ManageRegistry"
	// ActionManageTokens lets a caller that did not log in with a
	// password (a personal access token, a robot, a client certificate)
	// mint personal access tokens, which never outlive that credential.
	// A password login needs no grant for its own tokens. Registry bearer
	// tokens never can, whatever the policy says.
	ActionManageTokens Action = "identity:ManageTokens"
	// Webhooks: Read lists webhooks and their delivery logs; Write
	// creates, changes, deletes and pings them. Apart from admin:* because
	// a team that runs a receiver needs them without identity or policy
	// rights.
	ActionWebhooksRead  Action = "webhooks:Read"
	ActionWebhooksWrite Action = "webhooks:Write"
	// ActionSigningRead reads an image's signatures and their
	// verification, the registry's public signing keys and the trust
	// stores and policies. Changing keys and trust is admin:ManageRegistry.
	ActionSigningRead Action = "signing:Read"
	// ActionAdmissionCheck asks whether images may run (POST
	// /api/v1/check, what a deploy pipeline or an ECS hook calls) and
	// reads the admission rules; changing them is admin:ManageRegistry.
	ActionAdmissionCheck Action = "admission:Check"
	// Inventory: Read lists where images run; Report lets a reporter
	// (moat inventory report, an ECS hook) say what runs.
	ActionInventoryRead   Action = "inventory:Read"
	ActionInventoryReport Action = "inventory:Report"
	// ActionDeleteImmutable deletes a tag that is immutable (or a manifest
	// carrying one); registry:Delete alone does not.
	ActionDeleteImmutable Action = "registry:DeleteImmutable"
)

// knownActions lists every known action in a fixed order; an action's position
// is its bit in compiled statements.
var knownActions = [...]Action{
	ActionPull, ActionPush, ActionDelete, ActionListTags, ActionListRepositories,
	ActionScanRead, ActionScanWrite, ActionScanBypassPullGate,
	ActionAdminIdentities, ActionAdminPolicies, ActionAdminAudit, ActionAdminRegistry,
	ActionManageTokens, ActionWebhooksRead, ActionWebhooksWrite, ActionSigningRead,
	ActionAdmissionCheck, ActionInventoryRead, ActionInventoryReport, ActionDeleteImmutable,
}

// Actions returns the known actions.
func Actions() []Action { return append([]Action(nil), knownActions[:]...) }

// actionSet is a bit set over knownActions.
type actionSet uint64

// actionBit returns the bit of a known action, matched case-insensitively.
func actionBit(a Action) (actionSet, bool) {
	for i, k := range knownActions {
		if strings.EqualFold(string(k), string(a)) {
			return 1 << i, true
		}
	}
	return 0, false
}

// compileAction expands an action pattern into the set of known actions it
// names: "*", "service:*", "service:Prefix*" or an exact action.
func compileAction(p string) (actionSet, error) {
	if p == "*" {
		return actionSet(1)<<len(knownActions) - 1, nil
	}
	svc, name, ok := strings.Cut(p, ":")
	if !ok || svc == "" || name == "" {
		return 0, fmt.Errorf("action %q: want \"service:Name\", \"service:*\" or \"*\"", p)
	}
	for _, part := range []string{svc, strings.TrimSuffix(name, "*")} {
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return 0, fmt.Errorf("action %q: only letters and digits are allowed, with one trailing *", p)
			}
		}
	}
	var set actionSet
	prefix, wild := strings.CutSuffix(name, "*")
	for i, k := range knownActions {
		ksvc, kname, _ := strings.Cut(string(k), ":")
		if !strings.EqualFold(ksvc, svc) {
			continue
		}
		if wild && len(kname) >= len(prefix) && strings.EqualFold(kname[:len(prefix)], prefix) ||
			!wild && strings.EqualFold(kname, name) {
			set |= 1 << i
		}
	}
	if set == 0 {
		return 0, fmt.Errorf("action %q names no known action (known: %s)", p, knownList())
	}
	return set, nil
}

func knownList() string {
	s := make([]string, len(knownActions))
	for i, a := range knownActions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
