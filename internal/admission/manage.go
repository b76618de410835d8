package admission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/config"
)

// Rule sources, as the rules listing names them.
const (
	SourceFile = "file"
	SourceAPI  = "api"
)

// ListedRule is a rule in force and where it comes from.
type ListedRule struct {
	config.AdmissionRule
	Source string `json:"source"`
}

// RuleList returns the rules in force: the file's, then the API's.
func (s *Service) RuleList() []ListedRule {
	var out []ListedRule
	for _, r := range s.Rules() {
		src := SourceAPI
		if slices.ContainsFunc(s.fileRules, func(f config.AdmissionRule) bool { return f.Name == r.Name }) {
			src = SourceFile
		}
		out = append(out, ListedRule{AdmissionRule: r.AdmissionRule, Source: src})
	}
	return out
}

// ErrNoRuleStore: rules are managed in the configuration file only.
var ErrNoRuleStore = errors.New("admission: rules are managed in the configuration file only")

// PutRules replaces the rules managed through the API after checking
// that they compile and that no name clashes with a file rule. They apply
// here at once and on other replicas within a second.
func (s *Service) PutRules(ctx context.Context, rules []config.AdmissionRule, by string) error {
	if s.store == nil {
		return ErrNoRuleStore
	}
	for _, r := range rules {
		if slices.ContainsFunc(s.fileRules, func(f config.AdmissionRule) bool { return f.Name == r.Name }) {
			return fmt.Errorf("%w: rule %q is defined in the configuration file", config.ErrInvalid, r.Name)
		}
	}
	if _, err := Compile("rules", rules); err != nil {
		return err
	}
	if err := s.store.Save(ctx, rules, by, s.now()); err != nil {
		return err
	}
	return s.LoadRules(ctx)
}

// LoadRules compiles the file's and the stored rules when the stored ones
// changed.
func (s *Service) LoadRules(ctx context.Context) error {
	if s.store == nil {
		return nil
	}
	gen, err := s.store.Generation(ctx)
	if err != nil || gen == s.storedGen.Load() {
		return err
	}
	stored, gen, err := s.store.Load(ctx)
	if err != nil {
		return err
	}
	rules, err := Compile("admission rules", append(slices.Clone(s.fileRules), stored...))
	if err != nil {
		// Stored rules compiled when saved; a file rule added since may
		// clash. Keep the rules in force and say why.
		return fmt.Errorf("admission: the stored rules no longer apply: %w", err)
	}
	s.rules.Store(&rules)
	s.storedGen.Store(gen)
	return nil
}

// Run keeps the service current until ctx ends: it follows the events
// outbox (dropping cached facts that changed) and reloads the rules
// managed through the API when another replica changed them.
func (s *Service) Run(ctx context.Context, o Outbox) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.Follow(ctx, o, 250*time.Millisecond) })
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.LoadRules(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("admission: reloading rules", "err", err)
			}
		}
	}
}
