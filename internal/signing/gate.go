package signing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sign/truststore"
)

// GateError refuses a pull: the image is not signed by an identity the
// repository's trust policy trusts. It wraps registry.ErrDenied (403
// DENIED) and carries the message clients show.
type GateError struct {
	Digest string
	Reason string
}

func (e *GateError) Error() string   { return "pull refused: " + e.Reason }
func (e *GateError) Unwrap() error   { return registry.ErrDenied }
func (e *GateError) Message() string { return e.Reason }

// AuditRefusal records the refusal as denied by the signature gate.
func (e *GateError) AuditRefusal() (result, reason string) {
	return audit.ResultDenied, ReasonSignatureGate
}

// ReasonSignatureGate is the audit reason of a pull the signature gate
// refused.
const ReasonSignatureGate = "signature-gate"

// PullGate refuses repo's image or index m unless an identity the trust
// policy of repo's signature gate trusts signed it (or, for an image, an
// index holding it). Signatures, SBOMs and other artifacts always pass,
// so clients can verify for themselves. Verdicts are cached per image for
// a few seconds, and dropped at once when the trust material changes or
// a signature of the image is pushed here. Callers allowed to push to
// repo pass (see WithWriters).
func (s *Service) PullGate(ctx context.Context, repo string, m *meta.Manifest) error {
	g := s.cfg.GateFor(repo)
	if g == nil || (s.writer != nil && s.writer(ctx, repo)) {
		return nil
	}
	k := gateKey{repo: repo, digest: m.Digest.String(), policy: g.TrustPolicy}
	reason, ok := s.gate.get(k, s.now())
	if !ok {
		var err error
		if reason, err = s.judge(ctx, repo, m, g.TrustPolicy); err != nil {
			return err
		}
		s.gate.put(k, reason, s.now())
	}
	if reason == "" {
		return nil
	}
	return &GateError{Digest: k.digest, Reason: reason}
}

// judge returns why m fails the gate, or "".
func (s *Service) judge(ctx context.Context, repo string, m *meta.Manifest, policy string) (string, error) {
	if len(m.Content) == 0 { // a HEAD: the gate needs the manifest itself
		full, err := s.Registry.StatManifest(ctx, repo, m.Digest.String())
		if err != nil {
			return "", err
		}
		m = full
	}
	if !signable(m) {
		return "", nil
	}
	v, err := s.VerifyImage(ctx, repo, m, policy)
	if errors.Is(err, sign.ErrNoPolicy) || errors.Is(err, ErrNoTrustPolicy) {
		return fmt.Sprintf("image %s cannot be verified: %v", short(m.Digest), err), nil
	}
	if err != nil {
		return "", err
	}
	if v.Trusted {
		return "", nil
	}
	return fmt.Sprintf("image %s is not signed by a trusted identity (trust policy %q): %v", short(m.Digest), policy, v.Err()), nil
}

// VerifyImage is Verify, where an image that is not trusted itself is
// trusted through an index holding it that a trusted identity signed
// (the verdict is then the index's).
func (s *Service) VerifyImage(ctx context.Context, repo string, m *meta.Manifest, policy string) (sign.Verdict, error) {
	v, err := s.Verify(ctx, repo, m, policy)
	if err != nil || v.Trusted || !isImage(m.MediaType, m.ArtifactType) {
		return v, err
	}
	parents, err := s.Parents(ctx, repo, m.Digest)
	if err != nil {
		return v, err
	}
	for _, p := range parents {
		pm, err := s.Registry.StatManifest(ctx, repo, p.String())
		if err != nil {
			continue
		}
		if pv, err := s.Verify(ctx, repo, pm, policy); err == nil && pv.Trusted {
			return pv, nil
		}
	}
	return v, nil
}

// PolicyFor is the trust policy repo's images are judged by when none is
// named: its signature gate's, else the built-in one.
func (s *Service) PolicyFor(repo string) string {
	if g := s.cfg.GateFor(repo); g != nil {
		return g.TrustPolicy
	}
	return truststore.BuiltIn
}

func short(d digest.Digest) string {
	s := d.String()
	if len(s) > 19 {
		return s[:19]
	}
	return s
}

// ErrNoTrustPolicy: a signature gate names a trust policy that does not
// exist.
var ErrNoTrustPolicy = errors.New("no such trust policy")

