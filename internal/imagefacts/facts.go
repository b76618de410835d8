// Package imagefacts answers, for one image in the registry, what the
// rules about images ask: is it signed by a trusted identity, scanned,
// what does it hold, how old is it, where does it run. Admission, the
// check API and (later) lifecycle rules read the same answer.
package imagefacts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/sign"
)

// Facts is what is known of one image (or index) in one repository.
type Facts struct {
	Host       string // the registry host the image was named by
	Repository string
	Digest     string
	MediaType  string
	Tags       []string // tags in Repository pointing at Digest
	Children   []string // an index's manifests

	// Signed: an identity the trust policy TrustPolicy trusts signed the
	// image, or an index holding it. Signers are the trusted signers.
	Signed      bool
	Signers     []string
	TrustPolicy string
	SignError   string // why it is not trusted, when not Signed

	// Scan is the scan status (PENDING, IN_PROGRESS, COMPLETE, FAILED,
	// UNSUPPORTED, or "" when never scanned); for an index, COMPLETE
	// only when every image in it is.
	Scan       findings.Status
	ScanReason string
	Findings   Findings
	EOL        bool // an end-of-life release is installed

	PushedAt time.Time
	PushedBy string

	// InUse counts the places the image runs; LastInUse is when one was
	// last seen.
	InUse     int
	LastInUse time.Time
}

// Findings summarises open findings. For an index the counts are the
// worst image's and IDs the union.
type Findings struct {
	Critical, High, Medium, Low, Unknown int
	KEV, Fixable                         int
	// IDs are the open vulnerabilities' IDs, most severe first.
	IDs []string
}

// AgeDays is the whole days since the push.
func (f Facts) AgeDays(now time.Time) int64 {
	if f.PushedAt.IsZero() {
		return 0
	}
	return int64(now.Sub(f.PushedAt) / (24 * time.Hour))
}

// Registry reads manifests; reading facts is not a pull, so it must not
// record one.
type Registry interface {
	StatManifest(ctx context.Context, repo, ref string) (*meta.Manifest, error)
}

// Scans reads scan results.
type Scans interface {
	Scan(ctx context.Context, digest string) (findings.Scan, error)
	Findings(ctx context.Context, digest string, q findings.Query) ([]findings.Finding, int64, error)
}

// Signatures verifies images.
type Signatures interface {
	VerifyImage(ctx context.Context, repo string, m *meta.Manifest, policy string) (sign.Verdict, error)
	PolicyFor(repo string) string
}

// Deps are a Source's collaborators. Tags lists the tags of repo that
// point at digest; Usage says where digest runs (nil: nowhere known).
type Deps struct {
	Registry   Registry
	Scans      Scans
	Signatures Signatures
	Tags       func(ctx context.Context, repo, digest string) ([]string, error)
	Usage      func(ctx context.Context, digest string) (count int, last time.Time, err error)
}

// Source gathers facts from the registry's stores.
type Source struct{ d Deps }

// New returns a Source.
func New(d Deps) (*Source, error) {
	if d.Registry == nil || d.Scans == nil || d.Signatures == nil || d.Tags == nil {
		return nil, errors.New("imagefacts: New needs a registry, scans, signatures and tags")
	}
	return &Source{d: d}, nil
}

// maxIDs bounds the finding IDs gathered per image.
const maxIDs = 5000

