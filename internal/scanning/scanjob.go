package scanning

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/scan"
	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/sbom"
)

// Actor is who the registry's own writes (SBOM referrers) are recorded
// as.
const Actor = "system:moat"

// scanJob scans one image: it reads the manifest, config and layers from
// the registry's storage (each layer checked against its diff_id, cached
// per layer digest), matches, and records the inventory, findings and
// events. An image that cannot be scanned is UNSUPPORTED; a scan that
// keeps failing ends FAILED.
func (s *Service) scanJob(ctx context.Context, j *jobs.Job) error {
	var p scanPayload
	if err := j.Decode(&p); err != nil {
		return jobs.Permanent(err)
	}
	start := time.Now()
	m, repo, err := s.findManifest(ctx, p.Repository, p.Digest)
	if errors.Is(err, meta.ErrNotFound) || errors.Is(err, registry.ErrManifestUnknown) {
		return nil // deleted meanwhile: nothing to scan
	}
	if err != nil {
		return err
	}
	set, err := scan.ParseScanners(scannersFor(s.Config(), repo, p.Manual))
	if err != nil {
		return jobs.Permanent(err)
	}
	if err := s.Findings.MarkInProgress(ctx, p.Digest); err != nil {
		return err
	}
	img, err := source.OpenStored(ctx, repoBlobs{s.Registry, repo}, m.Digest, m.MediaType, m.Content)
	if errors.Is(err, source.ErrUnsupported) {
		s.metrics.scans.WithLabelValues(string(findings.Unsupported)).Inc()
		return s.Findings.MarkUnsupported(ctx, p.Digest, err.Error())
	}
	if err != nil {
		return s.failed(ctx, j, p.Digest, err)
	}
	res, err := s.Scanner.Scan(ctx, scan.Request{Target: repo + "@" + p.Digest, Image: img, Scanners: set, MatchIfAvailable: true})
	if err != nil {
		return s.failed(ctx, j, p.Digest, err)
	}
	result := findings.Result{Digest: p.Digest, Inventory: res.Inventory, Keys: res.Keys, Findings: res.Report.Findings,
		Kinds: set.Kinds(), VulnDBVersion: res.Report.DB.Version}
	if set.Vuln && !res.Matched {
		// The inventory is kept: once a database appears, the rescan
		// matches it without reading a layer again.
		result.Kinds = slices.DeleteFunc(result.Kinds, func(k string) bool { return k == report.KindVulnerability || k == report.KindEndOfLife })
		result.Unmatched = "no advisory database yet: import one with `moat db import --data-dir DIR PATH` or `moat db update --data-dir DIR`; the image is matched as soon as one appears"
	}
	diff, err := s.Findings.Record(ctx, result)
	if err != nil {
		return err
	}
	took := time.Since(start)
	s.metrics.scans.WithLabelValues(string(findings.Complete)).Inc()
	s.metrics.scanSeconds.Observe(took.Seconds())
	s.gate.forget(p.Digest)
	s.log.Info("image scanned", "repository", repo, "digest", p.Digest, "packages", len(res.Inventory.Packages),
		"critical", diff.Summary.Critical, "high", diff.Summary.High, "new", len(diff.New), "resolved", len(diff.Resolved),
		"vulndb", res.Report.DB.Version, "took", took.Round(time.Millisecond))
	// The SBOM referrer is its own job: a failure to attach it must not
	// redo the scan.
	b, _ := json.Marshal(scanPayload{Digest: p.Digest})
	if _, _, err := s.Queue.Enqueue(ctx, jobs.Job{Kind: kindSBOM, Key: p.Digest, Payload: b}); err != nil {
		s.log.Warn("enqueue SBOM referrer", "digest", p.Digest, "err", err)
	}
	return nil
}

// failed records a failed attempt: the job retries, and the image is
// FAILED (with scan.failed emitted) once the attempts are used up, or at
// once when the image's content is at fault (a layer that does not match
// its digest or its config's diff_id), which no retry can fix.
func (s *Service) failed(ctx context.Context, j *jobs.Job, d string, cause error) error {
	content := errors.Is(cause, catalog.ErrDiffID) || errors.Is(cause, catalog.ErrDigestMismatch)
	if content || j.Attempts >= j.MaxAttempts {
		s.metrics.scans.WithLabelValues(string(findings.Failed)).Inc()
		if err := s.Findings.MarkFailed(ctx, d, cause.Error()); err != nil {
			return errors.Join(cause, err)
		}
		return jobs.Permanent(cause)
	}
	return cause
}

// findManifest reads the manifest from repo, or from another repository
// holding it when it left repo.
func (s *Service) findManifest(ctx context.Context, repo, d string) (*meta.Manifest, string, error) {
	m, err := s.Registry.StatManifest(ctx, repo, d)
	if err == nil || !(errors.Is(err, meta.ErrNotFound) || errors.Is(err, registry.ErrManifestUnknown) || errors.Is(err, registry.ErrNameUnknown)) {
		return m, repo, err
	}
	locs, lerr := s.Locate(ctx, d)
	if lerr != nil {
		return nil, "", lerr
	}
	for _, l := range locs {
		if m, err := s.Registry.StatManifest(ctx, l.Repository, d); err == nil {
			return m, l.Repository, nil
		}
	}
	return nil, "", err
}

