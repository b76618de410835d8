package vulndb_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
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
	cpu0 := cpuTime()
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
	// CPU time beside wall time: on a shared machine wall time also
	// measures the neighbours.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
