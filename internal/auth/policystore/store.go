package policystore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/moat-dev/moat/internal/auth/authschema"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/sqldb"
)

// Errors, classified with errors.Is.
var (
	// ErrNotFound: no such policy, or no such account to attach to.
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("policy already exists")
	// ErrInvalid: a target that does not fit the policy's kind. Malformed
	// documents return the parser's errors (policy.ErrInvalid).
	ErrInvalid = errors.New("invalid policy attachment")
)

// TargetType says what a policy is attached to.
type TargetType string

// The target types.
const (
	TargetUser       TargetType = "user"
	TargetGroup      TargetType = "group"
	TargetRobot      TargetType = "robot"
	TargetRepository TargetType = "repository"
	TargetListener   TargetType = "listener"
)

// Target is one attachment.
type Target struct {
	Type TargetType
	Name string
}

// Stored is a policy as kept.
type Stored struct {
	Name      string
	Kind      policy.Kind
	Document  string
	UpdatedAt time.Time
	Targets   []Target
}

// Store keeps policies in a database shared with the other stores; its
// caller closes the database.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
}

// New uses an open database and brings the access-control tables (see
// package authschema) up to date.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := authschema.Migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("policystore: %w", err)
	}
	return &Store{db: db, now: time.Now}, nil
}

var kindNames = map[policy.Kind]string{policy.Identity: "identity", policy.Resource: "resource", policy.Listener: "listener"}

func parseKind(k string) (policy.Kind, error) {
	for kind, name := range kindNames {
		if name == k {
			return kind, nil
		}
	}
	return 0, fmt.Errorf("unknown policy kind %q in the database", k)
}

// Put creates or replaces the named policy after validating the document.
// Replacing keeps attachments but may not change the kind.
func (s *Store) Put(ctx context.Context, name string, kind policy.Kind, doc []byte) error {
	if _, err := policy.Parse(kind, name, doc); err != nil {
		return err
	}
	if _, ok := kindNames[kind]; !ok {
		return fmt.Errorf("%w: kind %v", ErrInvalid, kind)
	}
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var old string
		err := tx.QueryRowContext(ctx, s.db.Q(`SELECT kind FROM auth_policies WHERE name = ?`+s.db.ForUpdate()), name).Scan(&old)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, s.db.Q(`INSERT INTO auth_policies (name, kind, document, updated_at) VALUES (?, ?, ?, ?)`),
				name, kindNames[kind], string(doc), s.now().UnixNano())
		case err != nil:
		case old != kindNames[kind]:
			return fmt.Errorf("%w: policy %q is a %s policy; delete it to make it a %s policy", ErrInvalid, name, old, kindNames[kind])
		default:
			_, err = tx.ExecContext(ctx, s.db.Q(`UPDATE auth_policies SET document = ?, updated_at = ? WHERE name = ?`), string(doc), s.now().UnixNano(), name)
		}
		if err != nil {
			return err
		}
		return authschema.BumpPolicyVersion(ctx, tx)
	})
	if err != nil && !errors.Is(err, ErrInvalid) {
		return fmt.Errorf("policystore: put %q: %w", name, err)
	}
	return err
}

