package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the admin URL.
const EnvURL = "MOAT_TEST_POSTGRES_URL"

const hint = "set " + EnvURL + " to a PostgreSQL admin URL; start a throwaway server with: " +
	`export ` + EnvURL + `="$(scripts/postgres.sh start)"`

// AdminURL returns the admin URL from the environment. Without it the test
// is skipped, or fails when CI=true.
func AdminURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("PostgreSQL required in CI: " + hint)
		}
		tb.Skip("PostgreSQL not configured: " + hint)
	}
	return u
}

// Option configures NewDatabase.
type Option func(*config)

type config struct {
	icuLocale string
}

// WithICULocale creates the database with an ICU default collation such as
// "en-US" (PostgreSQL 15 or later built with ICU), to prove that code does
// not depend on the server's default byte-wise ordering. Default: the
// server's default locale.
func WithICULocale(locale string) Option {
	return func(c *config) { c.icuLocale = locale }
}

// NewDatabase creates an empty database for this test and returns its URL.
// The database is dropped (with FORCE, closing leftover connections) when
// the test and its subtests finish.
func NewDatabase(tb testing.TB, opts ...Option) string {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	admin := AdminURL(tb)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("pgtest: random name: %v", err)
	}
	name := "moat_test_" + hex.EncodeToString(b[:])

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("pgtest: connect to %s: %v (%s)", redact(admin), err, hint)
	}
	defer conn.Close(ctx)
	create := "CREATE DATABASE " + name
	if cfg.icuLocale != "" {
		create += " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE " + quote(cfg.icuLocale)
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("pgtest: connect to drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("pgtest: parse %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("<unparsable %s>", EnvURL)
	}
	return u.Redacted()
}

// quote renders a SQL string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
