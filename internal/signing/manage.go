package signing

import (
	"context"

	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sign/keystore"
	"github.com/moat-dev/moat/internal/sign/truststore"
)

// The keys and the trust material, for the management API and the CLI.
// Changes drop this process's cached verdicts at once; other replicas
// notice within a second (Run).

// SigningKeys lists the registry's signing keys, the active one first.
func (s *Service) SigningKeys(ctx context.Context) ([]keystore.Key, error) { return s.Keys.Keys(ctx) }

// RotateKey retires the active key and makes a new one.
func (s *Service) RotateKey(ctx context.Context) (keystore.Key, error) {
	k, err := s.Keys.Rotate(ctx)
	s.TrustChanged(ctx)
	return k, err
}

// TrustStores lists the trust stores, the built-in ones first.
func (s *Service) TrustStores(ctx context.Context) ([]truststore.TrustStore, error) {
	return s.Trust.Stores(ctx)
}

// PutTrustStore creates or replaces a trust store.
func (s *Service) PutTrustStore(ctx context.Context, typ sign.StoreType, name string, content []byte) error {
	defer s.TrustChanged(ctx)
	return s.Trust.PutStore(ctx, typ, name, content)
}

// DeleteTrustStore removes a trust store.
func (s *Service) DeleteTrustStore(ctx context.Context, typ sign.StoreType, name string) error {
	defer s.TrustChanged(ctx)
	return s.Trust.DeleteStore(ctx, typ, name)
}

// TrustPolicies lists the trust policy documents, the built-in one first.
func (s *Service) TrustPolicies(ctx context.Context) ([]truststore.Policy, error) {
	return s.Trust.Policies(ctx)
}

// TrustPolicy returns one trust policy document.
func (s *Service) TrustPolicy(ctx context.Context, name string) (truststore.Policy, error) {
	return s.Trust.Policy(ctx, name)
}

// PutTrustPolicy creates or replaces a trust policy document.
func (s *Service) PutTrustPolicy(ctx context.Context, name string, doc []byte, by string) error {
	defer s.TrustChanged(ctx)
	return s.Trust.PutPolicy(ctx, name, doc, by)
}

// DeleteTrustPolicy removes a trust policy document.
func (s *Service) DeleteTrustPolicy(ctx context.Context, name string) error {
	defer s.TrustChanged(ctx)
	return s.Trust.DeletePolicy(ctx, name)
}
