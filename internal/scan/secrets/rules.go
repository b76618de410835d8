package secrets

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/moat-dev/moat/internal/scan/report"
)

//go:embed rules.yaml
var builtinRules []byte

// ErrBadRules wraps every problem found in a rules file.
var ErrBadRules = errors.New("invalid secret rules")

// RuleFile is the schema of rules.yaml and of a user's rules file.
//
// A user file adds rules, replaces built-in rules of the same id, disables
// built-in rules by id, and adds skip globs and global allow-rules.
type RuleFile struct {
	Version int `yaml:"version"`
	// Skip lists path globs never scanned (vendored code, fixtures, docs).
	Skip []string `yaml:"skip"`
	// SkipExecutables lists path globs where files with an execute bit are
	// not scanned.
	SkipExecutables []string `yaml:"skipExecutables"`
	// MaxExecutableSize skips larger files with an execute bit anywhere;
	// 0 keeps the earlier files' value.
	MaxExecutableSize int64 `yaml:"maxExecutableSize"`
	// Allow applies to every rule.
	Allow   Allow      `yaml:"allow"`
	Rules   []RuleSpec `yaml:"rules"`
	Disable []string   `yaml:"disable"`
}

// RuleSpec is one detection rule as written in a rules file.
type RuleSpec struct {
	ID       string          `yaml:"id"`
	Category string          `yaml:"category"`
	Title    string          `yaml:"title"`
	Severity report.Severity `yaml:"severity"`
	// Regex finds the secret; its first non-empty capture group is the
	// secret, or the whole match when it has no groups.
	Regex string `yaml:"regex"`
	// Keywords are case-insensitive substrings of which at least one must
	// occur on a line before Regex runs there. A rule without keywords
	// runs on every line.
	Keywords []string `yaml:"keywords"`
	// Paths restricts the rule to files matching these globs.
	Paths []string `yaml:"paths"`
	// Requires are case-insensitive substrings that must all occur
	// somewhere in the same file for a match to count.
	Requires []string `yaml:"requires"`
	// NextLine must match the line following a match.
	NextLine string `yaml:"nextLine"`
	// Entropy is the minimum Shannon entropy (bits per byte) of the secret.
	Entropy float64 `yaml:"entropy"`
	// Window bounds where Regex runs: from Before bytes ahead of a keyword's
	// end to After bytes past it (defaults 64 and 1024). A match must fit
	// in the window, which keeps regex work per hit constant however long
	// the line. Rules anchored with ^ always see the whole line.
	Window Window `yaml:"window"`
	// AnchorAtKeyword runs Regex anchored at each keyword occurrence, for
	// patterns that begin with their keyword: the regex then fails within
	// a few bytes wherever the keyword is not followed by an assignment.
	AnchorAtKeyword bool  `yaml:"anchorAtKeyword"`
	Allow           Allow `yaml:"allow"`
}

// Window is the span around a keyword hit that a rule's regex sees.
type Window struct {
	Before int `yaml:"before"`
	After  int `yaml:"after"`
}

// Allow lists known non-secrets: documentation examples, placeholders,
// fixtures.
type Allow struct {
	Paths  []string `yaml:"paths"`
	Values []string `yaml:"values"`
}

// rule is a compiled RuleSpec.
type rule struct {
	RuleSpec
	re          *regexp.Regexp
	next        *regexp.Regexp
	paths       *globSet
	allowPaths  *globSet
	allowValues *regexp.Regexp
	requires    []string
	// anchored rules start with ^ and always see the whole line.
	anchored bool
}

// ruleSet is the compiled form of the built-in and user rules.
type ruleSet struct {
	rules       []*rule
	skip        *globSet
	skipExec    *globSet
	maxExec     int64
	allowPaths  *globSet
	allowValues *regexp.Regexp
	kw          *matcher
	// always are rules without keywords.
	always []int
	// requireKW is every Requires keyword, lower-case, deduplicated.
	requireKW []string
	// version identifies the rule data (for analyzer cache keys).
	version uint32
}

func parseRuleFile(r io.Reader) (*RuleFile, error) {
	var f RuleFile
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %w", ErrBadRules, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("%w: version %d (want 1)", ErrBadRules, f.Version)
	}
	return &f, nil
}

