package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// ErrSchemaTooNew: the database was migrated by a newer moat than this
// one. Opening it could corrupt data the newer schema relies on.
var ErrSchemaTooNew = errors.New("sqlstore: database schema is newer than this binary")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered file, migrations/NNNN_name.sql.
type migration struct {
	version int64
	name    string
	sql     string
}

// migrationLockKey is the PostgreSQL advisory lock key taken while
// migrating ("moatmeta" in ASCII), so replicas starting together apply
// each migration once.
const migrationLockKey int64 = 0x6d6f61746d657461

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != int64(i+1) {
			return nil, fmt.Errorf("migrations not numbered 1..n: found %d at position %d", m.version, i+1)
		}
	}
	return ms, nil
}

// migrate applies pending migrations of ms. The common case, an
// up-to-date schema, costs one small query and takes no lock.
func (s *Store) migrate(ctx context.Context, ms []migration) error {
	latest := ms[len(ms)-1].version
	var current int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current)
	if err == nil && current == latest {
		return nil
	}
	// Missing table (fresh database), pending or too new migrations: decide
	// under the lock, where the answer cannot change.
	err = s.write(ctx, func(tx *sql.Tx) error {
		if s.d.name == "postgres" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > latest {
			return fmt.Errorf("database at version %d, this binary knows up to %d: %w", current, latest, ErrSchemaTooNew)
		}
		for _, m := range ms[current:] {
			if _, err := tx.ExecContext(ctx, s.d.ddl.Replace(m.sql)); err != nil {
				return fmt.Errorf("apply migration %04d_%s: %w", m.version, m.name, err)
			}
			if _, err := tx.ExecContext(ctx, s.d.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, s.nowNS()); err != nil {
				return fmt.Errorf("record migration %04d_%s: %w", m.version, m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: migrate %s database: %w", s.d.name, err)
	}
	return nil
}
