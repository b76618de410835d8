package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sign/keystore"
	"github.com/moat-dev/moat/internal/sign/truststore"
	"github.com/moat-dev/moat/internal/signing"
)

// Signing serves image signatures, the registry's signing keys and the
// trust material; *signing.Service is one.
type Signing interface {
	Signatures(ctx context.Context, repo, ref, policy string) (*signing.ImageSignatures, error)
	SigningKeys(ctx context.Context) ([]keystore.Key, error)
	RotateKey(ctx context.Context) (keystore.Key, error)
	TrustStores(ctx context.Context) ([]truststore.TrustStore, error)
	PutTrustStore(ctx context.Context, typ sign.StoreType, name string, content []byte) error
	DeleteTrustStore(ctx context.Context, typ sign.StoreType, name string) error
	TrustPolicies(ctx context.Context) ([]truststore.Policy, error)
	TrustPolicy(ctx context.Context, name string) (truststore.Policy, error)
	PutTrustPolicy(ctx context.Context, name string, doc []byte, by string) error
	DeleteTrustPolicy(ctx context.Context, name string) error
}

func (h *handler) signingRoutes() {
	read, write := policy.ActionSigningRead, policy.ActionAdminRegistry
	h.handle("GET /api/v1/signing/keys", op{read, h.listSigningKeys})
	h.handle("POST /api/v1/signing/keys/rotate", op{write, h.rotateSigningKey})
	h.handle("GET /api/v1/trust/stores", op{read, h.listTrustStores})
	h.handle("PUT /api/v1/trust/stores/{type}/{name}", op{write, h.putTrustStore})
	h.handle("DELETE /api/v1/trust/stores/{type}/{name}", op{write, h.deleteTrustStore})
	h.handle("GET /api/v1/trust/policies", op{read, h.listTrustPolicies})
	h.handle("GET /api/v1/trust/policies/{name}", op{read, h.getTrustPolicy})
	h.handle("PUT /api/v1/trust/policies/{name}", op{write, h.putTrustPolicy})
	h.handle("DELETE /api/v1/trust/policies/{name}", op{write, h.deleteTrustPolicy})
}

type signatureJSON struct {
	Format   string `json:"format"`
	Manifest string `json:"manifest"`
	KeyID    string `json:"keyId,omitempty"`
	Managed  bool   `json:"managed"`
	Signer   string `json:"signer,omitempty"`
	Verified bool   `json:"verified"`
	Error    string `json:"error,omitempty"`
}

