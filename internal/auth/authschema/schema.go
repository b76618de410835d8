package authschema

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed identity/*.sql policy/*.sql
var migrations embed.FS

// Advisory locks held while migrating each set ("moatauth", "moatpoli").
// They predate this package; changing them would let an old and a new
// binary migrate at once.
const (
	identityLockKey int64 = 0x6d6f617461757468
	policyLockKey   int64 = 0x6d6f6174706f6c69
)

// Migrate brings both migration sets up to date, the identity set first.
// An up-to-date schema costs two small queries.
func Migrate(ctx context.Context, db *sqldb.DB) error {
	if err := db.Migrate(ctx, migrations, "identity", "auth_identity_migrations", identityLockKey); err != nil {
		return fmt.Errorf("auth schema: %w", err)
	}
	if err := db.Migrate(ctx, migrations, "policy", "auth_policy_migrations", policyLockKey); err != nil {
		return fmt.Errorf("auth schema: %w", err)
	}
	return nil
}

// AccountKind is a kind of account a policy can be attached to, spelled
// as attachments store it.
type AccountKind string

// The account kinds.
const (
	User  AccountKind = "user"
	Group AccountKind = "group"
	Robot AccountKind = "robot"
)

var accountTables = map[AccountKind]string{User: "auth_users", Group: "auth_groups", Robot: "auth_robots"}

// BumpGeneration raises the identity generation; call it in the
// transaction of every identity change, before touching other rows, so
// that writers lock auth_state first and take their locks in one order.
func BumpGeneration(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE auth_state SET generation = generation + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("bump auth generation: %w", err)
	}
	return nil
}

// NextID hands out a new account or token id, never one given before,
// and raises the generation (a creation is a change too). Like
// BumpGeneration, call it before touching other rows.
func NextID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `UPDATE auth_state SET last_id = last_id + 1, generation = generation + 1 WHERE id = 1 RETURNING last_id`).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("next auth id: %w", err)
	}
	return id, nil
}

// Generation reads the identity generation.
func Generation(ctx context.Context, db *sqldb.DB) (int64, error) {
	var g int64
	err := db.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT generation FROM auth_state WHERE id = 1`).Scan(&g)
	})
	if err != nil {
		return 0, fmt.Errorf("read auth generation: %w", err)
	}
	return g, nil
}

// AccountExists reports whether the named account of kind exists, read in
// tx so that an attachment and the account's deletion cannot interleave.
func AccountExists(ctx context.Context, db *sqldb.DB, tx *sql.Tx, kind AccountKind, name string) (bool, error) {
	table, ok := accountTables[kind]
	if !ok {
		return false, fmt.Errorf("unknown account kind %q", kind)
	}
	var one int
	err := tx.QueryRowContext(ctx, db.Q(`SELECT 1 FROM `+table+` WHERE name = ?`+db.ForUpdate()), name).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up %s %q: %w", kind, name, err)
	}
	return true, nil
}

// DeleteAttachments removes every policy attachment naming the account
// and, if there were any, bumps the policy version so that every process
// recompiles without them. Call it in the transaction deleting the
// account.
func DeleteAttachments(ctx context.Context, db *sqldb.DB, tx *sql.Tx, kind AccountKind, name string) error {
	res, err := tx.ExecContext(ctx, db.Q(`DELETE FROM auth_policy_targets WHERE target_type = ? AND target_name = ?`), string(kind), name)
	if err != nil {
		return fmt.Errorf("delete policy attachments of %s %q: %w", kind, name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return BumpPolicyVersion(ctx, tx)
}

// BumpPolicyVersion raises the policy version; call it in the transaction
// of every change to policies or attachments.
func BumpPolicyVersion(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `UPDATE auth_policy_version SET version = version + 1 WHERE id = 1`); err != nil {
		return fmt.Errorf("bump policy version: %w", err)
	}
	return nil
}
