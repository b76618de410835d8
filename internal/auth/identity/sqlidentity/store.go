package sqlidentity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/moat-dev/moat/internal/auth/authschema"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/sqldb"
)

// Store implements identity.Store on a database shared with the other
// stores; its caller closes the database.
type Store struct {
	db *sqldb.DB
}

var _ identity.Store = (*Store)(nil)

// New uses an open database and brings the access-control tables (see
// package authschema) up to date.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := authschema.Migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("sqlidentity: %w", err)
	}
	return &Store{db: db}, nil
}

// Generation is the identity generation, raised by every change any
// process makes through a Store.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	return authschema.Generation(ctx, s.db)
}

func ns(t time.Time) int64 { return t.UnixNano() }

func nullNS(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNS(v int64) time.Time { return time.Unix(0, v).UTC() }

func fromNull(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromNS(v.Int64)
}

func notFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, identity.ErrNotFound)
}

// write runs fn in a write transaction that first bumps the identity
// generation: every change is seen by the processes polling it, and
// every writer locks auth_state first, so writers of the auth tables
// take their locks in one order (auth_state, then accounts, then
// attachments) and do not deadlock one another on PostgreSQL.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := authschema.BumpGeneration(ctx, tx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// insert runs an INSERT whose first column is id with an id from
// authschema.NextID (which also bumps the generation) and returns it.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	id, err := authschema.NextID(ctx, tx)
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, s.db.Q(query), append([]any{id}, args...)...)
	return id, err
}

func (s *Store) CreateUser(ctx context.Context, u identity.User) (identity.User, error) {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		id, err := s.insert(ctx, tx, `INSERT INTO auth_users (id, name, password_hash, disabled, created_at) VALUES (?, ?, ?, ?, ?)`,
			u.Name, u.PasswordHash, u.Disabled, ns(u.CreatedAt))
		u.ID = id
		return err
	})
	if sqldb.IsUniqueViolation(err) {
		return identity.User{}, fmt.Errorf("user %q: %w", u.Name, identity.ErrExists)
	}
	if err != nil {
		return identity.User{}, fmt.Errorf("create user %q: %w", u.Name, err)
	}
	return u, nil
}

const userCols = `id, name, password_hash, disabled, created_at`

func scanUser(row scanner) (identity.User, error) {
	var (
		u  identity.User
		at int64
	)
	err := row.Scan(&u.ID, &u.Name, &u.PasswordHash, &u.Disabled, &at)
	u.CreatedAt = fromNS(at)
	return u, err
}

func (s *Store) User(ctx context.Context, name string) (identity.User, error) {
	var u identity.User
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, s.db.Q(`SELECT `+userCols+` FROM auth_users WHERE name = ?`), name))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return identity.User{}, notFound("user", name)
	}
	if err != nil {
		return identity.User{}, fmt.Errorf("read user %q: %w", name, err)
	}
	return u, nil
}

// exec1 runs a change that must hit one row, then, in the same
// transaction, the follow-ups (may be nil).
func (s *Store) exec1(ctx context.Context, kind, name string, then func(*sql.Tx) error, query string, args ...any) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(query), args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return notFound(kind, name)
		}
		if then != nil {
			return then(tx)
		}
		return nil
	})
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("write %s %q: %w", kind, name, err)
	}
	return err
}

func (s *Store) UpdateUser(ctx context.Context, u identity.User) error {
	return s.exec1(ctx, "user", u.Name, nil, `UPDATE auth_users SET password_hash = ?, disabled = ? WHERE name = ?`, u.PasswordHash, u.Disabled, u.Name)
}

// DeleteUser deletes the user with its memberships and tokens (by
// cascade) and its policy attachments.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	return s.exec1(ctx, "user", name, s.detach(ctx, authschema.User, name), `DELETE FROM auth_users WHERE name = ?`, name)
}

func (s *Store) detach(ctx context.Context, kind authschema.AccountKind, name string) func(*sql.Tx) error {
	return func(tx *sql.Tx) error { return authschema.DeleteAttachments(ctx, s.db, tx, kind, name) }
}

