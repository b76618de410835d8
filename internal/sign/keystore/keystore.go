// Package keystore keeps the registry's image signing keys in the shared
// metadata database, so every replica signs with the same key.
//
// On first use it makes a registry CA and, under it, a signing key
// (ECDSA P-256, or RSA-3072) whose certificate carries the code-signing
// usage Notation requires. Private keys are sealed with the master key
// (package kms). Rotation issues a new signing key under the same CA and
// retires the old one, which stays listed so that what it signed still
// verifies; an imported key brings its own certificate chain.
package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/moat-dev/moat/internal/kms"
	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// keysLockKey serialises changes of the active key ("moatkeys").
const keysLockKey int64 = 0x6d6f61746b657973

// migrationLockKey is the advisory lock held while migrating ("moatskey").
const migrationLockKey int64 = 0x6d6f6174736b6579

// Errors, classified with errors.Is.
var (
	// ErrInvalid: a key, certificate or argument cannot be used.
	ErrInvalid = errors.New("signing key invalid")
	// ErrNotFound: no such key.
	ErrNotFound = errors.New("signing key not found")
)

// Algorithms of the keys the registry makes.
const (
	ECDSAP256 = "ecdsa-p256"
	RSA3072   = "rsa-3072"
)

// Statuses.
const (
	Active  = "active"
	Retired = "retired"
)

// Key is a signing key's public side.
type Key struct {
	// ID is the SHA-256 of the public key's PKIX encoding, in hex.
	ID        string
	Algorithm string
	Status    string
	// Chain is the certificate chain, signing certificate first.
	Chain     []*x509.Certificate
	Imported  bool
	CreatedAt time.Time
	RetiredAt time.Time
}

// Public is the key's public key.
func (k Key) Public() crypto.PublicKey { return k.Chain[0].PublicKey }

// Root is the last certificate of the chain: what a Notation trust store
// holds.
func (k Key) Root() *x509.Certificate { return k.Chain[len(k.Chain)-1] }

// Store keeps the keys.
type Store struct {
	db   *sqldb.DB
	ring *kms.Keyring
	alg  string
	name string
	now  func() time.Time
}

// Option configures New.
type Option func(*Store) error

// WithAlgorithm sets the algorithm of keys the store makes: ECDSAP256
// (default) or RSA3072.
func WithAlgorithm(alg string) Option {
	return func(s *Store) error {
		if alg != ECDSAP256 && alg != RSA3072 {
			return fmt.Errorf("%w: algorithm %q: want %s or %s", ErrInvalid, alg, ECDSAP256, RSA3072)
		}
		s.alg = alg
		return nil
	}
}

// WithName sets the organization named in the certificates the store
// makes. Default "moat".
func WithName(name string) Option {
	return func(s *Store) error { s.name = name; return nil }
}

// WithClock sets the clock. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Store) error { s.now = now; return nil }
}

// New brings the key tables in db up to date.
func New(ctx context.Context, db *sqldb.DB, ring *kms.Keyring, opts ...Option) (*Store, error) {
	if db == nil || ring == nil {
		return nil, errors.New("keystore: New needs a database and a keyring")
	}
	s := &Store{db: db, ring: ring, alg: ECDSAP256, name: "moat", now: time.Now}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if err := db.Migrate(ctx, migrations, "migrations", "signing_key_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return s, nil
}

// Signer returns the active key, ready to sign, making the CA and the key
// on first use. Replicas starting together agree on one.
func (s *Store) Signer(ctx context.Context) (sign.Key, error) {
	k, sealed, err := s.active(ctx)
	if errors.Is(err, ErrNotFound) {
		werr := s.db.Write(ctx, func(tx *sql.Tx) error { return s.issueTx(ctx, tx, false) })
		// A replica making the key at the same moment wins the unique
		// index on the active key: then its key is the one.
		if k, sealed, err = s.active(ctx); err != nil && werr != nil {
			return sign.Key{}, fmt.Errorf("keystore: make the signing key: %w", werr)
		}
	}
	if err != nil {
		return sign.Key{}, err
	}
	priv, err := s.open(sealed, k.ID)
	if err != nil {
		return sign.Key{}, err
	}
	return sign.Key{ID: k.ID, Signer: priv, Chain: k.Chain}, nil
}

// Rotate retires the active key and issues a new one under the registry
// CA.
func (s *Store) Rotate(ctx context.Context) (Key, error) {
	if err := s.db.Write(ctx, func(tx *sql.Tx) error { return s.issueTx(ctx, tx, true) }); err != nil {
		return Key{}, fmt.Errorf("keystore: rotate: %w", err)
	}
	k, _, err := s.active(ctx)
	return k, err
}

// Import makes the key in keyPEM (PKCS#8, PKCS#1 or SEC 1) with the
// certificate chain in chainPEM (signing certificate first) the active
// key, retiring the current one. The chain must hold together, the
// certificate match the key and allow code signing, as Notation requires.
func (s *Store) Import(ctx context.Context, keyPEM, chainPEM []byte) (Key, error) {
	priv, err := parsePrivateKey(keyPEM)
	if err != nil {
		return Key{}, err
	}
	chain, err := parseChain(chainPEM)
	if err != nil {
		return Key{}, err
	}
	if err := checkChain(priv, chain, s.now()); err != nil {
		return Key{}, err
	}
	err = s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := s.db.LockTx(ctx, tx, keysLockKey); err != nil {
			return err
		}
		if err := s.retireTx(ctx, tx); err != nil {
			return err
		}
		return s.insertKeyTx(ctx, tx, "imported", priv, chain, true)
	})
	if err != nil {
		return Key{}, fmt.Errorf("keystore: import: %w", err)
	}
	k, _, err := s.active(ctx)
	return k, err
}