// Facts returns the facts of repo's manifest ref (a tag or a digest),
// verified against trustPolicy ("" for the repository's default). It
// fails with the registry's not-found errors for an unknown image, and
// with any error reading a fact: a rule is never judged on half the
// facts.
func (s *Source) Facts(ctx context.Context, repo, ref, trustPolicy string) (Facts, error) {
	m, err := s.d.Registry.StatManifest(ctx, repo, ref)
	if err != nil {
		return Facts{}, err
	}
	if trustPolicy == "" {
		trustPolicy = s.d.Signatures.PolicyFor(repo)
	}
	f := Facts{Repository: repo, Digest: m.Digest.String(), MediaType: m.MediaType, TrustPolicy: trustPolicy,
		PushedAt: m.PushedAt, PushedBy: m.PushedBy}
	if f.Tags, err = s.d.Tags(ctx, repo, f.Digest); err != nil {
		return Facts{}, fmt.Errorf("tags of %s@%s: %w", repo, f.Digest, err)
	}
	v, err := s.d.Signatures.VerifyImage(ctx, repo, m, trustPolicy)
	switch {
	case err == nil:
		f.Signed = v.Trusted
		for _, r := range v.Results {
			if r.Err == nil && r.Signer != "" && !slices.Contains(f.Signers, r.Signer) {
				f.Signers = append(f.Signers, r.Signer)
			}
		}
		if !v.Trusted {
			f.SignError = v.Err().Error()
		}
	case errors.Is(err, sign.ErrNoPolicy):
		// No statement of the policy covers the repository: not signed as
		// far as this policy can tell, which a rule can judge.
		f.SignError = err.Error()
	default:
		return Facts{}, fmt.Errorf("signatures of %s@%s: %w", repo, f.Digest, err)
	}
	images := []string{f.Digest}
	if isIndex(m.MediaType) {
		images = images[:0]
		for _, c := range m.Children {
			images = append(images, c.String())
		}
		f.Children = images
	}
	if err := s.scanFacts(ctx, &f, images); err != nil {
		return Facts{}, err
	}
	if s.d.Usage != nil {
		if f.InUse, f.LastInUse, err = s.d.Usage(ctx, f.Digest); err != nil {
			return Facts{}, fmt.Errorf("usage of %s: %w", f.Digest, err)
		}
	}
	return f, nil
}

// scanFacts fills f's scan facts from the images' scans.
func (s *Source) scanFacts(ctx context.Context, f *Facts, images []string) error {
	f.Scan = findings.Complete
	seen := map[string]bool{}
	for _, d := range images {
		sc, err := s.d.Scans.Scan(ctx, d)
		if errors.Is(err, findings.ErrNotFound) {
			sc.Status = ""
		} else if err != nil {
			return fmt.Errorf("scan of %s: %w", d, err)
		}
		if sc.Status != findings.Complete {
			if f.Scan == findings.Complete || rank(sc.Status) > rank(f.Scan) {
				f.Scan, f.ScanReason = sc.Status, sc.Reason
			}
			continue
		}
		sum := sc.Summary
		f.Findings.Critical = max(f.Findings.Critical, sum.Critical)
		f.Findings.High = max(f.Findings.High, sum.High)
		f.Findings.Medium = max(f.Findings.Medium, sum.Medium)
		f.Findings.Low = max(f.Findings.Low, sum.Low)
		f.Findings.Unknown = max(f.Findings.Unknown, sum.Unknown)
		f.Findings.KEV = max(f.Findings.KEV, sum.KEV)
		f.Findings.Fixable = max(f.Findings.Fixable, sum.Fixable)
		if err := s.findingIDs(ctx, f, d, seen); err != nil {
			return err
		}
	}
	if len(images) == 0 { // an empty index holds nothing to scan
		f.Scan = ""
	}
	return nil
}

// findingIDs adds d's open vulnerability IDs to f, and notes an
// end-of-life release.
func (s *Source) findingIDs(ctx context.Context, f *Facts, d string, seen map[string]bool) error {
	q := findings.Query{Kinds: []string{report.KindVulnerability, report.KindEndOfLife}, Limit: 1000}
	for {
		page, next, err := s.d.Scans.Findings(ctx, d, q)
		if err != nil {
			return fmt.Errorf("findings of %s: %w", d, err)
		}
		for _, fd := range page {
			if fd.Kind == report.KindEndOfLife {
				f.EOL = true
				continue
			}
			if !seen[fd.ID] && len(f.Findings.IDs) < maxIDs {
				seen[fd.ID] = true
				f.Findings.IDs = append(f.Findings.IDs, fd.ID)
			}
		}
		if next == 0 {
			return nil
		}
		q.After = next
	}
}

// rank orders the statuses that are not COMPLETE, the one a rule should
// hear about first ranked highest.
func rank(s findings.Status) int {
	switch s {
	case findings.Failed:
		return 5
	case findings.Unsupported:
		return 4
	case "":
		return 3
	case findings.Pending:
		return 2
	case findings.InProgress:
		return 1
	}
	return 0
}

const dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"

func isIndex(mediaType string) bool {
	return mediaType == v1.MediaTypeImageIndex || mediaType == dockerList
}
