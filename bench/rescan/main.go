// Command rescan measures continuous scanning: how long moat takes to
// re-match every stored image inventory after an advisory update, and to
// re-evaluate a small change (50 advisories) and emit its events.
//
// It stores N inventories derived from the real inventory of the app
// image (internal/scan/match/testdata/app-inventory.json), each with a
// share of its package versions varied, in a fresh database (SQLite, or
// PostgreSQL with -postgres), imports the advisories under -advisories,
// records every image's findings, then times through the scanning
// service itself:
//
//   - a full re-match of all N stored inventories (RescanStale after the
//     database version changes), beside the same inventories matched one
//     at a time without the shared cache, in the same process;
//   - a change withdrawing 50 advisories that the images hit: the
//     re-evaluation (Rescan) and the finding.resolved events it emits.
//
//	go run ./bench/rescan -images 10000 -advisories ../shared/data/advisories
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/scan"
	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/match"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/scanning"
	"github.com/moat-dev/moat/internal/sqldb"
)

func main() {
	var (
		images     = flag.Int("images", 10000, "stored image inventories")
		advisories = flag.String("advisories", "../shared/data/advisories", "advisory tree to import (OSV folders)")
		inventory  = flag.String("inventory", "internal/scan/match/testdata/app-inventory.json", "the real inventory the images are derived from")
		postgres   = flag.String("postgres", "", "a PostgreSQL URL of an empty database to use instead of SQLite")
		changed    = flag.Int("changed", 50, "advisories the small change withdraws")
		seed       = flag.Uint64("seed", 1, "seed of the version variations")
		profile    = flag.String("cpuprofile", "", "write a CPU profile of the small change's rescan to this file")
	)
	flag.Parse()
	ctx := context.Background()
	work, err := os.MkdirTemp("", "moat-bench-rescan-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	dsn := filepath.Join(work, "moat.db")
	engine := "sqlite"
	if *postgres != "" {
		dsn, engine = *postgres, "postgres"
	}
	db, err := sqldb.Open(ctx, dsn)
	check(err)
	defer db.Close()
	quiet := slog.New(slog.DiscardHandler)
	_, err = sqlstore.New(ctx, db) // the image_scans view reads its tables
	check(err)
	outbox, err := events.New(ctx, db, events.WithLogger(quiet))
	check(err)
	locate := func(context.Context, *sql.Tx, string) ([]findings.Location, error) {
		return []findings.Location{{Repository: "bench/app", Tags: []string{"v1"}}}, nil
	}
	store, err := findings.New(ctx, db, outbox, findings.WithLocator(locate))
	check(err)
	queue, err := jobs.New(ctx, db)
	check(err)

	// Advisories: v1 is the tree as it is.
	vdir := filepath.Join(work, "vulndb")
	start := time.Now()
	check(importTree(ctx, vdir, *advisories))
	live, err := vulndb.OpenLive(vdir)
	check(err)
	defer live.Close()
	v1db, release, err := live.Acquire()
	check(err)
	release()
	v1ver := v1db.Meta().Version
	log.Printf("advisories: %d records, %d keys (%s)", v1db.Meta().Advisories, v1db.Meta().Keys, time.Since(start).Round(time.Millisecond))

	sc, err := scan.New(scan.WithAdvisories(scan.LiveAdvisories(live)), scan.WithLogger(quiet))
	check(err)
	svc, err := scanning.New(ctx, scanning.Deps{DB: db, Queue: queue, Findings: store, Scanner: sc, Advisories: live,
		Registry: noRegistry{}, Locate: func(ctx context.Context, d string) ([]findings.Location, error) { return locate(ctx, nil, d) }},
		scanning.WithLogger(quiet))
	check(err)

	// The images: the real inventory with about a third of the versions
	// varied, a few packages dropped.
	base, err := readInventory(*inventory)
	check(err)
	rng := rand.New(rand.NewPCG(*seed, 0))
	invs := make([]*catalog.Inventory, *images)
	for i := range invs {
		invs[i] = vary(base, rng)
		invs[i].Image = digest.FromString(fmt.Sprint("bench image ", i)).String()
	}
	start = time.Now()
	seedStore(ctx, store, sc, v1db, invs, "seed")
	log.Printf("stored %d inventories on %s (%s)", len(invs), engine, time.Since(start).Round(time.Millisecond))

	// First match: every stored inventory gets its findings (all new).
	start = time.Now()
	st, err := svc.RescanStale(ctx)
	check(err)
	first := time.Since(start)
	if st.Images != len(invs) {
		log.Fatalf("first match visited %d of %d images", st.Images, len(invs))
	}
	findingsTotal := st.New

	// Full re-match: a new database version (the same advisories again,
	// as a daily feed refresh with unchanged records would be) leaves
	// every image stale; the findings mostly stand.
	check(importTree(ctx, vdir, *advisories))
	c, err := live.Refresh()
	check(err)
	v1ver = c.To.Meta().Version
	c.Release()
	start = time.Now()
	st, err = svc.RescanStale(ctx)
	check(err)
	full := time.Since(start)
	if st.Images != len(invs) {
		log.Fatalf("full re-match visited %d of %d images", st.Images, len(invs))
	}
	// The peer: the same inventories matched one at a time, no shared
	// cache, matching only (no database work).
	m, err := match.New(v1db)
	check(err)
	start = time.Now()
	for _, inv := range invs {
		_, err := m.Match(ctx, inv)
		check(err)
	}
	perImage := time.Since(start)

	// A small change: withdraw advisories the images hit.
	cursor, err := outbox.Head(ctx)
	check(err)
	ids := hitAdvisories(v1db, sc, base, *changed, rng)
	tree2 := filepath.Join(work, "tree-v2")
	check(copyWithdrawn(*advisories, tree2, ids))
	start = time.Now()
	check(importTree(ctx, vdir, tree2))
	importTook := time.Since(start)
	c, err = live.Refresh()
	check(err)
	d := vulndb.Diff(c.From, c.To)
	change := scanning.Change{From: v1ver, To: c.To.Meta().Version, Keys: d.Keys, Full: d.Context}
	c.Release()
	if *profile != "" {
		f, err := os.Create(*profile)
		check(err)
		check(pprof.StartCPUProfile(f))
	}
	start = time.Now()
	st2, err := svc.Rescan(ctx, change)
	pprof.StopCPUProfile()
	check(err)
	small := time.Since(start)
	evs := 0
	for {
		page, next, err := outbox.Read(ctx, cursor, 10000)
		check(err)
		evs += len(page)
		cursor = next
		if len(page) < 10000 {
			break
		}
	}

	fmt.Printf("\nrescan benchmark: %d images (%d packages each on average), %s, %d CPUs\n\n", len(invs), avgPackages(invs), engine, runtime.NumCPU())
	fmt.Printf("%-52s %12s %22s\n", "", "moat", "per-image match (peer)")
	fmt.Printf("%-52s %11.2fs %21.2fs\n", fmt.Sprintf("full re-match of %d stored inventories", len(invs)), full.Seconds(), perImage.Seconds())
	fmt.Printf("%-52s %12s %22s\n", "  includes", "match+diff+store", "matching only")
	fmt.Printf("%-52s %11.2fs\n", "first match (every finding new, with its event)", first.Seconds())
	fmt.Printf("%-52s %12d\n", "  findings recorded", findingsTotal)
	fmt.Printf("%-52s %11.3fs\n", fmt.Sprintf("change of %d advisories (%d keys) re-evaluated", len(ids), len(d.Keys)), small.Seconds())
	fmt.Printf("%-52s %12d\n", "  images re-matched", st2.Images)
	fmt.Printf("%-52s %12d\n", "  advanced without a re-match", st2.Advanced)
	fmt.Printf("%-52s %12d\n", "  findings resolved", st2.Resolved)
	fmt.Printf("%-52s %12d\n", "  events emitted (in the same transactions)", evs)
	fmt.Printf("%-52s %11.3fs\n", "  (moat db import of the change, for scale)", importTook.Seconds())
}

// seedStore records every inventory with its keys and no findings yet,
// as scans matched with version would have.
func seedStore(ctx context.Context, store *findings.Store, sc *scan.Scanner, db *vulndb.DB, invs []*catalog.Inventory, version string) {
	const batch = 500
	for start := 0; start < len(invs); start += batch {
		var rs []findings.Result
		for _, inv := range invs[start:min(start+batch, len(invs))] {
			keys, err := sc.Keys(db, inv)
			check(err)
			rs = append(rs, findings.Result{Digest: inv.Image, Inventory: inv, Keys: keys,
				Kinds: []string{report.KindVulnerability, report.KindEndOfLife}, VulnDBVersion: version, Rescan: true})
		}
		_, err := store.RecordAll(ctx, rs)
		check(err)
	}
}

var lastNumber = regexp.MustCompile(`(\d+)(\D*)$`)

// vary returns a copy of base as one image of a registry built on one
// base image: its OS packages always, each language component (Go, npm,
// Java, Python) with probability 0.4, about a third of the versions moved
// a few steps (the last number in the version), and one package in twenty
// dropped.
func vary(base *catalog.Inventory, rng *rand.Rand) *catalog.Inventory {
	inv := *base
	inv.Packages = nil
	keep := map[catalog.Ecosystem]bool{catalog.Debian: true}
	for _, e := range []catalog.Ecosystem{catalog.Go, catalog.Npm, catalog.Maven, catalog.PyPI} {
		keep[e] = rng.IntN(5) < 2
	}
	for _, p := range base.Packages {
		if !keep[p.Ecosystem] || rng.IntN(20) == 0 {
			continue
		}
		if rng.IntN(3) == 0 {
			p.Version = bump(p.Version, rng)
			if p.SourceVersion != "" {
				p.SourceVersion = bump(p.SourceVersion, rng)
			}
		}
		inv.Packages = append(inv.Packages, p)
	}
	return &inv
}

func bump(v string, rng *rand.Rand) string {
	m := lastNumber.FindStringSubmatchIndex(v)
	if m == nil {
		return v
	}
	n, _ := strconv.Atoi(v[m[2]:m[3]])
	n += rng.IntN(7) - 3
	if n < 0 {
		n = 0
	}
	return v[:m[2]] + strconv.Itoa(n) + v[m[3]:]
}

func avgPackages(invs []*catalog.Inventory) int {
	n := 0
	for _, inv := range invs {
		n += len(inv.Packages)
	}
	return n / max(len(invs), 1)
}

// hitAdvisories picks n advisory ids, at random, among those that judge
// packages of inv.
func hitAdvisories(db *vulndb.DB, sc *scan.Scanner, inv *catalog.Inventory, n int, rng *rand.Rand) map[string]bool {
	keys, err := sc.Keys(db, inv)
	check(err)
	var all []string
	for _, k := range keys {
		advs, err := db.Lookup(k.Ecosystem, k.Name)
		check(err)
		for _, a := range advs {
			all = append(all, a.ID)
		}
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	ids := map[string]bool{}
	for _, id := range all {
		if len(ids) == n {
			break
		}
		ids[id] = true
	}
	return ids
}

// copyWithdrawn copies the OSV JSON tree at src to dst, marking the
// records whose id is in ids withdrawn.
func copyWithdrawn(src, dst string, ids map[string]bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".json") {
			var rec map[string]any
			if json.Unmarshal(b, &rec) == nil {
				if id, _ := rec["id"].(string); ids[id] {
					rec["withdrawn"] = "2026-12-01T00:00:00Z"
					b, _ = json.Marshal(rec)
				}
			}
		}
		return os.WriteFile(out, b, 0o644)
	})
}

