package scanning

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/sbom"
)

// Image is an image (or index) named in an API request, with what is
// known of its scan.
type Image struct {
	Repository string
	Digest     string
	MediaType  string
	// Scan is the image's scan state; zero (Status "") when it was never
	// scanned or queued. Unset for an index.
	Scan findings.Scan
	// Children are an index's images with their scans.
	Children []Child
}

// Child is one entry of an index.
type Child struct {
	Digest   string
	Platform *v1.Platform
	Scan     findings.Scan
}

// Lookup resolves repo@ref (a tag or digest) and returns its scan state;
// for an index, each child's.
func (s *Service) Lookup(ctx context.Context, repo, ref string) (*Image, error) {
	m, err := s.Registry.StatManifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	img := &Image{Repository: repo, Digest: m.Digest.String(), MediaType: m.MediaType}
	if !isIndex(m.MediaType) {
		img.Scan, err = s.scanOf(ctx, img.Digest)
		return img, err
	}
	var idx v1.Index
	if err := json.Unmarshal(m.Content, &idx); err != nil {
		return nil, fmt.Errorf("index %s: %w", m.Digest, err)
	}
	for _, c := range idx.Manifests {
		sc, err := s.scanOf(ctx, c.Digest.String())
		if err != nil {
			return nil, err
		}
		img.Children = append(img.Children, Child{Digest: c.Digest.String(), Platform: c.Platform, Scan: sc})
	}
	return img, nil
}

func (s *Service) scanOf(ctx context.Context, d string) (findings.Scan, error) {
	sc, err := s.Findings.Scan(ctx, d)
	if errors.Is(err, findings.ErrNotFound) {
		return findings.Scan{Digest: d}, nil
	}
	return sc, err
}

// ImageFindings lists an image's findings.
func (s *Service) ImageFindings(ctx context.Context, digest string, q findings.Query) ([]findings.Finding, int64, error) {
	return s.Findings.Findings(ctx, digest, q)
}

// Report writes the image's scan as the CycloneDX 1.6 document moat scan
// -f cyclonedx writes: the same open findings.
func (s *Service) Report(ctx context.Context, img *Image) ([]byte, error) {
	if img.Scan.Status != findings.Complete {
		return nil, fmt.Errorf("%w: %s (%s)", ErrNotScanned, img.Digest, statusText(img.Scan.Status))
	}
	rep := &report.Report{Target: img.Repository + "@" + img.Digest, Image: img.Digest, Created: img.Scan.ScannedAt,
		DB: report.DBInfo{Version: img.Scan.VulnDBVersion}}
	if inv, err := s.Findings.Inventory(ctx, img.Digest); err == nil {
		rep.Packages = len(inv.Packages)
		if inv.Distro != nil {
			rep.Distro = inv.Distro.PrettyName
		}
	}
	for after := int64(0); ; {
		page, next, err := s.Findings.Findings(ctx, img.Digest, findings.Query{Limit: 1000, After: after})
		if err != nil {
			return nil, err
		}
		for _, f := range page {
			rep.Findings = append(rep.Findings, f.Finding)
		}
		if next == 0 {
			break
		}
		after = next
	}
	var buf bytes.Buffer
	if err := report.WriteCycloneDX(&buf, rep); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SBOM writes the image's inventory in format (CycloneDX or SPDX).
func (s *Service) SBOM(ctx context.Context, img *Image, format sbom.Format) ([]byte, error) {
	inv, err := s.Findings.Inventory(ctx, img.Digest)
	if errors.Is(err, findings.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s has no inventory yet (%s)", ErrNotScanned, img.Digest, statusText(img.Scan.Status))
	}
	if err != nil {
		return nil, err
	}
	at := img.Scan.ScannedAt
	var buf bytes.Buffer
	err = sbom.Write(&buf, format, inv, sbom.WithSubject(img.Repository+"@"+img.Digest),
		sbom.WithClock(func() time.Time { return at }),
		sbom.WithID(func() string { return uuidFrom(img.Repository, img.Digest, at.String()) }))
	return buf.Bytes(), err
}

func statusText(st findings.Status) string {
	if st == "" {
		return "never scanned"
	}
	return string(st)
}
