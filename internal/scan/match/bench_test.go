package match_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/match"
	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// BenchmarkMatch10k matches a 10,000-package inventory, every package one
// that has advisories, against all the OSV data of the shared data tree
// (MOAT_BENCH_DATA, default ../../../../shared/data). Each iteration opens
// the database cold, so decoding the records it needs is included.
func BenchmarkMatch10k(b *testing.B) {
	data := os.Getenv("MOAT_BENCH_DATA")
	if data == "" {
		data = filepath.Join("..", "..", "..", "..", "shared", "data")
	}
	if _, err := os.Stat(filepath.Join(data, "advisories")); err != nil {
		b.Skipf("benchmark data not present at %s (set MOAT_BENCH_DATA)", data)
	}
	ctx := context.Background()
	dir := b.TempDir()
	batch := vulndb.NewBatch(time.Now)
	if err := batch.AddPath(ctx, filepath.Join(data, "advisories")); err != nil {
		b.Fatal(err)
	}
	if _, err := vulndb.Commit(ctx, dir, batch); err != nil {
		b.Fatal(err)
	}
	db, err := vulndb.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	inv := &catalog.Inventory{Distro: &catalog.Distro{ID: "debian", VersionID: "12"}}
	versions := map[string][]string{
		"Debian:12": {"1.0-1", "2.36-9+deb12u3", "5.36.0-7+deb12u3"},
		"Go":        {"v0.0.0-20200202094626-16171245cfb2", "v1.2.3", "v0.3.5"},
		"PyPI":      {"1.0", "2.28.1", "0.9.post1"},
		"crates.io": {"0.1.0", "1.2.3", "0.9.9"},
	}
	var keys []vulndb.Key
	for _, k := range db.Keys() {
		eco := k.Ecosystem
		if strings.HasPrefix(eco, "Debian:") && eco != "Debian:12" {
			continue // one image has one release
		}
		if versions[eco] != nil {
			keys = append(keys, k)
		}
	}
	for i := 0; len(inv.Packages) < 10000; i++ {
		k := keys[i%len(keys)]
		v := versions[k.Ecosystem][(i/len(keys))%3]
		p := catalog.Package{Name: k.Name, Version: v, Layer: "sha256:l", Paths: []string{fmt.Sprint("/p/", i)}}
		switch k.Ecosystem {
		case "Debian:12":
			p.Ecosystem, p.Type = catalog.Debian, "deb"
		default:
			p.Ecosystem = catalog.Ecosystem(k.Ecosystem)
		}
		inv.Packages = append(inv.Packages, p)
	}
	b.Logf("%d distinct keys, %d advisories", len(keys), db.Meta().Advisories)
	b.ResetTimer()
	cpu0 := cpuTime()
	findings := 0
	for b.Loop() {
		db, err := vulndb.Open(dir)
		if err != nil {
			b.Fatal(err)
		}
		m, err := match.New(db)
		if err != nil {
			b.Fatal(err)
		}
		res, err := m.Match(ctx, inv)
		if err != nil {
			b.Fatal(err)
		}
		findings = len(res.Findings)
	}
	b.ReportMetric(float64(findings), "findings")
	// CPU time is reported beside wall time: on a shared machine wall time
	// also measures the neighbours.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