func (s *Store) Users(ctx context.Context) ([]identity.User, error) {
	var out []identity.User
	err := s.db.Read(ctx, func(tx *sql.Tx) (err error) {
		out, err = collect(ctx, tx, scanUser, `SELECT `+userCols+` FROM auth_users ORDER BY name`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

func (s *Store) CreateGroup(ctx context.Context, name string) (identity.Group, error) {
	g := identity.Group{Name: name, CreatedAt: time.Now().UTC()}
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		id, err := s.insert(ctx, tx, `INSERT INTO auth_groups (id, name, created_at) VALUES (?, ?, ?)`, name, ns(g.CreatedAt))
		g.ID = id
		return err
	})
	if sqldb.IsUniqueViolation(err) {
		return identity.Group{}, fmt.Errorf("group %q: %w", name, identity.ErrExists)
	}
	if err != nil {
		return identity.Group{}, fmt.Errorf("create group %q: %w", name, err)
	}
	return g, nil
}

// DeleteGroup deletes the group with its memberships (by cascade) and
// its policy attachments.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	return s.exec1(ctx, "group", name, s.detach(ctx, authschema.Group, name), `DELETE FROM auth_groups WHERE name = ?`, name)
}

func (s *Store) Groups(ctx context.Context) ([]identity.Group, error) {
	var out []identity.Group
	err := s.db.Read(ctx, func(tx *sql.Tx) (err error) {
		out, err = collect(ctx, tx, scanGroup, `SELECT id, name, created_at FROM auth_groups ORDER BY name`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return out, nil
}

func (s *Store) idOf(ctx context.Context, tx *sql.Tx, table, kind, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, s.db.Q(`SELECT id FROM `+table+` WHERE name = ?`), name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, notFound(kind, name)
	}
	return id, err
}

func (s *Store) AddMember(ctx context.Context, group, user string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		gid, err := s.idOf(ctx, tx, "auth_groups", "group", group)
		if err != nil {
			return err
		}
		uid, err := s.idOf(ctx, tx, "auth_users", "user", user)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.db.Q(`INSERT INTO auth_group_members (group_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING`), gid, uid)
		return err
	})
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("add %q to group %q: %w", user, group, err)
	}
	return err
}

func (s *Store) RemoveMember(ctx context.Context, group, user string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM auth_group_members
			WHERE group_id = (SELECT id FROM auth_groups WHERE name = ?) AND user_id = (SELECT id FROM auth_users WHERE name = ?)`), group, user)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove %q from group %q: %w", user, group, err)
	}
	return nil
}

func (s *Store) names(ctx context.Context, query string, arg string) ([]string, error) {
	var out []string
	err := s.db.Read(ctx, func(tx *sql.Tx) (err error) {
		out, err = collect(ctx, tx, scanName, s.db.Q(query), arg)
		return err
	})
	return out, err
}

func (s *Store) GroupsOf(ctx context.Context, user string) ([]string, error) {
	out, err := s.names(ctx, `SELECT g.name FROM auth_groups g
		JOIN auth_group_members m ON m.group_id = g.id
		JOIN auth_users u ON u.id = m.user_id
		WHERE u.name = ? ORDER BY g.name`, user)
	if err != nil {
		return nil, fmt.Errorf("groups of %q: %w", user, err)
	}
	return out, nil
}

func (s *Store) Members(ctx context.Context, group string) ([]string, error) {
	var out []string
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		gid, err := s.idOf(ctx, tx, "auth_groups", "group", group)
		if err != nil {
			return err
		}
		out, err = collect(ctx, tx, scanName, s.db.Q(`SELECT u.name FROM auth_users u
			JOIN auth_group_members m ON m.user_id = u.id WHERE m.group_id = ? ORDER BY u.name`), gid)
		return err
	})
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return nil, fmt.Errorf("members of %q: %w", group, err)
	}
	return out, err
}

const robotCols = `id, name, description, secret_hash, expires_at, disabled, created_at`

func scanRobot(row scanner) (identity.Robot, error) {
	var (
		r   identity.Robot
		exp sql.NullInt64
		at  int64
	)
	err := row.Scan(&r.ID, &r.Name, &r.Description, &r.SecretHash, &exp, &r.Disabled, &at)
	r.ExpiresAt, r.CreatedAt = fromNull(exp), fromNS(at)
	return r, err
}

func (s *Store) CreateRobot(ctx context.Context, r identity.Robot) (identity.Robot, error) {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		id, err := s.insert(ctx, tx, `INSERT INTO auth_robots (id, name, description, secret_hash, expires_at, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			r.Name, r.Description, r.SecretHash, nullNS(r.ExpiresAt), r.Disabled, ns(r.CreatedAt))
		r.ID = id
		return err
	})
	if sqldb.IsUniqueViolation(err) {
		return identity.Robot{}, fmt.Errorf("robot %q: %w", r.Name, identity.ErrExists)
	}
	if err != nil {
		return identity.Robot{}, fmt.Errorf("create robot %q: %w", r.Name, err)
	}
	return r, nil
}