func importTree(ctx context.Context, dir, tree string) error {
	b := vulndb.NewBatch(time.Now)
	if err := b.AddPath(ctx, tree); err != nil {
		return err
	}
	_, err := vulndb.Commit(ctx, dir, b)
	return err
}

func readInventory(path string) (*catalog.Inventory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var inv catalog.Inventory
	return &inv, json.Unmarshal(b, &inv)
}

// noRegistry stands in for the registry, which re-matching never reads.
type noRegistry struct{}

func (noRegistry) GetManifest(context.Context, string, string) (*meta.Manifest, error) {
	return nil, meta.ErrNotFound
}

func (noRegistry) OpenBlob(context.Context, string, digest.Digest, int64) (io.ReadCloser, int64, error) {
	log.Fatal("a rescan read a blob")
	return nil, 0, nil
}

func (noRegistry) PutBlob(context.Context, string, digest.Digest, int64, io.Reader) (int64, error) {
	return 0, meta.ErrNotFound
}

func (noRegistry) PutManifest(context.Context, registry.PutManifestRequest) (*registry.PutManifestResult, error) {
	return nil, meta.ErrNotFound
}

func (noRegistry) Referrers(context.Context, string, digest.Digest, string) (*v1.Index, error) {
	return &v1.Index{}, nil
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