// compileRules merges the files in order (later files add, replace and
// disable) and compiles the result.
func compileRules(files ...*RuleFile) (*ruleSet, error) {
	var specs []RuleSpec
	var skip, skipExec, allowPaths, allowValues []string
	var maxExec int64
	index := map[string]int{}
	for _, f := range files {
		for _, id := range f.Disable {
			i, ok := index[id]
			if !ok {
				return nil, fmt.Errorf("%w: disable: no rule %q", ErrBadRules, id)
			}
			specs[i].ID = "" // tombstone, dropped below
			delete(index, id)
		}
		for _, s := range f.Rules {
			if i, ok := index[s.ID]; ok {
				specs[i] = s
				continue
			}
			index[s.ID] = len(specs)
			specs = append(specs, s)
		}
		skip = append(skip, f.Skip...)
		skipExec = append(skipExec, f.SkipExecutables...)
		if f.MaxExecutableSize < 0 {
			return nil, fmt.Errorf("%w: maxExecutableSize %d is negative", ErrBadRules, f.MaxExecutableSize)
		}
		if f.MaxExecutableSize > 0 {
			maxExec = f.MaxExecutableSize
		}
		allowPaths = append(allowPaths, f.Allow.Paths...)
		allowValues = append(allowValues, f.Allow.Values...)
	}
	rs := &ruleSet{maxExec: maxExec}
	var err error
	if rs.skip, err = newGlobSet(skip); err != nil {
		return nil, fmt.Errorf("%w: skip: %w", ErrBadRules, err)
	}
	if rs.skipExec, err = newGlobSet(skipExec); err != nil {
		return nil, fmt.Errorf("%w: skipExecutables: %w", ErrBadRules, err)
	}
	if rs.allowPaths, err = newGlobSet(allowPaths); err != nil {
		return nil, fmt.Errorf("%w: allow.paths: %w", ErrBadRules, err)
	}
	if rs.allowValues, err = alternation(allowValues); err != nil {
		return nil, fmt.Errorf("%w: allow.values: %w", ErrBadRules, err)
	}
	var keywords [][]string
	req := map[string]bool{}
	for _, s := range specs {
		if s.ID == "" {
			continue
		}
		r, err := compileRule(s)
		if err != nil {
			return nil, err
		}
		if len(r.Keywords) == 0 {
			rs.always = append(rs.always, len(rs.rules))
		}
		for _, k := range r.requires {
			if !req[k] {
				req[k] = true
				rs.requireKW = append(rs.requireKW, k)
			}
		}
		rs.rules = append(rs.rules, r)
		keywords = append(keywords, r.Keywords)
	}
	// Requires keywords ride along in the same automaton, numbered after
	// the rules.
	for _, k := range rs.requireKW {
		keywords = append(keywords, []string{k})
	}
	rs.kw = newMatcher(keywords)
	return rs, nil
}

func compileRule(s RuleSpec) (*rule, error) {
	bad := func(what string, err error) error {
		return fmt.Errorf("%w: rule %q: %s: %w", ErrBadRules, s.ID, what, err)
	}
	if s.Regex == "" || s.Title == "" {
		return nil, fmt.Errorf("%w: rule %q: needs a title and a regex", ErrBadRules, s.ID)
	}
	if s.Window.Before == 0 {
		s.Window.Before = 64
	}
	if s.Window.After == 0 {
		s.Window.After = 1024
	}
	if s.Window.Before < 0 || s.Window.After < 0 || s.Window.Before > 1<<16 || s.Window.After > 1<<16 {
		return nil, bad("window", fmt.Errorf("%+v outside 0..65536", s.Window))
	}
	if s.Entropy < 0 || s.Entropy > 8 {
		return nil, bad("entropy", fmt.Errorf("%v outside 0..8", s.Entropy))
	}
	r := &rule{RuleSpec: s, anchored: strings.HasPrefix(strings.TrimPrefix(s.Regex, "(?i)"), "^")}
	var err error
	re := s.Regex
	if s.AnchorAtKeyword {
		if len(s.Keywords) == 0 {
			return nil, bad("anchorAtKeyword", errors.New("needs keywords"))
		}
		re = `^(?:` + re + `)`
	}
	if r.re, err = regexp.Compile(re); err != nil {
		return nil, bad("regex", err)
	}
	if s.NextLine != "" {
		if r.next, err = regexp.Compile(s.NextLine); err != nil {
			return nil, bad("nextLine", err)
		}
	}
	if r.paths, err = newGlobSet(s.Paths); err != nil {
		return nil, bad("paths", err)
	}
	if r.allowPaths, err = newGlobSet(s.Allow.Paths); err != nil {
		return nil, bad("allow.paths", err)
	}
	if r.allowValues, err = alternation(s.Allow.Values); err != nil {
		return nil, bad("allow.values", err)
	}
	for i, k := range s.Keywords {
		if k == "" {
			return nil, bad("keywords", errors.New("empty keyword"))
		}
		r.Keywords[i] = strings.ToLower(k)
	}
	for _, k := range s.Requires {
		r.requires = append(r.requires, strings.ToLower(k))
	}
	return r, nil
}

func alternation(res []string) (*regexp.Regexp, error) {
	if len(res) == 0 {
		return nil, nil
	}
	for _, re := range res {
		if _, err := regexp.Compile(re); err != nil {
			return nil, err
		}
	}
	return regexp.Compile(`(?:` + strings.Join(res, `)|(?:`) + `)`)
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s []byte) float64 {
	if len(s) == 0 {
		return 0
	}
	var counts [256]int
	for _, c := range s {
		counts[c]++
	}
	n := float64(len(s))
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// builtinRuleFile parses the embedded rules.
func builtinRuleFile() (*RuleFile, error) { return parseRuleFile(bytes.NewReader(builtinRules)) }
