package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken classifies every token that fails verification; the
// library's reason (jwt.ErrTokenExpired, jwt.ErrTokenSignatureInvalid,
// jwt.ErrTokenInvalidAudience...) is also in the chain.
var ErrInvalidToken = errors.New("invalid token")

// Access is one entry of a token's "access" claim.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Token uses, in the "moat_use" claim, so neither kind passes for the
// other.
const (
	useAccess  = "access"
	useRefresh = "refresh"
)

// Claims are a token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Access []Access `json:"access,omitempty"`
	Use    string   `json:"moat_use"`
	// Credential identifies what the token was issued from (a password
	// login, a robot secret, a personal access token) and AccountID the
	// account's immutable id, in access and refresh tokens alike: the
	// registry checks both on every use, so revoking the credential or
	// deleting (or re-creating) the account ends every token derived from
	// it. Tokens for a subject without them are refused; anonymous tokens
	// carry neither.
	Credential string `json:"moat_cred,omitempty"`
	AccountID  int64  `json:"moat_aid,omitempty"`
}

// Identity returns who the token was issued to and with what.
func (c *Claims) Identity() Identity {
	return Identity{Subject: c.Subject, Credential: c.Credential, AccountID: c.AccountID}
}

// Allows reports whether the access claim grants action on a resource;
// "*" grants every action.
func (c *Claims) Allows(typ, name, action string) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// Issuer signs and verifies tokens with one ES256 key.
type Issuer struct {
	key        *ecdsa.PrivateKey
	kid        string
	issuer     string
	now        func() time.Time
	accessTTL  time.Duration
	refreshTTL time.Duration
	leeway     time.Duration
}

// Option configures NewIssuer.
type Option func(*Issuer) error

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(i *Issuer) error {
		if now == nil {
			return errors.New("nil clock")
		}
		i.now = now
		return nil
	}
}

// WithAccessTTL sets access token lifetime. Default: 5 minutes; at least
// 60 seconds, the minimum the token spec lets clients assume.
func WithAccessTTL(d time.Duration) Option {
	return func(i *Issuer) error {
		if d < time.Minute {
			return fmt.Errorf("access token lifetime %v under one minute", d)
		}
		i.accessTTL = d
		return nil
	}
}

// WithRefreshTTL sets refresh token lifetime. Default: 24 hours.
func WithRefreshTTL(d time.Duration) Option {
	return func(i *Issuer) error {
		if d <= 0 {
			return fmt.Errorf("refresh token lifetime %v not positive", d)
		}
		i.refreshTTL = d
		return nil
	}
}

// WithLeeway sets the clock skew tolerated on exp, nbf and iat. Default:
// 30 seconds.
func WithLeeway(d time.Duration) Option {
	return func(i *Issuer) error {
		if d < 0 || d > 5*time.Minute {
			return fmt.Errorf("leeway %v outside 0..5m", d)
		}
		i.leeway = d
		return nil
	}
}

// NewIssuer returns an Issuer signing as issuer (the "iss" claim) with a
// P-256 key.
func NewIssuer(key *ecdsa.PrivateKey, issuer string, opts ...Option) (*Issuer, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, errors.New("token: issuer key must be an ECDSA P-256 key")
	}
	if issuer == "" {
		return nil, errors.New("token: empty issuer name")
	}
	kid, err := Thumbprint(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	i := &Issuer{key: key, kid: kid, issuer: issuer, now: time.Now,
		accessTTL: 5 * time.Minute, refreshTTL: 24 * time.Hour, leeway: 30 * time.Second}
	for _, o := range opts {
		if err := o(i); err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
	}
	return i, nil
}

// AccessTTL is the lifetime of issued access tokens.
func (i *Issuer) AccessTTL() time.Duration { return i.accessTTL }

// KeyID is the signing key's RFC 7638 thumbprint, the tokens' "kid".
func (i *Issuer) KeyID() string { return i.kid }

// IssueAccess signs an access token for id (the zero Identity for an
// anonymous caller), valid at the registry named audience, granting
// access.
func (i *Issuer) IssueAccess(id Identity, audience string, access []Access) (string, *Claims, error) {
	if err := id.check(); err != nil {
		return "", nil, err
	}
	if access == nil {
		access = []Access{}
	}
	return i.sign(&Claims{Access: access, Use: useAccess, Credential: id.Credential, AccountID: id.AccountID}, id.Subject, audience, i.accessTTL)
}

// IssueRefresh signs a refresh token bound to id and audience.
func (i *Issuer) IssueRefresh(id Identity, audience string) (string, *Claims, error) {
	if id.Subject == "" {
		return "", nil, errors.New("token: refresh token needs a subject")
	}
	if err := id.check(); err != nil {
		return "", nil, err
	}
	return i.sign(&Claims{Use: useRefresh, Credential: id.Credential, AccountID: id.AccountID}, id.Subject, audience, i.refreshTTL)
}

func (i *Issuer) sign(c *Claims, subject, audience string, ttl time.Duration) (string, *Claims, error) {
	if audience == "" {
		return "", nil, errors.New("token: empty audience")
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", nil, fmt.Errorf("token: %w", err)
	}
	now := i.now().Truncate(time.Second)
	c.RegisteredClaims = jwt.RegisteredClaims{
		Issuer:    i.issuer,
		Subject:   subject,
		Audience:  jwt.ClaimStrings{audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        hex.EncodeToString(jti[:]),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", nil, fmt.Errorf("token: sign: %w", err)
	}
	return s, c, nil
}

// VerifyAccess checks an access token for the registry named audience.
func (i *Issuer) VerifyAccess(token, audience string) (*Claims, error) {
	return i.verify(token, audience, useAccess)
}

// VerifyRefresh checks a refresh token for the registry named audience.
func (i *Issuer) VerifyRefresh(token, audience string) (*Claims, error) {
	return i.verify(token, audience, useRefresh)
}

// maxTokenLen bounds what is parsed; our tokens are a few KiB at most.
const maxTokenLen = 64 << 10

func (i *Issuer) verify(token, audience, use string) (*Claims, error) {
	if len(token) > maxTokenLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLen)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != i.kid {
			return nil, fmt.Errorf("unknown signing key %q", kid)
		}
		return &i.key.PublicKey, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(i.leeway),
		jwt.WithTimeFunc(i.now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Use != use {
		return nil, fmt.Errorf("%w: a %q token where a %q token is needed", ErrInvalidToken, c.Use, use)
	}
	if err := c.Identity().check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return &c, nil
}

// Thumbprint returns the RFC 7638 JWK thumbprint of a P-256 public key,
// base64url without padding.
func Thumbprint(pub *ecdsa.PublicKey) (string, error) {
	k, err := pub.ECDH()
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	b := k.Bytes() // 0x04 || X || Y
	if len(b) != 65 {
		return "", errors.New("public key: not an uncompressed P-256 point")
	}
	enc := base64.RawURLEncoding.EncodeToString
	// Members in lexicographic order, no whitespace, per RFC 7638.
	j, err := json.Marshal(struct {
		Crv string `json:"crv"`
		Kty string `json:"kty"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}{"P-256", "EC", enc(b[1:33]), enc(b[33:])})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(j)
	return enc(sum[:]), nil
}
