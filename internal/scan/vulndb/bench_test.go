package vulndb_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// sharedData is the real-world data tree benchmarks measure against; set
// MOAT_BENCH_DATA to point elsewhere. Benchmarks only: tests use testdata/.
func sharedData(b *testing.B) string {
	d := os.Getenv("MOAT_BENCH_DATA")
	if d == "" {
		d = filepath.Join("..", "..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(filepath.Join(d, "advisories")); err != nil {
		b.Skipf("benchmark data not present at %s (set MOAT_BENCH_DATA)", d)
	}
	return d
}

// BenchmarkImportAll imports every advisory, KEV, EPSS and EOL file of the
// shared data tree into a fresh database.
func BenchmarkImportAll(b *testing.B) {
	data := sharedData(b)
	ctx := context.Background()
	for b.Loop() {
		dir := b.TempDir()
		batch := vulndb.NewBatch(time.Now)
		if err := batch.AddPath(ctx, data); err != nil {
			b.Fatal(err)
		}
		m, err := vulndb.Commit(ctx, dir, batch)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(m.Advisories), "advisories")
	}
}
