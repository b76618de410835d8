package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/imagefacts"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
)

// Facts reads an image's facts (imagefacts.Source).
type Facts interface {
	Facts(ctx context.Context, repo, ref, trustPolicy string) (imagefacts.Facts, error)
}

// Container is one container of a pod, or one image of a check.
type Container struct {
	Name  string `json:"name,omitempty"`
	Type  string `json:"type,omitempty"` // container, initContainer, ephemeralContainer
	Image string `json:"image"`
}

// Request is what is judged: the images a pod (or an ECS task, or a CI
// step) would run, in a namespace ("" outside Kubernetes).
type Request struct {
	Namespace  string
	Containers []Container
}

// Decision is the answer for a request. Denials and Warnings are the
// messages a client shows; Images has the verdict of each distinct image.
type Decision struct {
	Allowed  bool
	Denials  []string
	Warnings []string
	Images   []ImageDecision
}

// ImageDecision is the verdict of one image.
type ImageDecision struct {
	Image      string       `json:"image"`
	Host       string       `json:"host,omitempty"`
	Repository string       `json:"repository,omitempty"`
	Digest     string       `json:"digest,omitempty"`
	Allowed    bool         `json:"allowed"`
	Results    []RuleResult `json:"rules,omitempty"`
	// Reason is why the image was refused or not judged, apart from rules
	// (a bad reference, another registry).
	Reason string `json:"reason,omitempty"`
}

