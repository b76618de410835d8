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
//
//   - two changes withdrawing 50 advisories each, re-evaluated (Rescan)
//     with the finding.resolved events they emit: a feed delta (drawn
//     from the whole feed, as a daily update touches records of every
//     ecosystem), and the worst case, advisories that all judge packages
//     of the base every image shares.
//
//     go run ./bench/rescan -images 10000 -advisories ../shared/data/advisories
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
	"slices"
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
		profile    = flag.String("cpuprofile", "", "write CPU profiles of the full re-match and of the worst change to this path + .full and .change")
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
	stop := startProfile(*profile + ".full")
	start = time.Now()
	st, err = svc.RescanStale(ctx)
	check(err)
	full := time.Since(start)
	stop()
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

	// Two changes of -changed advisories, each withdrawing its records:
	// a feed delta (advisories drawn from the whole feed, most of which
	// judge no stored package), then the worst case (advisories all
	// judging packages of the base every image shares).
	b := bench{ctx: ctx, svc: svc, live: live, outbox: outbox, vdir: vdir, tree: *advisories, work: work, version: v1ver}
	withdrawn := map[string]bool{}
	feed := b.change("feed delta", withdrawn, feedAdvisories(*advisories, *changed, rng), "")
	worst := b.change("base advisories", withdrawn, hitAdvisories(v1db, sc, base, *changed, rng), *profile+".change")

	fmt.Printf("\nrescan benchmark: %d images (%d packages each on average), %s, %d CPUs\n\n", len(invs), avgPackages(invs), engine, runtime.NumCPU())
	fmt.Printf("%-52s %12s %22s\n", "", "moat", "per-image match (peer)")
	fmt.Printf("%-52s %11.2fs %21.2fs\n", fmt.Sprintf("full re-match of %d stored inventories", len(invs)), full.Seconds(), perImage.Seconds())
	fmt.Printf("%-52s %12s %22s\n", "  includes", "match+diff+store", "matching only")
	fmt.Printf("%-52s %11.2fs\n", "first match (every finding new, with its event)", first.Seconds())
	fmt.Printf("%-52s %12d\n", "  findings recorded", findingsTotal)
	for _, c := range []changeStats{feed, worst} {
		fmt.Printf("%-52s %11.3fs\n", fmt.Sprintf("%s: %d advisories (%d keys) re-evaluated", c.name, c.advisories, c.keys), c.took.Seconds())
		fmt.Printf("%-52s %12d\n", "  images re-matched", c.Images)
		fmt.Printf("%-52s %12d\n", "  advanced without a re-match", c.Advanced)
		fmt.Printf("%-52s %12d\n", "  findings resolved", c.Resolved)
		fmt.Printf("%-52s %12d\n", "  events emitted (in the same transactions)", c.events)
		fmt.Printf("%-52s %11.3fs\n", "  (moat db import of the change, for scale)", c.imported.Seconds())
	}
}

// bench is the state the advisory changes share.
type bench struct {
	ctx     context.Context
	svc     *scanning.Service
	live    *vulndb.Live
	outbox  *events.Outbox
	vdir    string
	tree    string // the advisory tree as first imported
	work    string
	version string // the database version the images are matched with
	n       int
}

type changeStats struct {
	scanning.RescanStats
	name             string
	advisories, keys int
	events           int
	took, imported   time.Duration
}

// change withdraws ids (on top of those withdrawn before), imports the
// result and times the rescan through the scanning service, profiling it
// to profile when set.
func (b *bench) change(name string, withdrawn, ids map[string]bool, profile string) changeStats {
	ctx := b.ctx
	cursor, err := b.outbox.Head(ctx)
	check(err)
	for id := range ids {
		withdrawn[id] = true
	}
	b.n++
	tree := filepath.Join(b.work, fmt.Sprint("tree-", b.n))
	check(copyWithdrawn(b.tree, tree, withdrawn))
	start := time.Now()
	check(importTree(ctx, b.vdir, tree))
	cs := changeStats{name: name, advisories: len(ids), imported: time.Since(start)}
	c, err := b.live.Refresh()
	check(err)
	d := vulndb.Diff(c.From, c.To)
	change := scanning.Change{From: b.version, To: c.To.Meta().Version, Keys: d.Keys, Full: d.Context}
	b.version, cs.keys = c.To.Meta().Version, len(d.Keys)
	c.Release()
	stop := startProfile(profile)
	start = time.Now()
	cs.RescanStats, err = b.svc.Rescan(ctx, change)
	stop()
	check(err)
	cs.took = time.Since(start)
	for {
		page, next, err := b.outbox.Read(ctx, cursor, 10000)
		check(err)
		cs.events += len(page)
		cursor = next
		if len(page) < 10000 {
			break
		}
	}
	return cs
}

// startProfile writes a CPU profile to path (unless path is only a
// suffix) until the returned func is called.
func startProfile(path string) (stop func()) {
	if path == "" || strings.HasPrefix(path, ".") {
		return func() {}
	}
	f, err := os.Create(path)
	check(err)
	check(pprof.StartCPUProfile(f))
	return func() {
		pprof.StopCPUProfile()
		check(f.Close())
	}
}

// feedAdvisories picks n advisory ids at random from the whole tree.
func feedAdvisories(tree string, n int, rng *rand.Rand) map[string]bool {
	var all []string
	check(filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var rec struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(b, &rec) == nil && rec.ID != "" {
			all = append(all, rec.ID)
		}
		return nil
	}))
	slices.Sort(all)
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	ids := map[string]bool{}
	for _, id := range all[:min(n, len(all))] {
		ids[id] = true
	}
	return ids
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

func (noRegistry) StatManifest(context.Context, string, string) (*meta.Manifest, error) {
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
