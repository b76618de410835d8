package moatproc

import (
	"testing"

	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// OnEachDatabase runs f in a subtest per metadata database: "sqlite" (the
// embedded default) and "postgres", a fresh database of its own (see
// pgtest: skipped without MOAT_TEST_POSTGRES_URL, failed under CI=true).
// f passes db to Start.
func OnEachDatabase(t *testing.T, f func(t *testing.T, db Option)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, WithDatabase("")) })
	t.Run("postgres", func(t *testing.T) { f(t, WithDatabase(pgtest.NewDatabase(t))) })
}