// RuleResult is one rule's verdict on one image.
type RuleResult struct {
	Rule   string `json:"rule"`
	Mode   string `json:"mode"`
	Passed bool   `json:"passed"`
	// Denied: this result refused the image (an enforced rule failed, or
	// could not be judged and does not allow errors).
	Denied  bool   `json:"denied,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

// maxImages bounds the distinct images judged in one request; no real pod
// comes near it, and each costs a lookup.
const maxImages = 256

// Service judges images against the admission rules.
type Service struct {
	facts       Facts
	hosts       Hosts
	other       config.OtherRegistries
	otherHosts  Hosts
	trustPolicy string
	rules       atomic.Pointer[[]Rule]
	fileRules   []config.AdmissionRule
	store       *RuleStore
	storedGen   atomic.Int64
	cache       *factCache
	now         func() time.Time
	log         *slog.Logger
	trust       func() string // the trust material's version
}

// Option configures New.
type Option func(*Service) error

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Service) error {
		if l == nil {
			return errors.New("admission: nil logger")
		}
		s.log = l
		return nil
	}
}

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return errors.New("admission: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithRuleStore adds the rules managed through the API to the file's.
func WithRuleStore(st *RuleStore) Option {
	return func(s *Service) error {
		if st == nil {
			return errors.New("admission: nil rule store")
		}
		s.store = st
		return nil
	}
}

// WithTrustVersion tells the service the version of the trust material,
// so cached signature facts are dropped when it changes.
func WithTrustVersion(v func() string) Option {
	return func(s *Service) error {
		if v == nil {
			return errors.New("admission: nil trust version")
		}
		s.trust = v
		return nil
	}
}

// New returns a service judging with cfg's rules; hosts are this
// registry's names (cfg.RegistryHosts, or the listeners' addresses).
func New(facts Facts, cfg config.Admission, hosts []string, opts ...Option) (*Service, error) {
	if facts == nil {
		return nil, errors.New("admission: New needs facts")
	}
	rules, err := Compile("admission.rules", cfg.Rules)
	if err != nil {
		return nil, err
	}
	if len(cfg.RegistryHosts) > 0 {
		hosts = cfg.RegistryHosts
	}
	s := &Service{facts: facts, hosts: NewHosts(hosts...), other: cfg.OtherRegistries, otherHosts: NewHosts(cfg.OtherRegistries.Hosts...),
		trustPolicy: cfg.TrustPolicy, fileRules: cfg.Rules, cache: newFactCache(), now: time.Now, log: slog.Default(), trust: func() string { return "" }}
	s.rules.Store(&rules)
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Rules returns the rules in force.
func (s *Service) Rules() []Rule { return *s.rules.Load() }

// Decide judges every distinct image of req once, concurrently.
func (s *Service) Decide(ctx context.Context, req Request) Decision {
	var images []string
	seen := map[string]bool{}
	for _, c := range req.Containers {
		if !seen[c.Image] {
			seen[c.Image] = true
			images = append(images, c.Image)
		}
	}
	if len(images) > maxImages {
		msg := fmt.Sprintf("the pod names %d distinct images; moat judges at most %d per request", len(images), maxImages)
		return Decision{Allowed: false, Denials: []string{msg}}
	}
	rules := s.applicable(req.Namespace)
	out := make([]ImageDecision, len(images))
	// Images whose facts are cached are judged here at once; the others'
	// facts are read concurrently.
	var wg sync.WaitGroup
	for i, img := range images {
		var ok bool
		if out[i], ok = s.judge(ctx, img, rules, true); !ok {
			wg.Go(func() { out[i], _ = s.judge(ctx, img, rules, false) })
		}
	}
	wg.Wait()
	d := Decision{Allowed: true, Images: out}
	for _, im := range out {
		if !im.Allowed {
			d.Allowed = false
			d.Denials = append(d.Denials, denial(im))
		}
		for _, r := range im.Results {
			if !r.Passed && !r.Denied {
				d.Warnings = append(d.Warnings, fmt.Sprintf("image %s: rule %s (%s): %s", im.Image, r.Rule, r.Mode, r.Message))
			}
		}
	}
	return d
}

// denial is the message for a refused image: the image, the failed rules
// and their reasons.
func denial(im ImageDecision) string {
	if im.Reason != "" {
		return im.Reason
	}
	var parts []string
	for _, r := range im.Results {
		if r.Denied {
			parts = append(parts, fmt.Sprintf("rule %s: %s", r.Rule, r.Message))
		}
	}
	at := ""
	if im.Digest != "" {
		at = " (" + shortDigest(im.Digest) + ")"
	}
	return fmt.Sprintf("image %s%s is refused: %s", im.Image, at, strings.Join(parts, "; "))
}

func (s *Service) applicable(namespace string) []Rule {
	all := s.Rules()
	out := make([]Rule, 0, len(all))
	for _, r := range all {
		if r.Applies(namespace) {
			out = append(out, r)
		}
	}
	return out
}

// judge decides one image. With cachedOnly it gives up (false) rather
// than read facts that are not cached.
func (s *Service) judge(ctx context.Context, image string, rules []Rule, cachedOnly bool) (ImageDecision, bool) {
	im := ImageDecision{Image: image}
	ref, err := ParseImage(image)
	if err != nil {
		im.Reason = "invalid image reference: " + err.Error()
		return im, true
	}
	im.Host, im.Repository = ref.Host, ref.Repository
	if !s.hosts.Has(ref.Host) {
		switch {
		case s.other.Allow, s.otherHosts.Has(ref.Host):
			im.Allowed = true
		case len(s.other.Hosts) > 0:
			im.Reason = fmt.Sprintf("image %s is from %s, which is neither this registry nor an allowed one (admission.otherRegistries)", image, ref.Host)
		default:
			im.Reason = fmt.Sprintf("image %s is from %s, not this registry; admission.otherRegistries denies other registries", image, ref.Host)
		}
		return im, true
	}
	img, vs, err := s.image(ctx, ref, cachedOnly)
	if errors.Is(err, errNotCached) {
		return im, false
	}
	if img != nil {
		im.Digest = img.Digest
	}
	im.Allowed = true
	for _, r := range rules {
		res := RuleResult{Rule: r.Name, Mode: r.Mode, Passed: true}
		if res.Mode == "" {
			res.Mode = config.ModeEnforce
		}
		var evalErr error
		if err != nil {
			evalErr = err
		} else {
			v := evaluate(r, img, vs)
			evalErr = v.err
			if v.err == nil && !v.ok {
				res.Passed, res.Message = false, v.msg
			}
		}
		if evalErr != nil {
			res.Passed, res.Error = false, evalErr.Error()
			res.Message = "cannot be judged: " + evalErr.Error()
			if r.Enforced() && r.OnError == config.OnErrorAllow {
				res.Message = "admitted although it cannot be judged (onError: allow): " + evalErr.Error()
			}
		}
		if !res.Passed && r.Enforced() && (evalErr == nil || r.OnError != config.OnErrorAllow) {
			res.Denied, im.Allowed = true, false
		}
		im.Results = append(im.Results, res)
	}
	return im, true
}

// failure explains why img failed r: the rule's message or expression,
// and the facts the expression reads.
func failure(r Rule, img *Image) string {
	msg := r.Message
	if msg == "" {
		msg = "the expression is false: " + r.Expression
	}
	reads := func(field string) bool { return strings.Contains(r.Expression, field) }
	var facts []string
	if reads("scan") && img.Scan.Status != "COMPLETE" {
		st := img.Scan.Status
		if st == "" {
			st = "never scanned"
		}
		if img.Scan.Reason != "" {
			st += " (" + clip(img.Scan.Reason, 160) + ")"
		}
		facts = append(facts, "scan "+st)
	}
	f := img.Findings
	if reads("findings") {
		if n := f.Critical + f.High + f.Medium + f.Low + f.Unknown; n > 0 {
			facts = append(facts, fmt.Sprintf("%d critical, %d high, %d medium, %d low findings", f.Critical, f.High, f.Medium, f.Low))
		}
		if len(f.IDs) > 0 {
			facts = append(facts, "vulnerabilities "+listIDs(f.IDs, 10))
		}
	}
	if reads("signed") && !img.Signed {
		facts = append(facts, "not signed by a trusted identity (trust policy "+img.TrustPolicy+")")
	}
	if len(facts) > 0 {
		msg += " (" + strings.Join(facts, "; ") + ")"
	}
	return msg
}

// listIDs names the first n ids, then how many more there are.
func listIDs(ids []string, n int) string {
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:n], ", "), len(ids)-n)
}

// errNotCached: the facts asked for only if cached are not.
var errNotCached = errors.New("not cached")

// image returns ref's facts as rules see them, and the verdicts on them,
// from the cache when they are current; with cachedOnly, errNotCached
// when they are not.
func (s *Service) image(ctx context.Context, ref ImageRef, cachedOnly bool) (*Image, *verdicts, error) {
	now := s.now()
	trust := s.trust()
	key := cacheKey{repo: ref.Repository, ref: ref.Ref()}
	if e, ok := s.cache.get(key, trust, now); ok {
		img := *e.image
		img.Host = ref.Host
		return &img, e.verdicts, nil
	}
	if cachedOnly {
		return nil, nil, errNotCached
	}
	f, err := s.facts.Facts(ctx, ref.Repository, ref.Ref(), s.trustPolicy)
	if err != nil {
		if errors.Is(err, registry.ErrManifestUnknown) || errors.Is(err, registry.ErrNameUnknown) || errors.Is(err, meta.ErrNotFound) {
			return nil, nil, fmt.Errorf("%s is not in this registry", ref.Repository+refSep(ref)+ref.Ref())
		}
		s.log.Warn("admission: reading image facts", "image", ref.String(), "err", err)
		return nil, nil, fmt.Errorf("reading the facts of %s: %v", ref.String(), err)
	}
	img := ImageOf(f, now)
	vs := &verdicts{}
	s.cache.put(key, cacheEntry{image: img, digest: f.Digest, children: f.Children, trust: trust, until: now.Add(cacheTTL), verdicts: vs})
	c := *img
	c.Host = ref.Host
	return &c, vs, nil
}

// evaluate returns r's verdict on img, from vs when it was reached before.
func evaluate(r Rule, img *Image, vs *verdicts) verdict {
	k := verdictKey{rule: r.id, host: img.Host}
	if v, ok := vs.m.Load(k); ok {
		return v.(verdict)
	}
	ok, err := r.Eval(img)
	v := verdict{ok: ok, err: err}
	if err == nil && !ok {
		v.msg = failure(r, img)
	}
	vs.m.Store(k, v)
	return v
}

// Resolve names the repository and digest of image when it is of this
// registry and known ("", "" otherwise).
func (s *Service) Resolve(ctx context.Context, image string) (repo, digest string) {
	ref, err := ParseImage(image)
	if err != nil || !s.hosts.Has(ref.Host) {
		return "", ""
	}
	img, _, err := s.image(ctx, ref, false)
	if err != nil {
		return ref.Repository, ref.Digest
	}
	return ref.Repository, img.Digest
}

func refSep(r ImageRef) string {
	if r.Digest != "" {
		return "@"
	}
	return ":"
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