func (s *Store) Robot(ctx context.Context, name string) (identity.Robot, error) {
	var r identity.Robot
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		var err error
		r, err = scanRobot(tx.QueryRowContext(ctx, s.db.Q(`SELECT `+robotCols+` FROM auth_robots WHERE name = ?`), name))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return identity.Robot{}, notFound("robot", name)
	}
	if err != nil {
		return identity.Robot{}, fmt.Errorf("read robot %q: %w", name, err)
	}
	return r, nil
}

func (s *Store) UpdateRobot(ctx context.Context, r identity.Robot) error {
	return s.exec1(ctx, "robot", r.Name, nil, `UPDATE auth_robots SET description = ?, secret_hash = ?, expires_at = ?, disabled = ? WHERE name = ?`,
		r.Description, r.SecretHash, nullNS(r.ExpiresAt), r.Disabled, r.Name)
}

// DeleteRobot deletes the robot and its policy attachments.
func (s *Store) DeleteRobot(ctx context.Context, name string) error {
	return s.exec1(ctx, "robot", name, s.detach(ctx, authschema.Robot, name), `DELETE FROM auth_robots WHERE name = ?`, name)
}

func (s *Store) Robots(ctx context.Context) ([]identity.Robot, error) {
	var out []identity.Robot
	err := s.db.Read(ctx, func(tx *sql.Tx) (err error) {
		out, err = collect(ctx, tx, scanRobot, `SELECT `+robotCols+` FROM auth_robots ORDER BY name`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list robots: %w", err)
	}
	return out, nil
}

const tokenCols = `t.id, u.name, t.description, t.secret_hash, t.created_at, t.expires_at, t.revoked_at`

func scanToken(row scanner) (identity.AccessToken, error) {
	var (
		t            identity.AccessToken
		created, exp int64
		revoked      sql.NullInt64
	)
	err := row.Scan(&t.ID, &t.User, &t.Description, &t.SecretHash, &created, &exp, &revoked)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromNS(created), fromNS(exp), fromNull(revoked)
	return t, err
}

func (s *Store) CreateToken(ctx context.Context, t identity.AccessToken) (identity.AccessToken, error) {
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		uid, err := s.idOf(ctx, tx, "auth_users", "user", t.User)
		if err != nil {
			return err
		}
		t.ID, err = s.insert(ctx, tx, `INSERT INTO auth_tokens (id, user_id, description, secret_hash, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			uid, t.Description, t.SecretHash, ns(t.CreatedAt), ns(t.ExpiresAt), nullNS(t.RevokedAt))
		return err
	})
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return identity.AccessToken{}, fmt.Errorf("create token for %q: %w", t.User, err)
	}
	return t, err
}

func (s *Store) Token(ctx context.Context, id int64) (identity.AccessToken, error) {
	var t identity.AccessToken
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, s.db.Q(`SELECT `+tokenCols+` FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE t.id = ?`), id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return identity.AccessToken{}, notFound("token", fmt.Sprint(id))
	}
	if err != nil {
		return identity.AccessToken{}, fmt.Errorf("read token %d: %w", id, err)
	}
	return t, nil
}

func (s *Store) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, s.db.Q(`SELECT 1 FROM auth_tokens WHERE id = ?`), id).Scan(&exists); errors.Is(err, sql.ErrNoRows) {
			return notFound("token", fmt.Sprint(id))
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.db.Q(`UPDATE auth_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), ns(at), id)
		return err
	})
	if err != nil && !errors.Is(err, identity.ErrNotFound) {
		return fmt.Errorf("revoke token %d: %w", id, err)
	}
	return err
}

func (s *Store) Tokens(ctx context.Context, user string) ([]identity.AccessToken, error) {
	var out []identity.AccessToken
	err := s.db.Read(ctx, func(tx *sql.Tx) (err error) {
		out, err = collect(ctx, tx, scanToken, s.db.Q(`SELECT `+tokenCols+` FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE u.name = ? ORDER BY t.id DESC`), user)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens of %q: %w", user, err)
	}
	return out, nil
}

func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM auth_tokens WHERE expires_at < ?`), ns(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", err)
	}
	return int(n), nil
}

// scanner is what the scan functions need of *sql.Row and *sql.Rows.
type scanner interface{ Scan(...any) error }

// collect runs query in tx and scans every row with scan.
func collect[T any](ctx context.Context, tx *sql.Tx, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func scanGroup(row scanner) (identity.Group, error) {
	var (
		g  identity.Group
		at int64
	)
	if err := row.Scan(&g.ID, &g.Name, &at); err != nil {
		return g, err
	}
	g.CreatedAt = fromNS(at)
	return g, nil
}

func scanName(row scanner) (string, error) {
	var n string
	err := row.Scan(&n)
	return n, err
}
