package scanning

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/scanrules"
)

// Job kinds.
const (
	kindScan       = "scan"
	kindRescan     = "rescan"
	kindSweep      = "rescan-sweep"
	kindSBOM       = "sbom-referrer"
	kindUpdate     = "vulndb-update"
	kindHousekeep  = "scanning-housekeeping"
	consumerName   = "scan-trigger"
	dockerConfig   = "application/vnd.docker.container.image.v1+json"
	dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	dockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// IsImage reports whether a manifest of these types is an image (not an
// index, a signature or another artifact): what scanning reads.
func IsImage(mediaType, artifactType string) bool {
	return (mediaType == v1.MediaTypeImageManifest || mediaType == dockerManifest) &&
		(artifactType == v1.MediaTypeImageConfig || artifactType == dockerConfig)
}

func isIndex(mediaType string) bool {
	return mediaType == v1.MediaTypeImageIndex || mediaType == dockerList
}

// scanPayload is a scan job's input.
type scanPayload struct {
	Digest     string `json:"digest"`
	Repository string `json:"repository"`
	// Manual scans run every scanner, whatever the rules say.
	Manual bool `json:"manual,omitempty"`
}

// Consumer is the events consumer that scans pushed images under rules
// that scan on push: it enqueues one durable scan job per image (the
// children of an index included), marking it PENDING in the same
// transaction.
func (s *Service) Consumer() events.Consumer {
	return events.Consumer{Name: consumerName, Handle: s.onEvents}
}

func (s *Service) onEvents(ctx context.Context, evs []events.Event) error {
	cfg := s.Config()
	var todo []scanPayload
	for _, e := range evs {
		if e.Type != events.ImagePushed {
			continue
		}
		var p events.ImageData
		if err := json.Unmarshal(e.Data, &p); err != nil {
			s.log.Warn("unreadable image.pushed event", "event", e.ID, "err", err)
			continue
		}
		r := cfg.RuleFor(p.Repository)
		if r == nil || !r.OnPush() {
			continue
		}
		switch {
		case IsImage(p.MediaType, p.ArtifactType):
			todo = append(todo, scanPayload{Digest: p.Digest, Repository: p.Repository})
		case isIndex(p.MediaType):
			for _, c := range p.Children {
				todo = append(todo, scanPayload{Digest: c, Repository: p.Repository})
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}
	return s.enqueueScans(ctx, todo)
}

// enqueueScans marks each image PENDING and enqueues its scan, in one
// transaction; an image already waiting for a scan is not queued twice.
func (s *Service) enqueueScans(ctx context.Context, ps []scanPayload) error {
	err := s.DB.Write(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			b, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := s.Findings.MarkPendingTx(ctx, tx, p.Digest); err != nil {
				return err
			}
			if _, _, err := s.Queue.EnqueueTx(ctx, tx, jobs.Job{Kind: kindScan, Key: p.Digest, Payload: b, MaxAttempts: 6}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("enqueue scans: %w", err)
	}
	s.Queue.Wake()
	return nil
}

// StartScan asks for a scan of the image repo@ref now (POST .../scan),
// with every scanner. It returns the digest; ErrNotAnImage for indexes
// and artifacts.
func (s *Service) StartScan(ctx context.Context, repo, ref string) (string, error) {
	m, err := s.Registry.StatManifest(ctx, repo, ref)
	if err != nil {
		return "", err
	}
	if isIndex(m.MediaType) {
		// Scan every child; the index itself has no packages.
		var ps []scanPayload
		var idx v1.Index
		if err := json.Unmarshal(m.Content, &idx); err != nil {
			return "", fmt.Errorf("index %s: %w", m.Digest, err)
		}
		for _, c := range idx.Manifests {
			ps = append(ps, scanPayload{Digest: c.Digest.String(), Repository: repo, Manual: true})
		}
		return m.Digest.String(), s.enqueueScans(ctx, ps)
	}
	if !IsImage(m.MediaType, m.ArtifactType) {
		return "", fmt.Errorf("%w: %s is %s", ErrNotAnImage, m.Digest, describe(m.MediaType, m.ArtifactType))
	}
	return m.Digest.String(), s.enqueueScans(ctx, []scanPayload{{Digest: m.Digest.String(), Repository: repo, Manual: true}})
}

// ErrNotAnImage: the manifest is a signature, an SBOM or another
// artifact, which has no packages to scan.
var ErrNotAnImage = errors.New("not an image")

func describe(mediaType, artifactType string) string {
	if artifactType != "" {
		return "an artifact of type " + artifactType
	}
	return "a " + mediaType
}

// scannersFor returns what to scan an image found in repo for: its
// rule's scanners (every scanner for a manual scan, or an image no rule
// covers).
func scannersFor(cfg scanrules.Config, repo string, manual bool) []string {
	if r := cfg.RuleFor(repo); r != nil && !manual {
		return r.ScannerNames()
	}
	return []string{"vuln", "secret", "config"}
}
