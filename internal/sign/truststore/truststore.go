// Package truststore keeps what signature verification trusts in the
// metadata database: named trust stores (certificates for Notation's ca,
// signingAuthority and tsa kinds, public keys for cosign) and named trust
// policy documents, each a Notation trustpolicy.json accepted as written
// (its statements may also name cosign stores).
//
// Two entries are built in and read-only: the store "moat" of each kind,
// holding the registry's own CA certificates and signing keys (current
// and retired), and the policy "moat", which trusts them, strictly, for
// every repository.
package truststore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	"embed"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"

	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moattrst").
const migrationLockKey int64 = 0x6d6f617474727374

// Errors, classified with errors.Is.
var (
	ErrInvalid  = errors.New("trust: invalid")
	ErrNotFound = errors.New("trust: not found")
	// ErrBuiltIn: the built-in store or policy "moat" cannot be changed.
	ErrBuiltIn = errors.New("trust: built in")
)

// BuiltIn names the built-in store (of each kind) and policy.
const BuiltIn = "moat"

// BuiltInPolicy trusts the registry's own keys for every repository.
const BuiltInPolicy = `{"version":"1.0","trustPolicies":[{"name":"moat","registryScopes":["*"],` +
	`"signatureVerification":{"level":"strict"},"trustStores":["ca:moat","cosign:moat"],"trustedIdentities":["*"]}]}`

// maxContent bounds a store's PEM and a policy document.
const maxContent = 1 << 20

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Keys supplies the built-in "moat" stores: the registry's CA
// certificates and public keys.
type Keys func(ctx context.Context) (cas []*x509.Certificate, pubs []crypto.PublicKey, err error)

// Store keeps trust stores and policies.
type Store struct {
	db   *sqldb.DB
	keys Keys
	now  func() time.Time
}

// New brings the trust tables in db up to date; keys feeds the built-in
// stores.
func New(ctx context.Context, db *sqldb.DB, keys Keys) (*Store, error) {
	if db == nil || keys == nil {
		return nil, errors.New("truststore: New needs a database and the registry's keys")
	}
	if err := db.Migrate(ctx, migrations, "migrations", "trust_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("truststore: %w", err)
	}
	return &Store{db: db, keys: keys, now: time.Now}, nil
}

// TrustStore describes a stored trust store.
type TrustStore struct {
	Type      sign.StoreType
	Name      string
	Content   string // PEM
	Entries   int
	BuiltIn   bool
	UpdatedAt time.Time
}

// Policy describes a stored trust policy document.
type Policy struct {
	Name      string
	Document  json.RawMessage
	BuiltIn   bool
	UpdatedAt time.Time
	UpdatedBy string
}

// PutStore creates or replaces the trust store typ:name with the PEM
// certificates (ca, signingAuthority, tsa) or public keys (cosign) in
// content.
func (s *Store) PutStore(ctx context.Context, typ sign.StoreType, name string, content []byte) error {
	if _, err := sign.ParseStoreType(string(typ)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := parseStore(typ, name, content); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO trust_stores (type, name, content, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (type, name) DO UPDATE SET content = excluded.content, updated_at = excluded.updated_at`),
			string(typ), name, string(content), s.now().UnixNano())
		return err
	})
}

// DeleteStore removes the trust store typ:name.
func (s *Store) DeleteStore(ctx context.Context, typ sign.StoreType, name string) error {
	if name == BuiltIn {
		return fmt.Errorf("%w: the store %q holds the registry's keys", ErrBuiltIn, name)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM trust_stores WHERE type = ? AND name = ?`), string(typ), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: trust store %s:%s", ErrNotFound, typ, name)
		}
		return nil
	})
}

// Stores lists the trust stores, the built-in ones first.
func (s *Store) Stores(ctx context.Context) ([]TrustStore, error) {
	out, err := s.builtInStores(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT type, name, content, updated_at FROM trust_stores ORDER BY type, name`)
	if err != nil {
		return nil, fmt.Errorf("truststore: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ts      TrustStore
			typ     string
			updated int64
		)
		if err := rows.Scan(&typ, &ts.Name, &ts.Content, &updated); err != nil {
			return nil, fmt.Errorf("truststore: %w", err)
		}
		ts.Type, ts.UpdatedAt = sign.StoreType(typ), time.Unix(0, updated).UTC()
		if st, err := parseStore(ts.Type, ts.Name, []byte(ts.Content)); err == nil {
			ts.Entries = len(st.Certificates) + len(st.PublicKeys)
		}
		out = append(out, ts)
	}
	return out, rows.Err()
}

func (s *Store) builtInStores(ctx context.Context) ([]TrustStore, error) {
	cas, pubs, err := s.keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("truststore: registry keys: %w", err)
	}
	var certs, keys bytes.Buffer
	for _, c := range cas {
		pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	for _, k := range pubs {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, err
		}
		pem.Encode(&keys, &pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	return []TrustStore{
		{Type: sign.StoreCA, Name: BuiltIn, Content: certs.String(), Entries: len(cas), BuiltIn: true},
		{Type: sign.StoreCosign, Name: BuiltIn, Content: keys.String(), Entries: len(pubs), BuiltIn: true},
	}, nil
}

// PutPolicy creates or replaces the trust policy document name.
func (s *Store) PutPolicy(ctx context.Context, name string, doc []byte, by string) error {
	if name == BuiltIn {
		return fmt.Errorf("%w: the policy %q trusts the registry's keys", ErrBuiltIn, name)
	}
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := ParsePolicy(doc); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO trust_policies (name, document, updated_at, updated_by) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at, updated_by = excluded.updated_by`),
			name, string(doc), s.now().UnixNano(), by)
		return err
	})
}

