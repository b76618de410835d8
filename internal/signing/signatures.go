package signing

import (
	"context"
	"errors"

	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/sign"
)

// ImageSignatures is what an image's signatures API answers: the managed
// signing status, and every signature (the registry's and clients') with
// its verification under a trust policy.
type ImageSignatures struct {
	Repository string
	Manifest   *meta.Manifest
	// Managed is the registry's signing status; nil when the image was
	// never under a signing rule.
	Managed *Status
	// TrustPolicy is the policy verified against; Verdict the outcome,
	// or VerifyError why there is none.
	TrustPolicy string
	Verdict     sign.Verdict
	VerifyError error
}

// Signatures lists repo@ref's signatures, verified against the trust
// policy named policy: by default the one of the repository's signature
// gate, else the built-in "moat".
func (s *Service) Signatures(ctx context.Context, repo, ref, policy string) (*ImageSignatures, error) {
	m, err := s.Registry.StatManifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	if policy == "" {
		policy = s.PolicyFor(repo)
	}
	out := &ImageSignatures{Repository: repo, Manifest: m, TrustPolicy: policy}
	st, err := s.StatusOf(ctx, repo, m.Digest.String())
	switch {
	case err == nil:
		out.Managed = &st
	case !errors.Is(err, ErrNoStatus):
		return nil, err
	}
	out.Verdict, out.VerifyError = s.Verify(ctx, repo, m, policy)
	if out.VerifyError != nil && !errors.Is(out.VerifyError, sign.ErrNoPolicy) && !errors.Is(out.VerifyError, ErrNoTrustPolicy) {
		return nil, out.VerifyError
	}
	return out, nil
}