type signaturesJSON struct {
	Repository  string          `json:"repository"`
	Digest      string          `json:"digest"`
	Status      string          `json:"status,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	KeyID       string          `json:"keyId,omitempty"`
	SignedAt    *time.Time      `json:"signedAt,omitempty"`
	TrustPolicy string          `json:"trustPolicy"`
	Statement   string          `json:"statement,omitempty"`
	Level       string          `json:"level,omitempty"`
	Trusted     bool            `json:"trusted"`
	Error       string          `json:"error,omitempty"`
	Signatures  []signatureJSON `json:"signatures"`
}

// signatures answers GET .../manifests/{ref}/signatures: the managed
// signing status and every signature with its verification. Whoever may
// pull the image may read them, as cosign or notation would fetch and
// verify them; signing:Read grants them without the image.
func (h *handler) signatures(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	if h.Authorizer.Authorize(r.Context(), policy.ActionPull, repo) != nil {
		if err := h.Authorizer.Authorize(r.Context(), policy.ActionSigningRead, repo); err != nil {
			return err
		}
	}
	is, err := h.Signing.Signatures(r.Context(), repo, ref, r.URL.Query().Get("trustPolicy"))
	if err != nil {
		return err
	}
	out := signaturesJSON{Repository: repo, Digest: is.Manifest.Digest.String(), TrustPolicy: is.TrustPolicy,
		Statement: is.Verdict.Statement, Level: is.Verdict.Level, Trusted: is.Verdict.Trusted, Signatures: []signatureJSON{}}
	if m := is.Managed; m != nil {
		out.Status, out.Reason, out.KeyID = m.Status, m.Reason, m.KeyID
		if !m.SignedAt.IsZero() {
			out.SignedAt = &m.SignedAt
		}
	}
	switch {
	case is.VerifyError != nil:
		out.Error = is.VerifyError.Error()
	case !is.Verdict.Trusted:
		out.Error = is.Verdict.Err().Error()
	}
	for _, res := range is.Verdict.Results {
		sj := signatureJSON{Format: string(res.Format), Manifest: res.Manifest.String(), KeyID: res.KeyID, Managed: res.KeyID != "",
			Signer: res.Signer, Verified: res.Err == nil}
		if res.Err != nil {
			sj.Error = res.Err.Error()
		}
		out.Signatures = append(out.Signatures, sj)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type keyJSON struct {
	ID          string     `json:"id"`
	Algorithm   string     `json:"algorithm"`
	Status      string     `json:"status"`
	Imported    bool       `json:"imported"`
	PublicKey   string     `json:"publicKey"`
	Certificate string     `json:"certificate"`
	Root        string     `json:"rootCertificate"`
	Subject     string     `json:"subject"`
	NotAfter    time.Time  `json:"notAfter"`
	CreatedAt   time.Time  `json:"createdAt"`
	RetiredAt   *time.Time `json:"retiredAt,omitempty"`
}

func keyOut(k keystore.Key) (keyJSON, error) {
	pub, err := keystore.PublicPEM(k.Public())
	if err != nil {
		return keyJSON{}, err
	}
	out := keyJSON{ID: k.ID, Algorithm: k.Algorithm, Status: k.Status, Imported: k.Imported, PublicKey: string(pub),
		Certificate: string(keystore.CertificatePEM(k.Chain[0])), Root: string(keystore.CertificatePEM(k.Root())),
		Subject: k.Chain[0].Subject.String(), NotAfter: k.Chain[0].NotAfter, CreatedAt: k.CreatedAt}
	if !k.RetiredAt.IsZero() {
		out.RetiredAt = &k.RetiredAt
	}
	return out, nil
}

func (h *handler) listSigningKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := h.Signing.SigningKeys(r.Context())
	if err != nil {
		return err
	}
	out := make([]keyJSON, 0, len(ks))
	for _, k := range ks {
		kj, err := keyOut(k)
		if err != nil {
			return err
		}
		out = append(out, kj)
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	return nil
}

func (h *handler) rotateSigningKey(w http.ResponseWriter, r *http.Request) error {
	k, err := h.Signing.RotateKey(r.Context())
	h.record(r.Context(), "signing:RotateKey", "registry", map[string]any{"key": k.ID}, err)
	if err != nil {
		return err
	}
	kj, err := keyOut(k)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, kj)
	return nil
}

type trustStoreJSON struct {
	Type      string     `json:"type"`
	Name      string     `json:"name"`
	Entries   int        `json:"entries"`
	BuiltIn   bool       `json:"builtIn"`
	Content   string     `json:"content"`
	UpdatedAt *time.Time `json:"updatedAt,omitempty"`
}

func (h *handler) listTrustStores(w http.ResponseWriter, r *http.Request) error {
	ss, err := h.Signing.TrustStores(r.Context())
	if err != nil {
		return err
	}
	out := make([]trustStoreJSON, len(ss))
	for i, s := range ss {
		out[i] = trustStoreJSON{Type: string(s.Type), Name: s.Name, Entries: s.Entries, BuiltIn: s.BuiltIn, Content: s.Content}
		if !s.UpdatedAt.IsZero() {
			out[i].UpdatedAt = &ss[i].UpdatedAt
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"stores": out})
	return nil
}

// putTrustStore takes the PEM certificates or public keys as the body.
func (h *handler) putTrustStore(w http.ResponseWriter, r *http.Request) error {
	typ, err := sign.ParseStoreType(r.PathValue("type"))
	if err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	name := r.PathValue("name")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("%w: body: %v", errBadRequest, err)
	}
	err = h.Signing.PutTrustStore(r.Context(), typ, name, body)
	h.record(r.Context(), "trust:PutStore", "truststore/"+string(typ)+":"+name, nil, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) deleteTrustStore(w http.ResponseWriter, r *http.Request) error {
	typ, err := sign.ParseStoreType(r.PathValue("type"))
	if err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	name := r.PathValue("name")
	err = h.Signing.DeleteTrustStore(r.Context(), typ, name)
	h.record(r.Context(), "trust:DeleteStore", "truststore/"+string(typ)+":"+name, nil, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type trustPolicyJSON struct {
	Name      string          `json:"name"`
	Document  json.RawMessage `json:"document"`
	BuiltIn   bool            `json:"builtIn"`
	UpdatedAt *time.Time      `json:"updatedAt,omitempty"`
	UpdatedBy string          `json:"updatedBy,omitempty"`
}

func trustPolicyOut(p truststore.Policy) trustPolicyJSON {
	out := trustPolicyJSON{Name: p.Name, Document: p.Document, BuiltIn: p.BuiltIn, UpdatedBy: p.UpdatedBy}
	if !p.UpdatedAt.IsZero() {
		out.UpdatedAt = &p.UpdatedAt
	}
	return out
}

func (h *handler) listTrustPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, err := h.Signing.TrustPolicies(r.Context())
	if err != nil {
		return err
	}
	out := make([]trustPolicyJSON, len(ps))
	for i, p := range ps {
		out[i] = trustPolicyOut(p)
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": out})
	return nil
}

func (h *handler) getTrustPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := h.Signing.TrustPolicy(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, trustPolicyOut(p))
	return nil
}

// putTrustPolicy takes the trustpolicy.json document as the body.
func (h *handler) putTrustPolicy(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("%w: body: %v", errBadRequest, err)
	}
	actor, _ := caller(r.Context())
	err = h.Signing.PutTrustPolicy(r.Context(), name, body, actor)
	h.record(r.Context(), "trust:PutPolicy", "trustpolicy/"+name, map[string]any{"document": rawOrString(body)}, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) deleteTrustPolicy(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	err := h.Signing.DeleteTrustPolicy(r.Context(), name)
	h.record(r.Context(), "trust:DeletePolicy", "trustpolicy/"+name, nil, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rawOrString keeps a body for the audit log as JSON when it is, else as
// text.
func rawOrString(b []byte) any {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}