// Delete removes a policy and its attachments.
func (s *Store) Delete(ctx context.Context, name string) error {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM auth_policies WHERE name = ?`), name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("policy %q: %w", name, ErrNotFound)
		}
		return authschema.BumpPolicyVersion(ctx, tx)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("policystore: delete %q: %w", name, err)
	}
	return err
}

func fits(kind string, t TargetType) bool {
	switch kind {
	case "identity":
		return t == TargetUser || t == TargetGroup || t == TargetRobot
	case "resource":
		return t == TargetRepository
	case "listener":
		return t == TargetListener
	}
	return false
}

// Attach attaches a policy to a target; attaching twice is a no-op. A
// user, group or robot must exist (ErrNotFound otherwise), checked in the
// attaching transaction, so an attachment never waits for an account to
// be created under that name. Repositories and listeners are not checked:
// a policy may be attached to a repository before its first push.
func (s *Store) Attach(ctx context.Context, name string, t Target) error {
	return s.changeTarget(ctx, name, t, true)
}

// Detach removes an attachment; a missing one is a no-op.
func (s *Store) Detach(ctx context.Context, name string, t Target) error {
	return s.changeTarget(ctx, name, t, false)
}

func (s *Store) changeTarget(ctx context.Context, name string, t Target, attach bool) error {
	if t.Name == "" {
		return fmt.Errorf("%w: empty target name", ErrInvalid)
	}
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var (
			id   int64
			kind string
		)
		err := tx.QueryRowContext(ctx, s.db.Q(`SELECT id, kind FROM auth_policies WHERE name = ?`), name).Scan(&id, &kind)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("policy %q: %w", name, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !fits(kind, t.Type) {
			return fmt.Errorf("%w: a %s policy cannot be attached to a %s", ErrInvalid, kind, t.Type)
		}
		if attach && kind == "identity" {
			ok, err := authschema.AccountExists(ctx, s.db, tx, authschema.AccountKind(t.Type), t.Name)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s %q: %w", t.Type, t.Name, ErrNotFound)
			}
		}
		if attach && t.Type == TargetListener {
			var other string
			err := tx.QueryRowContext(ctx, s.db.Q(`SELECT p.name FROM auth_policy_targets t JOIN auth_policies p ON p.id = t.policy_id
				WHERE t.target_type = ? AND t.target_name = ? AND t.policy_id <> ?`), string(TargetListener), t.Name, id).Scan(&other)
			if err == nil {
				return fmt.Errorf("%w: listener %q already has policy %q", ErrInvalid, t.Name, other)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		q := `INSERT INTO auth_policy_targets (policy_id, target_type, target_name) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`
		if !attach {
			q = `DELETE FROM auth_policy_targets WHERE policy_id = ? AND target_type = ? AND target_name = ?`
		}
		if _, err := tx.ExecContext(ctx, s.db.Q(q), id, string(t.Type), t.Name); err != nil {
			return err
		}
		return authschema.BumpPolicyVersion(ctx, tx)
	})
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalid) {
		return fmt.Errorf("policystore: attach %q: %w", name, err)
	}
	return err
}

// Version increases with every change.
func (s *Store) Version(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT version FROM auth_policy_version WHERE id = 1`).Scan(&v)
	})
	return v, err
}

// List returns every policy with its targets, by name, and the version
// they were read at.
func (s *Store) List(ctx context.Context) ([]Stored, int64, error) {
	var (
		out []Stored
		ver int64
	)
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		out = nil
		if err := tx.QueryRowContext(ctx, `SELECT version FROM auth_policy_version WHERE id = 1`).Scan(&ver); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT p.name, p.kind, p.document, p.updated_at, t.target_type, t.target_name
			FROM auth_policies p LEFT JOIN auth_policy_targets t ON t.policy_id = p.id
			ORDER BY p.name, t.target_type, t.target_name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				name, kind, doc string
				at              int64
				tt, tn          sql.NullString
			)
			if err := rows.Scan(&name, &kind, &doc, &at, &tt, &tn); err != nil {
				return err
			}
			if len(out) == 0 || out[len(out)-1].Name != name {
				k, err := parseKind(kind)
				if err != nil {
					return err
				}
				out = append(out, Stored{Name: name, Kind: k, Document: doc, UpdatedAt: time.Unix(0, at).UTC()})
			}
			if tt.Valid {
				last := &out[len(out)-1]
				last.Targets = append(last.Targets, Target{Type: TargetType(tt.String), Name: tn.String})
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("policystore: list: %w", err)
	}
	return out, ver, nil
}

// Load reads every policy and builds the Set to compile, with the
// version it reflects. A stored document that no longer parses fails the
// whole load, so callers keep their current engine rather than run with
// a policy silently missing.
func (s *Store) Load(ctx context.Context) (policy.Set, int64, error) {
	stored, ver, err := s.List(ctx)
	if err != nil {
		return policy.Set{}, 0, err
	}
	set := policy.Set{Repositories: map[string][]*policy.Policy{}, Listeners: map[string]*policy.Policy{}}
	for _, st := range stored {
		p, err := policy.Parse(st.Kind, st.Name, []byte(st.Document))
		if err != nil {
			return policy.Set{}, 0, fmt.Errorf("policystore: stored policy: %w", err)
		}
		var refs []policy.PrincipalRef
		for _, t := range st.Targets {
			switch t.Type {
			case TargetUser, TargetGroup, TargetRobot:
				refs = append(refs, policy.PrincipalRef{Type: policy.PrincipalType(t.Type), Name: t.Name})
			case TargetRepository:
				set.Repositories[t.Name] = append(set.Repositories[t.Name], p)
			case TargetListener:
				if prev := set.Listeners[t.Name]; prev != nil {
					return policy.Set{}, 0, fmt.Errorf("policystore: listener %q has two policies (%s, %s)", t.Name, prev.Name, p.Name)
				}
				set.Listeners[t.Name] = p
			}
		}
		if len(refs) > 0 {
			set.Identity = append(set.Identity, policy.Attachment{Policy: p, To: refs})
		}
	}
	for _, ps := range set.Repositories {
		sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	}
	return set, ver, nil
}
