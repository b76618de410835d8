package admission

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moatadmr").
const migrationLockKey int64 = 0x6d6f617461646d72

// maxRules bounds the rules managed through the API.
const maxRules = 200

// RuleStore keeps the rules managed through the API.
type RuleStore struct{ db *sqldb.DB }

// NewRuleStore returns the store, bringing its table up to date.
func NewRuleStore(ctx context.Context, db *sqldb.DB) (*RuleStore, error) {
	if err := db.Migrate(ctx, migrations, "migrations", "admission_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("admission: %w", err)
	}
	return &RuleStore{db: db}, nil
}

// Load returns the stored rules and their generation (0 when none were
// ever stored).
func (s *RuleStore) Load(ctx context.Context) ([]config.AdmissionRule, int64, error) {
	var (
		doc string
		gen int64
	)
	err := s.db.R.QueryRowContext(ctx, `SELECT rules, generation FROM admission_rules WHERE id = 1`).Scan(&doc, &gen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("admission: load rules: %w", err)
	}
	var rules []config.AdmissionRule
	if err := json.Unmarshal([]byte(doc), &rules); err != nil {
		return nil, 0, fmt.Errorf("admission: stored rules: %w", err)
	}
	return rules, gen, nil
}

// Generation returns the stored rules' generation.
func (s *RuleStore) Generation(ctx context.Context) (int64, error) {
	var gen int64
	err := s.db.R.QueryRowContext(ctx, `SELECT generation FROM admission_rules WHERE id = 1`).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return gen, err
}

// Save replaces the stored rules; the caller has compiled them.
func (s *RuleStore) Save(ctx context.Context, rules []config.AdmissionRule, by string, now time.Time) error {
	if len(rules) > maxRules {
		return fmt.Errorf("%w: %d rules; at most %d", config.ErrInvalid, len(rules), maxRules)
	}
	if rules == nil {
		rules = []config.AdmissionRule{}
	}
	doc, err := json.Marshal(rules)
	if err != nil {
		return err
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Q(`
			INSERT INTO admission_rules (id, rules, generation, updated_by, updated_at) VALUES (1, ?, 1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET rules = excluded.rules, generation = admission_rules.generation + 1,
				updated_by = excluded.updated_by, updated_at = excluded.updated_at`), string(doc), by, now.UnixNano())
		return err
	})
}
