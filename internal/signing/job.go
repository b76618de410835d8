package signing

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/sign"
)

const (
	kindSign     = "sign"
	consumerName = "signing"
)

// Statuses of managed signing.
const (
	InProgress = "IN_PROGRESS"
	Complete   = "COMPLETE"
	Failed     = "FAILED"
)

// signPayload is a signing job's input.
type signPayload struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
}

// Consumer is the events consumer that starts signing: an image or index
// pushed under a signing rule, and, for rules that require a passing scan,
// an image whose scan completed.
func (s *Service) Consumer() events.Consumer {
	return events.Consumer{Name: consumerName, Handle: s.onEvents}
}

func (s *Service) onEvents(ctx context.Context, evs []events.Event) error {
	var todo []signPayload
	for _, e := range evs {
		var d struct {
			events.ImageData
			Rescan bool `json:"rescan"`
		}
		if e.Type != events.ImagePushed && e.Type != events.ScanCompleted {
			continue
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			s.log.Warn("unreadable event", "event", e.ID, "type", e.Type, "err", err)
			continue
		}
		r := s.cfg.SigningRuleFor(d.Repository)
		switch {
		case r == nil:
		case e.Type == events.ImagePushed && (isImage(d.MediaType, d.ArtifactType) || isIndex(d.MediaType)) && !sign.IsCosignTag(d.Tag):
			todo = append(todo, signPayload{Repository: d.Repository, Digest: d.Digest})
		case e.Type == events.ScanCompleted && r.RequireScan != nil && !d.Rescan:
			todo = append(todo, signPayload{Repository: d.Repository, Digest: d.Digest})
		}
	}
	if len(todo) == 0 {
		return nil
	}
	err := s.DB.Write(ctx, func(tx *sql.Tx) error {
		for _, p := range todo {
			b, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := s.setStatusTx(ctx, tx, p.Repository, p.Digest, InProgress, "", true); err != nil {
				return err
			}
			if _, _, err := s.Queue.EnqueueTx(ctx, tx, jobs.Job{Kind: kindSign, Key: p.Repository + "@" + p.Digest, Payload: b, MaxAttempts: 8}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("signing: enqueue: %w", err)
	}
	s.Queue.Wake()
	return nil
}

// signJob signs one image (and an index's children) in the formats of its
// repository's rule that the active key has not signed it in yet.
func (s *Service) signJob(ctx context.Context, j *jobs.Job) error {
	var p signPayload
	if err := j.Decode(&p); err != nil {
		return jobs.Permanent(err)
	}
	r := s.cfg.SigningRuleFor(p.Repository)
	if r == nil {
		return nil // the rule went away
	}
	m, err := s.Registry.StatManifest(ctx, p.Repository, p.Digest)
	if errors.Is(err, meta.ErrNotFound) || errors.Is(err, registry.ErrManifestUnknown) || errors.Is(err, registry.ErrNameUnknown) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	targets, err := s.targets(ctx, p.Repository, m)
	if err != nil {
		return s.failed(ctx, j, p, err)
	}
	if r.RequireScan != nil {
		if wait, why, err := s.scanGate(ctx, r.RequireScan, targets); err != nil {
			return err
		} else if why != "" {
			status := Failed
			if wait {
				status = InProgress
			}
			return s.DB.Write(ctx, func(tx *sql.Tx) error { return s.setStatusTx(ctx, tx, p.Repository, p.Digest, status, why, false) })
		}
	}
	key, err := s.Keys.Signer(ctx)
	if err != nil {
		return s.failed(ctx, j, p, err)
	}
	ctx = registry.WithActor(ctx, Actor)
	var signed []signedImage
	for _, t := range targets {
		done, err := s.signOne(ctx, p.Repository, t, key, r.FormatsOrDefault())
		if err != nil {
			return s.failed(ctx, j, p, err)
		}
		signed = append(signed, done)
	}
	return s.complete(ctx, p, key.ID, signed)
}

// targets are m and, for an index, its children in repo.
func (s *Service) targets(ctx context.Context, repo string, m *meta.Manifest) ([]*meta.Manifest, error) {
	out := []*meta.Manifest{m}
	if !isIndex(m.MediaType) {
		if !signable(m) {
			return nil, fmt.Errorf("%w: %s", ErrNotSignable, m.Digest)
		}
		return out, nil
	}
	for _, c := range m.Children {
		cm, err := s.Registry.StatManifest(ctx, repo, c.String())
		if err != nil {
			return nil, fmt.Errorf("child %s: %w", c, err)
		}
		if signable(cm) && !isIndex(cm.MediaType) {
			out = append(out, cm)
		}
	}
	return out, nil
}

// scanGate checks a rule's scan condition on the images among targets: it
// says to wait while a scan is not complete, and why not to sign when one
// found too much.
func (s *Service) scanGate(ctx context.Context, rs *config.RequireScan, targets []*meta.Manifest) (wait bool, why string, err error) {
	max, err := report.ParseSeverity(rs.MaxSeverity)
	if err != nil {
		return false, "", jobs.Permanent(err)
	}
	for _, t := range targets {
		if isIndex(t.MediaType) {
			continue
		}
		sc, err := s.Scans.Scan(ctx, t.Digest.String())
		if errors.Is(err, findings.ErrNotFound) || err == nil && sc.Status != findings.Complete {
			return true, fmt.Sprintf("waiting for the scan of %s, which this repository's signing rule requires", t.Digest), nil
		}
		if err != nil {
			return false, "", err
		}
		var above []string
		for _, sev := range []report.Severity{report.Critical, report.High, report.Medium, report.Low} {
			if sev > max && sc.Summary.Count(sev) > 0 {
				above = append(above, fmt.Sprintf("%d %s", sc.Summary.Count(sev), strings.ToLower(sev.String())))
			}
		}
		if len(above) > 0 {
			return false, fmt.Sprintf("not signed: the scan of %s found %s, above %s", t.Digest, strings.Join(above, ", "), strings.ToLower(rs.MaxSeverity)), nil
		}
	}
	return false, "", nil
}

// signedImage is what signing one image made.
type signedImage struct {
	Digest     string   `json:"digest"`
	Signatures []string `json:"signatures"`
	Formats    []string `json:"formats"`
}

// signOne signs t in each of formats that key has not signed it in.
func (s *Service) signOne(ctx context.Context, repo string, t *meta.Manifest, key sign.Key, formats []string) (signedImage, error) {
	out := signedImage{Digest: t.Digest.String()}
	subject := sign.Subject(t.MediaType, t.Digest, t.Size)
	for _, f := range formats {
		var a *sign.Artifact
		switch sign.Format(f) {
		case sign.Notation:
			done, err := s.hasNotation(ctx, repo, t.Digest, key.ID)
			if err != nil || done {
				out.Formats = append(out.Formats, f)
				if err != nil {
					return out, err
				}
				continue
			}
			if a, err = sign.NotationSign(ctx, key, subject, s.envelope, s.now()); err != nil {
				return out, err
			}
		case sign.Cosign:
			prior, done, err := s.cosignLayers(ctx, repo, t.Digest, key.ID)
			if err != nil || done {
				out.Formats = append(out.Formats, f)
				if err != nil {
					return out, err
				}
				continue
			}
			if a, err = sign.CosignSign(key, subject, s.reference(repo), prior); err != nil {
				return out, err
			}
		default:
			return out, fmt.Errorf("%w: signature format %q", ErrNotSignable, f)
		}
		if err := s.push(ctx, repo, a); err != nil {
			return out, err
		}
		out.Signatures = append(out.Signatures, a.Digest().String())
		out.Formats = append(out.Formats, f)
	}
	return out, nil
}

// hasNotation reports whether key already signed d in repo (Notation).
func (s *Service) hasNotation(ctx context.Context, repo string, d digest.Digest, keyID string) (bool, error) {
	idx, err := s.Registry.Referrers(ctx, repo, d, sign.NotationArtifactType)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(idx.Manifests, func(r v1.Descriptor) bool { return r.Annotations[sign.KeyAnnotation] == keyID }), nil
}

// cosignLayers returns the signatures under d's cosign tag in repo, and
// whether key made one of them.
func (s *Service) cosignLayers(ctx context.Context, repo string, d digest.Digest, keyID string) ([]v1.Descriptor, bool, error) {
	m, err := s.Registry.StatManifest(ctx, repo, sign.CosignTag(d))
	if errors.Is(err, meta.ErrNotFound) || errors.Is(err, registry.ErrManifestUnknown) || errors.Is(err, registry.ErrNameUnknown) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var sig v1.Manifest
	if err := json.Unmarshal(m.Content, &sig); err != nil {
		return nil, false, nil // not a signature image: replaced
	}
	var layers []v1.Descriptor
	for _, l := range sig.Layers {
		if l.MediaType != sign.CosignPayloadType {
			continue
		}
		if l.Annotations[sign.KeyAnnotation] == keyID {
			return nil, true, nil
		}
		layers = append(layers, l)
	}
	return layers, false, nil
}

// push stores a signature artifact in repo: blobs, then the manifest
// (under the cosign tag for cosign).
func (s *Service) push(ctx context.Context, repo string, a *sign.Artifact) error {
	for d, b := range a.Blobs {
		if _, err := s.Registry.PutBlob(ctx, repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
			return fmt.Errorf("store signature blob: %w", err)
		}
	}
	ref := a.Digest().String()
	if a.Tag != "" {
		ref = a.Tag
	}
	if _, err := s.Registry.PutManifest(ctx, registry.PutManifestRequest{Repository: repo, Reference: ref,
		ContentType: v1.MediaTypeImageManifest, Body: bytes.NewReader(a.Manifest)}); err != nil {
		return fmt.Errorf("store %s signature: %w", a.Format, err)
	}
	s.gate.forget(repo, "")
	return nil
}

// reference is the image's repository as cosign payloads name it.
func (s *Service) reference(repo string) string {
	if s.cfg.Reference == "" {
		return repo
	}
	return s.cfg.Reference + "/" + repo
}

// complete records the images as signed and emits image.signed for
// each, in one transaction.
func (s *Service) complete(ctx context.Context, p signPayload, keyID string, signed []signedImage) error {
	err := s.DB.Write(ctx, func(tx *sql.Tx) error {
		var evs []events.Event
		for _, img := range signed {
			if err := s.setSignedTx(ctx, tx, p.Repository, img.Digest, keyID); err != nil {
				return err
			}
			if len(img.Signatures) == 0 {
				continue // signed before: nothing new to tell
			}
			e, err := events.NewEvent(events.ImageSigned, p.Repository+"@"+img.Digest, map[string]any{
				"repository": p.Repository, "digest": img.Digest, "keyId": keyID, "formats": img.Formats,
				"signatures": img.Signatures, "actor": Actor})
			if err != nil {
				return err
			}
			evs = append(evs, e)
		}
		return s.Outbox.AppendTx(ctx, tx, evs...)
	})
	if err != nil {
		return fmt.Errorf("signing: record: %w", err)
	}
	s.Outbox.Wake()
	s.log.Info("image signed", "repository", p.Repository, "digest", p.Digest, "key", keyID, "images", len(signed))
	return nil
}

// failed records a failed attempt: the job retries, and the image is
// FAILED once the attempts are used up, or at once when it cannot be
// signed at all.
func (s *Service) failed(ctx context.Context, j *jobs.Job, p signPayload, cause error) error {
	if !errors.Is(cause, ErrNotSignable) && j.Attempts < j.MaxAttempts {
		return cause
	}
	if err := s.DB.Write(ctx, func(tx *sql.Tx) error {
		return s.setStatusTx(ctx, tx, p.Repository, p.Digest, Failed, cause.Error(), false)
	}); err != nil {
		return errors.Join(cause, err)
	}
	return jobs.Permanent(cause)
}
