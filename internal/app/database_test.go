package app

import (
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

// database.maxConns sizes the pool serve and the admin commands open;
// unset, sqldb's defaults stay: 4 read connections on SQLite, 10
// connections on PostgreSQL.
func TestOpenDatabasePoolSize(t *testing.T) {
	engines := []struct {
		name string
		dsn  func(t *testing.T) string
		def  int
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "moat.db") }, 4},
		{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }, 10},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			dsn := e.dsn(t)
			for _, tc := range []struct{ maxConns, want int }{{0, e.def}, {7, 7}} {
				cfg := config.Default()
				cfg.Database.DSN = dsn
				cfg.Database.MaxConns = tc.maxConns
				db, err := OpenDatabase(t.Context(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				// R is the read pool on SQLite, the one pool on PostgreSQL.
				if got := db.R.Stats().MaxOpenConnections; got != tc.want {
					t.Errorf("maxConns %d: pool of %d connections, want %d", tc.maxConns, got, tc.want)
				}
				db.Close()
			}
		})
	}
}