// Verify checks the signatures of repo's manifest m against the trust
// policy named policy.
func (s *Service) Verify(ctx context.Context, repo string, m *meta.Manifest, policy string) (sign.Verdict, error) {
	trust, err := s.Trust.Trust(ctx, policy)
	if errors.Is(err, truststore.ErrNotFound) {
		return sign.Verdict{}, fmt.Errorf("%w %q", ErrNoTrustPolicy, policy)
	}
	if err != nil {
		return sign.Verdict{}, err
	}
	sigs, err := s.collect(ctx, repo, m.Digest)
	if err != nil {
		return sign.Verdict{}, err
	}
	return trust.Verify(ctx, repo, sign.Subject(m.MediaType, m.Digest, m.Size), sigs)
}

// collect reads every signature of d in repo: Notation and cosign
// referrers, and cosign's tag.
func (s *Service) collect(ctx context.Context, repo string, d digest.Digest) ([]sign.Signature, error) {
	blob := func(ctx context.Context, b digest.Digest, max int64) ([]byte, error) {
		rc, size, err := s.Registry.OpenBlob(ctx, repo, b, 0)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		if size > max {
			return nil, fmt.Errorf("blob %s of %d bytes is too large for a signature", b, size)
		}
		return io.ReadAll(io.LimitReader(rc, max))
	}
	var (
		out  []sign.Signature
		seen = map[digest.Digest]bool{}
	)
	idx, err := s.Registry.Referrers(ctx, repo, d, "")
	if err != nil {
		return nil, err
	}
	for _, r := range idx.Manifests {
		if !sign.IsSignature(r.ArtifactType) || seen[r.Digest] {
			continue
		}
		seen[r.Digest] = true
		m, err := s.Registry.StatManifest(ctx, repo, r.Digest.String())
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, sign.ParseSignature(ctx, m.Content, blob)...)
	}
	m, err := s.Registry.StatManifest(ctx, repo, sign.CosignTag(d))
	switch {
	case err == nil && !seen[m.Digest]:
		out = append(out, sign.ParseSignature(ctx, m.Content, blob)...)
	case err != nil && !notFound(err):
		return nil, err
	}
	return out, nil
}

func notFound(err error) bool {
	return errors.Is(err, meta.ErrNotFound) || errors.Is(err, registry.ErrManifestUnknown) || errors.Is(err, registry.ErrNameUnknown)
}

// Invalidate drops cached verdicts of the images of repo named by ds
// (when a signature of one is pushed or deleted); none drops repo's all.
func (s *Service) Invalidate(repo string, ds ...digest.Digest) {
	if len(ds) == 0 {
		s.gate.forget(repo, "")
	}
	for _, d := range ds {
		s.gate.forget(repo, d.String())
	}
}

// TrustChanged drops cached verdicts now, after a change of trust
// material made through this process.
func (s *Service) TrustChanged(ctx context.Context) {
	if v, err := s.trustVersion(ctx); err == nil {
		s.gate.setVersion(v)
	}
}

// TrustVersion names the trust material this process last saw: it
// changes whenever a trust store, a trust policy or a key does (seen
// within a second of the change, or at once when made here).
func (s *Service) TrustVersion() string { return s.gate.currentVersion() }

// gateTTL bounds how long a verdict is reused: a signature pushed through
// another replica is seen here at the latest this much later.
const gateTTL = 5 * time.Second

type gateKey struct{ repo, digest, policy string }

type gateEntry struct {
	reason string
	until  time.Time
}

// gateCache holds verdicts; a change of the trust version drops them all.
type gateCache struct {
	mu      sync.RWMutex
	m       map[gateKey]gateEntry
	version string
}

func newGateCache() *gateCache { return &gateCache{m: map[gateKey]gateEntry{}} }

func (c *gateCache) get(k gateKey, now time.Time) (string, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || now.After(e.until) {
		return "", false
	}
	return e.reason, true
}

func (c *gateCache) put(k gateKey, reason string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 100_000 {
		clear(c.m) // bound memory; verdicts are cheap to redo
	}
	c.m[k] = gateEntry{reason: reason, until: now.Add(gateTTL)}
}

// forget drops repo's verdicts for digest ("" for all of repo's).
func (c *gateCache) forget(repo, digest string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.repo == repo && (digest == "" || k.digest == digest) {
			delete(c.m, k)
		}
	}
}

func (c *gateCache) currentVersion() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.version
}

// setVersion records the trust version, dropping every verdict when it
// changed.
func (c *gateCache) setVersion(v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v != c.version {
		if c.version != "" {
			clear(c.m)
		}
		c.version = v
	}
}