// Keys lists every key, the active one first, then the retired ones,
// newest first.
func (s *Store) Keys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, algorithm, status, chain, imported, created_at, retired_at FROM signing_keys
		ORDER BY status = 'active' DESC, created_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("keystore: list: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Key returns the key with id.
func (s *Store) Key(ctx context.Context, id string) (Key, error) {
	k, _, err := s.one(ctx, `WHERE id = ?`, id)
	return k, err
}

func (s *Store) active(ctx context.Context) (Key, []byte, error) {
	return s.one(ctx, `WHERE status = ?`, Active)
}

func (s *Store) one(ctx context.Context, where string, arg any) (Key, []byte, error) {
	var sealed []byte
	row := s.db.R.QueryRowContext(ctx, s.db.Q(`SELECT id, algorithm, status, chain, imported, created_at, retired_at, sealed_key FROM signing_keys `+where), arg)
	k, err := scanKey(row, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, nil, ErrNotFound
	}
	return k, sealed, err
}

type scanner interface{ Scan(...any) error }

func scanKey(r scanner, sealed *[]byte) (Key, error) {
	var (
		k       Key
		chain   string
		created int64
		retired sql.NullInt64
	)
	dest := []any{&k.ID, &k.Algorithm, &k.Status, &chain, &k.Imported, &created, &retired}
	if sealed != nil {
		dest = append(dest, sealed)
	}
	if err := r.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return k, err
		}
		return k, fmt.Errorf("keystore: read key: %w", err)
	}
	var err error
	if k.Chain, err = parseChain([]byte(chain)); err != nil {
		return k, fmt.Errorf("keystore: stored key %s: %w", k.ID, err)
	}
	k.CreatedAt = time.Unix(0, created).UTC()
	if retired.Valid {
		k.RetiredAt = time.Unix(0, retired.Int64).UTC()
	}
	return k, nil
}

// issueTx makes a signing key under the registry CA (making the CA when
// there is none). Unless rotate, it does nothing when a key is active.
func (s *Store) issueTx(ctx context.Context, tx *sql.Tx, rotate bool) error {
	// Replicas starting together must agree on one key.
	if err := s.db.LockTx(ctx, tx, keysLockKey); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.db.Q(`SELECT COUNT(*) FROM signing_keys WHERE status = ?`), Active).Scan(&n); err != nil {
		return err
	}
	if n > 0 && !rotate {
		return nil
	}
	caCert, caKey, err := s.caTx(ctx, tx)
	if err != nil {
		return err
	}
	priv, err := newKey(s.alg)
	if err != nil {
		return err
	}
	leaf, err := s.certificate(priv.Public(), caCert, caKey)
	if err != nil {
		return err
	}
	if err := s.retireTx(ctx, tx); err != nil {
		return err
	}
	return s.insertKeyTx(ctx, tx, s.alg, priv, []*x509.Certificate{leaf, caCert}, false)
}

func (s *Store) retireTx(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, s.db.Q(`UPDATE signing_keys SET status = ?, retired_at = ? WHERE status = ?`), Retired, s.now().UnixNano(), Active)
	return err
}

