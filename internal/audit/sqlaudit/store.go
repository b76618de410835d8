package sqlaudit

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moataudt").
const migrationLockKey int64 = 0x6d6f617461756474

// Store implements audit.Store on a database its caller opened and
// closes (the one every store of the process shares).
type Store struct {
	db *sqldb.DB
}

var _ audit.Store = (*Store)(nil)

// New uses an open database and brings the audit tables up to date.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	if err := db.Migrate(ctx, migrations, "migrations", "audit_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("sqlaudit: %w", err)
	}
	err := db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, db.Q(`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?) ON CONFLICT (id) DO NOTHING`), audit.Genesis())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlaudit: create chain head: %w", err)
	}
	return &Store{db: db}, nil
}

// Append implements audit.Store.
func (s *Store) Append(ctx context.Context, build func(audit.Head) ([]audit.Record, error)) ([]audit.Record, error) {
	var recs []audit.Record
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var head audit.Head
		if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+s.db.ForUpdate()).Scan(&head.Seq, &head.Hash); err != nil {
			return fmt.Errorf("lock chain head: %w", err)
		}
		rs, err := build(head)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return nil
		}
		insert, err := tx.PrepareContext(ctx, s.db.Q(`INSERT INTO audit_log (seq, at, actor, action, resource, source_ip, result, details, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`))
		if err != nil {
			return fmt.Errorf("prepare insert: %w", err)
		}
		defer insert.Close()
		for i, r := range rs {
			if r.Seq != head.Seq+1+int64(i) {
				return fmt.Errorf("record %d does not follow %d", r.Seq, head.Seq+int64(i))
			}
			if _, err := insert.ExecContext(ctx, r.Seq, r.Time.UnixNano(), r.Actor, r.Action, r.Resource, r.SourceIP, r.Result, string(r.Details), r.PrevHash, r.Hash); err != nil {
				return fmt.Errorf("insert record %d: %w", r.Seq, err)
			}
		}
		last := rs[len(rs)-1]
		if _, err := tx.ExecContext(ctx, s.db.Q(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`), last.Seq, last.Hash); err != nil {
			return fmt.Errorf("move chain head: %w", err)
		}
		recs = rs
		return nil
	})
	return recs, err
}

// Head implements audit.Store.
func (s *Store) Head(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	})
	return h, err
}

const cols = `seq, at, actor, action, resource, source_ip, result, details, prev_hash, hash`

func (s *Store) query(ctx context.Context, q string, args ...any) ([]audit.Record, error) {
	var out []audit.Record
	err := s.db.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.db.Q(q), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				r       audit.Record
				at      int64
				details string
			)
			if err := rows.Scan(&r.Seq, &at, &r.Actor, &r.Action, &r.Resource, &r.SourceIP, &r.Result, &details, &r.PrevHash, &r.Hash); err != nil {
				return err
			}
			r.Time = fromNS(at)
			if details != "" {
				r.Details = []byte(details)
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// Scan implements audit.Store.
func (s *Store) Scan(ctx context.Context, after int64, limit int) ([]audit.Record, error) {
	return s.query(ctx, `SELECT `+cols+` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
}

// Query implements audit.Store.
func (s *Store) Query(ctx context.Context, f audit.Filter) ([]audit.Record, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Result != "" {
		add("result = ?", f.Result)
	}
	if f.ResourcePrefix != "" {
		// substr counts characters on both engines; LIKE would need
		// escaping and is case-insensitive on SQLite.
		add("substr(resource, 1, ?) = ?", utf8.RuneCountInString(f.ResourcePrefix), f.ResourcePrefix)
	}
	if !f.Since.IsZero() {
		add("at >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("at < ?", f.Until.UnixNano())
	}
	order := "ASC"
	if f.Descending {
		order = "DESC"
		if f.After > 0 {
			add("seq < ?", f.After)
		}
	} else if f.After > 0 {
		add("seq > ?", f.After)
	}
	q := `SELECT ` + cols + ` FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq " + order + " LIMIT ?"
	args = append(args, f.Limit)
	return s.query(ctx, q, args...)
}

func fromNS(v int64) time.Time { return time.Unix(0, v).UTC() }