// DeletePolicy removes the trust policy document name.
func (s *Store) DeletePolicy(ctx context.Context, name string) error {
	if name == BuiltIn {
		return fmt.Errorf("%w: the policy %q trusts the registry's keys", ErrBuiltIn, name)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM trust_policies WHERE name = ?`), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: trust policy %q", ErrNotFound, name)
		}
		return nil
	})
}

// Policies lists the trust policy documents, the built-in one first.
func (s *Store) Policies(ctx context.Context) ([]Policy, error) {
	out := []Policy{{Name: BuiltIn, Document: json.RawMessage(BuiltInPolicy), BuiltIn: true}}
	rows, err := s.db.R.QueryContext(ctx, `SELECT name, document, updated_at, updated_by FROM trust_policies ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("truststore: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			p       Policy
			doc     string
			updated int64
		)
		if err := rows.Scan(&p.Name, &doc, &updated, &p.UpdatedBy); err != nil {
			return nil, fmt.Errorf("truststore: %w", err)
		}
		p.Document, p.UpdatedAt = json.RawMessage(doc), time.Unix(0, updated).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// Policy returns the trust policy document name.
func (s *Store) Policy(ctx context.Context, name string) (Policy, error) {
	if name == BuiltIn {
		return Policy{Name: BuiltIn, Document: json.RawMessage(BuiltInPolicy), BuiltIn: true}, nil
	}
	var (
		p       = Policy{Name: name}
		doc     string
		updated int64
	)
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`SELECT document, updated_at, updated_by FROM trust_policies WHERE name = ?`), name).
		Scan(&doc, &updated, &p.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("%w: trust policy %q", ErrNotFound, name)
	}
	if err != nil {
		return p, fmt.Errorf("truststore: %w", err)
	}
	p.Document, p.UpdatedAt = json.RawMessage(doc), time.Unix(0, updated).UTC()
	return p, nil
}

// Trust returns the trust policy document name with every trust store,
// ready to verify with.
func (s *Store) Trust(ctx context.Context, name string) (*sign.Trust, error) {
	p, err := s.Policy(ctx, name)
	if err != nil {
		return nil, err
	}
	doc, err := ParsePolicy(p.Document)
	if err != nil {
		return nil, err
	}
	stores, err := s.Stores(ctx)
	if err != nil {
		return nil, err
	}
	t := &sign.Trust{Policy: doc}
	for _, ts := range stores {
		if ts.BuiltIn && ts.Entries == 0 {
			continue // no registry key yet
		}
		st, err := parseStore(ts.Type, ts.Name, []byte(ts.Content))
		if err != nil {
			return nil, fmt.Errorf("truststore: stored %s:%s: %w", ts.Type, ts.Name, err)
		}
		t.Stores = append(t.Stores, st)
	}
	return t, nil
}

// Generation changes whenever a trust store or policy does.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	var g int64
	err := s.db.R.QueryRowContext(ctx, `SELECT generation FROM trust_generation WHERE id = 1`).Scan(&g)
	return g, err
}

func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE trust_generation SET generation = generation + 1 WHERE id = 1`)
		return err
	})
}

// ParsePolicy reads and checks a trust policy document.
func ParsePolicy(doc []byte) (*trustpolicy.Document, error) {
	if len(doc) > maxContent {
		return nil, fmt.Errorf("%w: a trust policy of %d bytes (at most %d)", ErrInvalid, len(doc), maxContent)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	var p trustpolicy.Document
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: trust policy: %v", ErrInvalid, err)
	}
	if err := sign.ValidatePolicy(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &p, nil
}

func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w: name %q: letters, digits, '.', '_' and '-', at most 64", ErrInvalid, name)
	}
	if name == BuiltIn {
		return fmt.Errorf("%w: %q holds the registry's own keys", ErrBuiltIn, name)
	}
	return nil
}

// parseStore reads a store's PEM content: certificates for the Notation
// kinds, public keys (or certificates, whose keys are taken) for cosign.
func parseStore(typ sign.StoreType, name string, content []byte) (sign.Store, error) {
	st := sign.Store{Type: typ, Name: name}
	if len(content) > maxContent {
		return st, fmt.Errorf("%w: a trust store of %d bytes (at most %d)", ErrInvalid, len(content), maxContent)
	}
	rest := content
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return st, fmt.Errorf("%w: certificate: %v", ErrInvalid, err)
			}
			if typ == sign.StoreCosign {
				st.PublicKeys = append(st.PublicKeys, c.PublicKey)
			} else {
				st.Certificates = append(st.Certificates, c)
			}
		case block.Type == "PUBLIC KEY" && typ == sign.StoreCosign:
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return st, fmt.Errorf("%w: public key: %v", ErrInvalid, err)
			}
			st.PublicKeys = append(st.PublicKeys, k)
		default:
			return st, fmt.Errorf("%w: a PEM %q block in a %s trust store (want CERTIFICATE%s)", ErrInvalid, block.Type, typ,
				map[bool]string{true: " or PUBLIC KEY", false: ""}[typ == sign.StoreCosign])
		}
	}
	if len(st.Certificates)+len(st.PublicKeys) == 0 {
		return st, fmt.Errorf("%w: no PEM certificate or key in the %s trust store %q", ErrInvalid, typ, name)
	}
	return st, nil
}
