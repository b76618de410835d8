package scanning

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scanrules"
)

// GateError refuses a pull: the image fails its repository's pull gate.
// errors.Is(err, registry.ErrDenied) holds, so clients get 403 DENIED
// with Message, the text "podman pull" shows.
type GateError struct {
	Digest string
	Reason string
}

func (e *GateError) Error() string   { return "pull gate: " + e.Reason }
func (e *GateError) Message() string { return e.Reason }
func (e *GateError) Unwrap() error   { return registry.ErrDenied }

// AuditRefusal records the refusal as denied by a pull gate.
func (e *GateError) AuditRefusal() (result, reason string) { return audit.ResultDenied, ReasonPullGate }

// ReasonPullGate is the audit reason of a pull a pull gate refused.
const ReasonPullGate = "pull-gate"

// maxListed is how many finding ids a refusal names before "and N more".
const maxListed = 10

// PullGate decides whether repo's image manifest m may be pulled: nil, or
// a *GateError when repo's rule has a pull gate the image fails. Indexes,
// signatures, SBOMs and other artifacts always pass, so clients can read
// referrers and verify for themselves; callers the bypass names pass.
// Decisions are cached for a few seconds per image and dropped when the
// image is scanned again.
func (s *Service) PullGate(ctx context.Context, repo string, m *meta.Manifest) error {
	if !IsImage(m.MediaType, m.ArtifactType) {
		return nil
	}
	cfg := s.cfg.Load()
	r := cfg.RuleFor(repo)
	if r == nil || r.PreventPull == nil {
		return nil
	}
	key := gateKey{digest: m.Digest.String(), gate: *r.PreventPull}
	verdict, ok := s.gate.get(key, s.now())
	if !ok {
		var err error
		if verdict, err = s.judge(ctx, key); err != nil {
			return err
		}
		s.gate.put(key, verdict, s.now())
	}
	if verdict == "" {
		return nil
	}
	if s.bypass(ctx, repo) {
		s.metrics.gate.WithLabelValues("bypassed").Inc()
		return nil
	}
	s.metrics.gate.WithLabelValues("denied").Inc()
	return &GateError{Digest: key.digest, Reason: verdict}
}

// judge returns why the image fails the gate, or "".
func (s *Service) judge(ctx context.Context, k gateKey) (string, error) {
	sc, err := s.Findings.Scan(ctx, k.digest)
	if errors.Is(err, findings.ErrNotFound) {
		sc.Status = ""
	} else if err != nil {
		return "", err
	}
	short := k.digest
	if len(short) > 19 {
		short = short[:19]
	}
	if sc.Status != findings.Complete {
		if k.gate.Unscanned != scanrules.Deny {
			return "", nil
		}
		status := string(sc.Status)
		if status == "" {
			status = "never scanned"
		}
		return fmt.Sprintf("image %s has not been scanned (%s); this repository refuses unscanned images", short, strings.ToLower(status)), nil
	}
	sev, ok := k.gate.GateSeverity()
	if !ok {
		return "", nil
	}
	n := 0
	for v := sev; v <= report.Critical; v++ {
		n += sc.Summary.Count(v)
	}
	if n == 0 {
		return "", nil
	}
	fs, _, err := s.Findings.Findings(ctx, k.digest, findings.Query{MinSeverity: sev, Limit: maxListed})
	if err != nil {
		return "", err
	}
	ids := make([]string, 0, len(fs))
	seen := map[string]bool{}
	for _, f := range fs {
		if !seen[f.ID] {
			seen[f.ID] = true
			ids = append(ids, f.ID)
		}
	}
	list := strings.Join(ids, ", ")
	if n > len(fs) {
		list += fmt.Sprintf(" and %d more", n-len(fs))
	}
	return fmt.Sprintf("image %s has %d %s or higher finding(s): %s", short, n, strings.ToLower(sev.String()), list), nil
}

// gateKey is one image judged by one gate.
type gateKey struct {
	digest string
	gate   scanrules.PreventPull
}

// gateTTL is how long a verdict is reused: a hot image pulled thousands
// of times a second costs one findings read per interval.
const gateTTL = 5 * time.Second

// maxGateEntries bounds the cache; when full it is cleared.
const maxGateEntries = 10000

type gateCache struct {
	mu sync.Mutex
	m  map[gateKey]gateEntry
}

type gateEntry struct {
	verdict string
	until   time.Time
}

func newGateCache() *gateCache { return &gateCache{m: map[gateKey]gateEntry{}} }

func (c *gateCache) get(k gateKey, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.After(e.until) {
		return "", false
	}
	return e.verdict, true
}

func (c *gateCache) put(k gateKey, verdict string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxGateEntries {
		clear(c.m)
	}
	c.m[k] = gateEntry{verdict: verdict, until: now.Add(gateTTL)}
}

// forget drops the verdicts on one image (after its scan changed).
func (c *gateCache) forget(digest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.digest == digest {
			delete(c.m, k)
		}
	}
}

func (c *gateCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}
