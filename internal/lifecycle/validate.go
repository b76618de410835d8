package lifecycle

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is a policy that Parse or Validate refuses. It wraps ErrInvalid.
type Error struct {
	// Rule is the rulePriority of the offending rule; 0 when the problem
	// is not in one rule, or the rule has no usable priority (Field then
	// starts with "rules[i]").
	Rule int
	// Field is the JSON path of the offending field, relative to the rule
	// when Rule is set: "selection.countUnit", "protect.pulledWithinDays".
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(ErrInvalid.Error())
	if e.Rule != 0 {
		fmt.Fprintf(&b, ": rule %d", e.Rule)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return ErrInvalid }

// ruleError names a rule by its priority, or by its position when the
// priority itself is unusable.
func ruleError(index, priority int, field, format string, args ...any) *Error {
	e := &Error{Rule: priority, Field: field, Msg: fmt.Sprintf(format, args...)}
	if priority < 1 {
		e.Rule = 0
		e.Field = joinPath(fmt.Sprintf("rules[%d]", index), field)
	}
	return e
}

func joinPath(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "." + b
}

// Validate checks the policy against ECR's rules and moat's restrictions.
// The error, if any, is an *Error wrapping ErrInvalid.
func (p *Policy) Validate() error {
	if p == nil {
		return &Error{Msg: "no policy"}
	}
	if len(p.Rules) == 0 {
		return &Error{Field: "rules", Msg: "at least one rule is required"}
	}
	if len(p.Rules) > MaxRules {
		return &Error{Field: "rules", Msg: fmt.Sprintf("%d rules, at most %d are allowed", len(p.Rules), MaxRules)}
	}
	for i, r := range p.Rules {
		if err := validateRule(i, r); err != nil {
			return err
		}
	}
	if err := validateRuleSet(p.Rules); err != nil {
		return err
	}
	return validateProtect(p.Protect)
}

func validateRule(i int, r Rule) error {
	if r.RulePriority < 1 {
		return ruleError(i, 0, "rulePriority", "must be a positive integer (found %d)", r.RulePriority)
	}
	fail := func(field, format string, args ...any) error {
		return ruleError(i, r.RulePriority, field, format, args...)
	}
	s := r.Selection
	if err := validateTags(s, fail); err != nil {
		return err
	}
	if err := validateCount(s, fail); err != nil {
		return err
	}
	switch r.Action.Type {
	case ActionExpire:
		return nil
	case "transition":
		return fail("action.type", `"transition" moves images to archive storage, which moat does not support; use "expire"`)
	case "":
		return fail("action.type", `is required: "expire"`)
	default:
		return fail("action.type", `must be "expire" (found %q)`, r.Action.Type)
	}
}

type failFunc func(field, format string, args ...any) error

func validateTags(s Selection, fail failFunc) error {
	hasPattern, hasPrefix := len(s.TagPatternList) > 0, len(s.TagPrefixList) > 0
	switch s.TagStatus {
	case TagStatusTagged:
		if !hasPattern && !hasPrefix {
			return fail("selection", `tagStatus "tagged" requires tagPatternList or tagPrefixList`)
		}
		if hasPattern && hasPrefix {
			return fail("selection", "a rule may specify tagPatternList or tagPrefixList, not both")
		}
	case TagStatusUntagged, TagStatusAny:
		if hasPattern {
			return fail("selection.tagPatternList", `may only be used with tagStatus "tagged" (found %q)`, s.TagStatus)
		}
		if hasPrefix {
			return fail("selection.tagPrefixList", `may only be used with tagStatus "tagged" (found %q)`, s.TagStatus)
		}
		return nil
	case "":
		return fail("selection.tagStatus", `is required: "tagged", "untagged" or "any"`)
	default:
		return fail("selection.tagStatus", `must be "tagged", "untagged" or "any" (found %q)`, s.TagStatus)
	}
	for j, pat := range s.TagPatternList {
		field := fmt.Sprintf("selection.tagPatternList[%d]", j)
		if pat == "" {
			return fail(field, "empty pattern")
		}
		if n := strings.Count(pat, "*"); n > MaxWildcardsPerTag {
			return fail(field, "%q has %d wildcards, at most %d are allowed per pattern", pat, n, MaxWildcardsPerTag)
		}
	}
	for j, pre := range s.TagPrefixList {
		field := fmt.Sprintf("selection.tagPrefixList[%d]", j)
		if pre == "" {
			// An empty prefix would select every tagged image: almost
			// surely a templating slip in a policy that deletes.
			return fail(field, "empty prefix")
		}
		if strings.Contains(pre, "*") {
			// Tags cannot contain '*', so such a prefix matches nothing.
			return fail(field, "%q: prefixes are literal; use tagPatternList for wildcards", pre)
		}
	}
	return nil
}

func validateCount(s Selection, fail failFunc) error {
	switch s.CountType {
	case CountImageCountMoreThan:
		if s.CountUnit != "" {
			return fail("selection.countUnit", "must be omitted with countType %q (found %q)", s.CountType, s.CountUnit)
		}
	case CountSinceImagePushed, CountSinceImagePulled:
		switch s.CountUnit {
		case CountUnitDays:
		case "":
			return fail("selection.countUnit", `countType %q requires countUnit "days"`, s.CountType)
		default:
			return fail("selection.countUnit", `must be "days" (found %q)`, s.CountUnit)
		}
	case "sinceImageTransitioned":
		return fail("selection.countType", `"sinceImageTransitioned" selects archived images, and moat does not support archive storage`)
	case "":
		return fail("selection.countType", `is required: "imageCountMoreThan", "sinceImagePushed" or "sinceImagePulled"`)
	default:
		return fail("selection.countType", `must be "imageCountMoreThan", "sinceImagePushed" or "sinceImagePulled" (found %q)`, s.CountType)
	}
	if s.CountNumber < 1 {
		return fail("selection.countNumber", "must be a positive integer (found %d)", s.CountNumber)
	}
	return nil
}

// validateRuleSet checks what no single rule shows: unique priorities, the
// "any" rule last, one untagged rule, and no two rules with the same tag
// selection. Rules are taken in priority order so that messages name the
// later rule as the offender.
func validateRuleSet(rules []Rule) error {
	byPriority := sortedRules(rules)
	seenTags := map[string]int{} // tag-selection key -> priority
	untagged := 0
	for k, r := range byPriority {
		fail := func(field, format string, args ...any) error {
			return &Error{Rule: r.RulePriority, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		if k > 0 && byPriority[k-1].RulePriority == r.RulePriority {
			return fail("rulePriority", "is used by more than one rule; each rule needs a unique rulePriority")
		}
		switch r.Selection.TagStatus {
		case TagStatusAny:
			if k != len(byPriority)-1 {
				return fail("selection.tagStatus", `a rule with tagStatus "any" must have the highest rulePriority, but rule %d comes after it`, byPriority[k+1].RulePriority)
			}
		case TagStatusUntagged:
			if untagged != 0 {
				return fail("selection.tagStatus", "only one rule can select untagged images, and rule %d already does", untagged)
			}
			untagged = r.RulePriority
		case TagStatusTagged:
			key, field := tagSelectionKey(r.Selection)
			if prev, dup := seenTags[key]; dup {
				// ECR: "The set of rules must contain a unique set of tag
				// prefixes." The later rule could never decide an image.
				return fail(field, "selects the same tags as rule %d; each rule needs a unique set of tag patterns or prefixes", prev)
			}
			seenTags[key] = r.RulePriority
		}
	}
	return nil
}

// tagSelectionKey identifies the images a tagged rule identifies, so that
// ["prod"] as a prefix list and ["prod*"] as a pattern list compare equal.
func tagSelectionKey(s Selection) (key, field string) {
	field = "selection.tagPatternList"
	pats := slices.Clone(s.TagPatternList)
	if len(s.TagPrefixList) > 0 {
		field = "selection.tagPrefixList"
		pats = pats[:0]
		for _, pre := range s.TagPrefixList {
			pats = append(pats, pre+"*")
		}
	}
	slices.Sort(pats)
	pats = slices.Compact(pats)
	var b strings.Builder
	for _, p := range pats {
		b.WriteString(strconv.Quote(p))
	}
	return b.String(), field
}

func validateProtect(pr *Protect) error {
	if pr != nil && pr.PulledWithinDays < 0 {
		return &Error{Field: "protect.pulledWithinDays", Msg: fmt.Sprintf("must not be negative (found %d)", pr.PulledWithinDays)}
	}
	return nil
}

// sortedRules returns the rules in evaluation order without touching the
// caller's slice.
func sortedRules(rules []Rule) []Rule {
	out := slices.Clone(rules)
	slices.SortStableFunc(out, func(a, b Rule) int { return cmp.Compare(a.RulePriority, b.RulePriority) })
	return out
}