func (s *Store) insertKeyTx(ctx context.Context, tx *sql.Tx, alg string, priv crypto.Signer, chain []*x509.Certificate, imported bool) error {
	id, err := keyID(priv.Public())
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	sealed, err := s.ring.Seal(der, "signing-key/"+id)
	if err != nil {
		return err
	}
	var pemChain bytes.Buffer
	for _, c := range chain {
		pem.Encode(&pemChain, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	res, err := tx.ExecContext(ctx, s.db.Q(`
		INSERT INTO signing_keys (id, algorithm, status, chain, sealed_key, imported, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, retired_at = NULL`),
		id, alg, Active, pemChain.String(), sealed, imported, s.now().UnixNano())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("store key %s: %d rows", id, n)
	}
	return nil
}

// caTx returns the registry CA, making it when there is none.
func (s *Store) caTx(ctx context.Context, tx *sql.Tx) (*x509.Certificate, crypto.Signer, error) {
	var (
		certPEM string
		sealed  []byte
	)
	err := tx.QueryRowContext(ctx, `SELECT certificate, sealed_key FROM signing_ca WHERE id = 1`).Scan(&certPEM, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return s.newCATx(ctx, tx)
	}
	if err != nil {
		return nil, nil, err
	}
	certs, err := parseChain([]byte(certPEM))
	if err != nil {
		return nil, nil, fmt.Errorf("stored CA: %w", err)
	}
	key, err := s.open(sealed, "ca")
	if err != nil {
		return nil, nil, err
	}
	return certs[0], key, nil
}

func (s *Store) newCATx(ctx context.Context, tx *sql.Tx) (*x509.Certificate, crypto.Signer, error) {
	key, err := newKey(s.alg)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{s.name}, CommonName: s.name + " registry signing CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(30, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	sealed, err := s.ring.Seal(pkcs8, "signing-key/ca")
	if err != nil {
		return nil, nil, err
	}
	res, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO signing_ca (id, certificate, sealed_key, created_at) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`), string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), sealed, now.UnixNano())
	if err != nil {
		return nil, nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.caTx(ctx, tx) // another replica made one first
	}
	return cert, key, nil
}

// certificate issues a code-signing certificate for pub under the CA.
func (s *Store) certificate(pub crypto.PublicKey, ca *x509.Certificate, caKey crypto.Signer) (*x509.Certificate, error) {
	now := s.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{s.name}, CommonName: s.name + " registry signing"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// open unseals the private key stored for purpose.
func (s *Store) open(sealed []byte, id string) (crypto.Signer, error) {
	der, err := s.ring.Open(sealed, "signing-key/"+id)
	if err != nil {
		return nil, fmt.Errorf("keystore: key %s: %w", id, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keystore: key %s: %w", id, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keystore: key %s cannot sign", id)
	}
	return signer, nil
}

func newKey(alg string) (crypto.Signer, error) {
	if alg == RSA3072 {
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// keyID is the hex SHA-256 of pub's PKIX encoding.
func keyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

func parsePrivateKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%w: the key is not PEM", ErrInvalid)
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%w: a PEM %q block is not a private key (encrypted keys must be decrypted first)", ErrInvalid, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return nil, fmt.Errorf("%w: ECDSA keys must be on P-256, P-384 or P-521", ErrInvalid)
		}
		return k, nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("%w: RSA keys must have at least 2048 bits", ErrInvalid)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: only ECDSA and RSA keys sign Notation signatures", ErrInvalid)
}

func parseChain(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no PEM certificate", ErrInvalid)
	}
	return out, nil
}

// checkChain checks what Notation will: the signing certificate holds
// priv's public key, allows digital signatures and code signing, and
// each certificate is signed by the next, within its validity.
func checkChain(priv crypto.Signer, chain []*x509.Certificate, now time.Time) error {
	leaf := chain[0]
	if !publicEqual(leaf.PublicKey, priv.Public()) {
		return fmt.Errorf("%w: the certificate is not the key's", ErrInvalid)
	}
	if leaf.IsCA {
		return fmt.Errorf("%w: the signing certificate is a CA certificate", ErrInvalid)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: the signing certificate lacks the digitalSignature key usage", ErrInvalid)
	}
	codeSigning := false
	for _, u := range leaf.ExtKeyUsage {
		codeSigning = codeSigning || u == x509.ExtKeyUsageCodeSigning
	}
	if !codeSigning {
		return fmt.Errorf("%w: the signing certificate lacks the codeSigning extended key usage", ErrInvalid)
	}
	for i, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return fmt.Errorf("%w: certificate %d (%s) is not valid now", ErrInvalid, i, c.Subject)
		}
		if i+1 < len(chain) {
			if err := c.CheckSignatureFrom(chain[i+1]); err != nil {
				return fmt.Errorf("%w: certificate %d is not signed by certificate %d: %v", ErrInvalid, i, i+1, err)
			}
		}
	}
	root := chain[len(chain)-1]
	if len(chain) > 1 && root.CheckSignatureFrom(root) != nil {
		return fmt.Errorf("%w: the chain must end with its root (self-signed) certificate", ErrInvalid)
	}
	return nil
}

func publicEqual(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}

// PublicPEM encodes a public key as PEM ("PUBLIC KEY"), the form
// `cosign verify --key` reads.
func PublicPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// CertificatePEM encodes a certificate as PEM.
func CertificatePEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Generation changes whenever a key is made, rotated, imported or
// retired.
func (s *Store) Generation(ctx context.Context) (string, error) {
	var n, created, retired int64
	err := s.db.R.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(created_at), 0), COALESCE(MAX(retired_at), 0) FROM signing_keys`).
		Scan(&n, &created, &retired)
	return fmt.Sprint(n, "-", created, "-", retired), err
}

// Trusted returns what the built-in trust stores hold: the root
// certificate of every key's chain (the registry CA, and imported roots)
// and every public key, current and retired.
func (s *Store) Trusted(ctx context.Context) ([]*x509.Certificate, []crypto.PublicKey, error) {
	ks, err := s.Keys(ctx)
	if err != nil {
		return nil, nil, err
	}
	var (
		roots []*x509.Certificate
		pubs  []crypto.PublicKey
	)
	for _, k := range ks {
		pubs = append(pubs, k.Public())
		seen := false
		for _, r := range roots {
			seen = seen || r.Equal(k.Root())
		}
		if !seen {
			roots = append(roots, k.Root())
		}
	}
	return roots, pubs, nil
}