// repoBlobs reads one repository's blobs.
type repoBlobs struct {
	reg  Registry
	repo string
}

func (b repoBlobs) OpenBlob(ctx context.Context, d digest.Digest) (io.ReadCloser, error) {
	rc, _, err := b.reg.OpenBlob(ctx, b.repo, d, 0)
	return rc, err
}

// SBOM referrers.
const (
	SBOMArtifactType = "application/vnd.cyclonedx+json"
	// annotationGenerator marks referrers moat made itself.
	annotationGenerator = "dev.moat.sbom.generator"
)

// sbomJob attaches the image's CycloneDX SBOM as an OCI 1.1 referrer in
// every repository holding the image, unless moat attached the same one
// already: oras discover lists it and oras copy carries it along.
func (s *Service) sbomJob(ctx context.Context, j *jobs.Job) error {
	var p scanPayload
	if err := j.Decode(&p); err != nil {
		return jobs.Permanent(err)
	}
	inv, err := s.Findings.Inventory(ctx, p.Digest)
	if errors.Is(err, findings.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	locs, err := s.Locate(ctx, p.Digest)
	if err != nil {
		return err
	}
	ctx = registry.WithActor(ctx, Actor)
	for _, l := range locs {
		m, err := s.Registry.StatManifest(ctx, l.Repository, p.Digest)
		if err != nil {
			continue // gone from this repository meanwhile
		}
		doc, err := sbomDocument(inv, l.Repository, m)
		if err != nil {
			return jobs.Permanent(err)
		}
		if err := s.attach(ctx, l.Repository, m, doc); err != nil {
			return err
		}
	}
	return nil
}

// sbomDocument is the image's CycloneDX SBOM, deterministic for a given
// inventory, repository and push: its serial number derives from them and
// its timestamp is the push time, so attaching it again stores nothing
// new.
func sbomDocument(inv *catalog.Inventory, repo string, m *meta.Manifest) ([]byte, error) {
	pushed := m.PushedAt.UTC()
	var buf bytes.Buffer
	err := sbom.Write(&buf, sbom.CycloneDX, inv,
		sbom.WithSubject(repo+"@"+m.Digest.String()),
		sbom.WithClock(func() time.Time { return pushed }),
		sbom.WithID(func() string { return uuidFrom(repo, m.Digest.String(), pushed.String()) }))
	if err != nil {
		return nil, fmt.Errorf("SBOM of %s: %w", m.Digest, err)
	}
	return buf.Bytes(), nil
}

// attach pushes doc as a referrer of m in repo unless an identical one is
// there.
func (s *Service) attach(ctx context.Context, repo string, m *meta.Manifest, doc []byte) error {
	docDigest := digest.FromBytes(doc)
	existing, err := s.Registry.Referrers(ctx, repo, m.Digest, SBOMArtifactType)
	if err != nil {
		return err
	}
	for _, d := range existing.Manifests {
		if d.Annotations[annotationGenerator] == "moat" && d.Annotations["dev.moat.sbom.digest"] == docDigest.String() {
			return nil
		}
	}
	empty := []byte("{}")
	if _, err := s.Registry.PutBlob(ctx, repo, digest.FromBytes(empty), int64(len(empty)), bytes.NewReader(empty)); err != nil {
		return fmt.Errorf("store empty config: %w", err)
	}
	if _, err := s.Registry.PutBlob(ctx, repo, docDigest, int64(len(doc)), bytes.NewReader(doc)); err != nil {
		return fmt.Errorf("store SBOM: %w", err)
	}
	art := v1.Manifest{
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: SBOMArtifactType,
		Config:       v1.DescriptorEmptyJSON,
		Layers:       []v1.Descriptor{{MediaType: SBOMArtifactType, Digest: docDigest, Size: int64(len(doc))}},
		Subject:      &v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size},
		Annotations: map[string]string{
			annotationGenerator:              "moat",
			"dev.moat.sbom.digest":           docDigest.String(),
			v1.AnnotationCreated:             m.PushedAt.UTC().Format(time.RFC3339),
			"org.opencontainers.image.title": "sbom.cdx.json",
		},
	}
	art.SchemaVersion = 2
	body, err := json.Marshal(art)
	if err != nil {
		return err
	}
	d := digest.FromBytes(body)
	if _, err := s.Registry.PutManifest(ctx, registry.PutManifestRequest{Repository: repo, Reference: d.String(),
		ContentType: v1.MediaTypeImageManifest, Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("store SBOM referrer: %w", err)
	}
	s.log.Info("SBOM attached", "repository", repo, "subject", m.Digest, "referrer", d)
	return nil
}

// uuidFrom derives a UUID (version 5 layout, SHA-256 based) from parts.
func uuidFrom(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
