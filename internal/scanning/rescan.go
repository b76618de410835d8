package scanning

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/scanrules"
)

// Change is an advisory database change to re-evaluate: the versions it
// goes from and to, and the advisory keys whose advisories differ. Full
// means anything may have changed (context data, a change too large to
// list, or an unknown previous version).
type Change struct {
	From string       `json:"from,omitempty"`
	To   string       `json:"to"`
	Keys []vulndb.Key `json:"keys,omitempty"`
	Full bool         `json:"full,omitempty"`
}

// RescanStats counts a rescan's work.
type RescanStats struct {
	// Images were re-matched; Skipped were not (no continuous rule, or
	// no inventory).
	Images, Skipped int
	// New and Resolved count the findings that appeared and went.
	New, Resolved int
	// Advanced counts images the change could not touch, moved to the
	// new version as they were.
	Advanced int64
}

func (a *RescanStats) add(b RescanStats) {
	a.Images += b.Images
	a.Skipped += b.Skipped
	a.New += b.New
	a.Resolved += b.Resolved
	a.Advanced += b.Advanced
}

// maxListedKeys bounds the keys a rescan job carries; a larger change is
// re-evaluated in full, which costs about the same.
const maxListedKeys = 500

// watchAdvisories picks up a new advisory database version and enqueues
// its rescan, once per cluster (the job's key is the new version).
func (s *Service) watchAdvisories(ctx context.Context) error {
	c, err := s.Advisories.Refresh()
	if errors.Is(err, vulndb.ErrNoDatabase) {
		return nil
	}
	if err != nil || c == nil {
		return err
	}
	defer c.Release()
	p := Change{To: c.To.Meta().Version, Full: true}
	if c.From != nil {
		d := vulndb.Diff(c.From, c.To)
		p.From = c.From.Meta().Version
		if !d.Context && len(d.Keys) <= maxListedKeys {
			p.Full, p.Keys = false, d.Keys
		}
	}
	s.log.Info("advisory database changed", "from", p.From, "to", p.To, "changed_keys", len(p.Keys), "full", p.Full)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, _, err = s.Queue.Enqueue(ctx, jobs.Job{Kind: kindRescan, Key: p.To, Payload: b, MaxAttempts: 5})
	return err
}

// rescanBatch is how many inventories are re-matched together: enough
// for the matcher's shared cache to pay, little enough memory.
const rescanBatch = 256

// rescanJob re-evaluates the advisory change its payload names.
func (s *Service) rescanJob(ctx context.Context, j *jobs.Job) error {
	var c Change
	if err := j.Decode(&c); err != nil {
		return jobs.Permanent(err)
	}
	_, err := s.Rescan(ctx, c)
	return err
}

// Rescan re-evaluates the images an advisory change can affect, without
// reading a layer: images matched with the previous version whose
// packages are judged by a changed key are re-matched from their stored
// inventories; the others move to the new version as they are. Images
// matched with any older version are re-matched in full. Only images
// under a continuous rule are re-matched. A change superseded by a newer
// database version is left to that version's rescan.
func (s *Service) Rescan(ctx context.Context, c Change) (RescanStats, error) {
	var st RescanStats
	db, release, err := s.Advisories.Acquire()
	if err != nil {
		return st, err
	}
	defer release()
	if v := db.Meta().Version; v != c.To {
		s.log.Info("rescan superseded", "version", c.To, "current", v)
		return st, nil
	}
	start := time.Now()
	if !c.Full && c.From != "" {
		affected, err := s.Findings.ImagesWithKeys(ctx, c.Keys)
		if err != nil {
			return st, err
		}
		vs, err := s.Findings.VersionsOf(ctx, affected)
		if err != nil {
			return st, err
		}
		// Only those matched with the previous version are this change's
		// business; older ones are caught below.
		affected = slices.DeleteFunc(affected, func(d string) bool { return vs[d] != c.From })
		if st.Advanced, err = s.Findings.Advance(ctx, c.From, c.To, affected); err != nil {
			return st, err
		}
		part, err := s.rematch(ctx, db, affected, c.Keys)
		st.add(part)
		if err != nil {
			return st, err
		}
	}
	// Whatever still lags (older versions, a full change) is re-matched
	// in full.
	part, err := s.rematchStale(ctx, db)
	st.add(part)
	if err != nil {
		return st, err
	}
	s.metrics.rescanSeconds.Observe(time.Since(start).Seconds())
	s.log.Info("rescan done", "version", c.To, "rematched", st.Images, "advanced", st.Advanced, "skipped", st.Skipped,
		"new", st.New, "resolved", st.Resolved, "took", time.Since(start).Round(time.Millisecond))
	return st, nil
}

// sweepJob re-matches images still matched with an older version than
// the current one: after a restart, or a rescan that could not finish.
func (s *Service) sweepJob(ctx context.Context, _ *jobs.Job) error {
	st, err := s.RescanStale(ctx)
	if errors.Is(err, vulndb.ErrNoDatabase) {
		return nil
	}
	if st.Images > 0 {
		s.log.Info("stale images re-matched", "rematched", st.Images, "new", st.New, "resolved", st.Resolved)
	}
	return err
}

// RescanStale re-matches every image under a continuous rule that was
// matched with another advisory database version than the current one.
func (s *Service) RescanStale(ctx context.Context) (RescanStats, error) {
	db, release, err := s.Advisories.Acquire()
	if err != nil {
		return RescanStats{}, err
	}
	defer release()
	return s.rematchStale(ctx, db)
}

// rematchStale re-matches every image under a continuous rule matched
// with another version than db's.
func (s *Service) rematchStale(ctx context.Context, db *vulndb.DB) (RescanStats, error) {
	var total RescanStats
	version := db.Meta().Version
	after := ""
	for {
		page, err := s.Findings.MatchedWith(ctx, version, after, rescanBatch)
		if err != nil {
			return total, err
		}
		if len(page) == 0 {
			return total, nil
		}
		after = page[len(page)-1]
		st, err := s.rematch(ctx, db, page, nil)
		total.add(st)
		if err != nil {
			return total, err
		}
	}
}

// rematch re-matches digests (those under a continuous rule) against db
// in batches and records the results. With keys, only the packages those
// advisory keys judge are re-matched, and only their findings compared:
// the rest of each image cannot have changed. Matching the next batch
// overlaps recording the current one: one is CPU, the other the database.
func (s *Service) rematch(ctx context.Context, db *vulndb.DB, digests []string, keys []vulndb.Key) (RescanStats, error) {
	var st RescanStats
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan matched, 1)
	errc := make(chan error, 1)
	go func() {
		defer close(batches)
		for start := 0; start < len(digests); start += rescanBatch {
			b, err := s.matchBatch(ctx, db, digests[start:min(start+rescanBatch, len(digests))], keys)
			if err != nil {
				errc <- err
				return
			}
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	for b := range batches {
		st.Skipped += b.skipped
		if len(b.results) == 0 {
			continue
		}
		diffs, err := s.Findings.RecordAll(ctx, b.results)
		if err != nil {
			return st, err
		}
		for i, diff := range diffs {
			st.Images++
			st.New += len(diff.New)
			st.Resolved += len(diff.Resolved)
			if len(diff.New)+len(diff.Resolved) > 0 {
				s.gate.forget(b.results[i].Digest)
			}
		}
		s.metrics.rescanned.Add(float64(len(b.results)))
	}
	select {
	case err := <-errc:
		return st, err
	default:
		return st, nil
	}
}

// matched is one batch of rematch, ready to record.
type matched struct {
	results []findings.Result
	skipped int
}

// matchBatch loads the stored inventories of part that rematch and
// matches them against db (only the packages keys judge, with keys).
func (s *Service) matchBatch(ctx context.Context, db *vulndb.DB, part []string, keys []vulndb.Key) (matched, error) {
	var b matched
	cfg := s.Config()
	versions, err := s.Findings.VersionsOf(ctx, part)
	if err != nil {
		return b, err
	}
	var (
		ds   []string
		invs []*catalog.Inventory
	)
	for _, d := range part {
		// An image scanned before any database existed is matched now,
		// whatever its rule's frequency: that completes its scan.
		cont, err := s.rematches(ctx, cfg, d, versions[d] == "")
		if err != nil {
			return b, err
		}
		if !cont {
			b.skipped++
			continue
		}
		inv, err := s.Findings.Inventory(ctx, d)
		if errors.Is(err, findings.ErrNotFound) {
			b.skipped++
			continue
		}
		if err != nil {
			return b, err
		}
		if keys != nil {
			if inv, err = s.Scanner.Judged(db, inv, keys); err != nil {
				return b, err
			}
		}
		ds, invs = append(ds, d), append(invs, inv)
	}
	if len(invs) == 0 {
		return b, nil
	}
	results, err := s.Scanner.Rematch(ctx, db, invs)
	if err != nil {
		return b, err
	}
	b.results = make([]findings.Result, len(results))
	for i, r := range results {
		res := findings.Result{Digest: ds[i], Findings: r.Findings, Kinds: []string{report.KindVulnerability, report.KindEndOfLife},
			VulnDBVersion: db.Meta().Version, Rescan: true}
		if keys != nil {
			// End-of-life data is not keyed: a change of advisories
			// leaves those findings alone.
			res.Kinds, res.Scoped = []string{report.KindVulnerability}, true
			res.Findings = slices.DeleteFunc(r.Findings, func(f report.Finding) bool { return f.Kind != report.KindVulnerability })
			for _, p := range invs[i].Packages {
				res.Packages = append(res.Packages, findings.PackageRef(report.Package{
					Ecosystem: string(p.Ecosystem), Name: p.Name, Version: p.Version, Type: p.Type, Paths: p.Paths}))
			}
		}
		b.results[i] = res
	}
	return b, nil
}

// rematches reports whether a repository holding d scans it for
// vulnerabilities continuously, or at all when neverMatched.
func (s *Service) rematches(ctx context.Context, cfg scanrules.Config, d string, neverMatched bool) (bool, error) {
	locs, err := s.Locate(ctx, d)
	if err != nil {
		return false, err
	}
	for _, l := range locs {
		r := cfg.RuleFor(l.Repository)
		if r == nil || !slices.Contains(r.ScannerNames(), "vuln") {
			continue
		}
		if r.Frequency == scanrules.Continuous || neverMatched {
			return true, nil
		}
	}
	return false, nil
}

// updateJob fetches the advisory feeds (or reads the mirror) into the
// live database's directory; the watcher then rescans.
func (s *Service) updateJob(ctx context.Context, _ *jobs.Job) error {
	cfg := s.Config()
	b := vulndb.NewBatch(s.now)
	mirror := cfg.Update.Mirror
	switch {
	case mirror != "" && !isURL(mirror):
		if err := b.AddPath(ctx, mirror); err != nil {
			return fmt.Errorf("read feed mirror %s: %w", mirror, err)
		}
	default:
		feeds := vulndb.DefaultFeeds()
		if mirror != "" {
			feeds = vulndb.MirrorFeeds(mirror)
		}
		tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(s.Advisories.Dir())), ".feeds-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		client := &http.Client{Timeout: 10 * time.Minute}
		if err := vulndb.Fetch(ctx, client, feeds, tmp, b); err != nil {
			return fmt.Errorf("fetch advisory feeds: %w", err)
		}
	}
	m, err := vulndb.Commit(ctx, s.Advisories.Dir(), b, vulndb.WithClock(s.now), vulndb.WithLogger(s.log))
	if err != nil {
		return err
	}
	s.log.Info("advisory database updated", "version", m.Version, "advisories", m.Advisories, "changed_keys", m.Changed)
	return s.watchAdvisories(ctx)
}

func isURL(s string) bool {
	return len(s) > 7 && (s[:7] == "http://" || len(s) > 8 && s[:8] == "https://")
}

// housekeepJob drops cached layer results nobody used for 30 days.
func (s *Service) housekeepJob(ctx context.Context, _ *jobs.Job) error {
	if s.evictLayers == nil {
		return nil
	}
	n, err := s.evictLayers(ctx, s.now().Add(-30*24*time.Hour))
	if n > 0 {
		s.log.Info("layer cache evicted", "results", n)
	}
	return err
}

// Register adds the scanning jobs to r: scans (as many workers as the
// configuration allows), rescans, SBOM referrers, and the periodic sweep,
// feed update (when configured) and housekeeping.
func (s *Service) Register(r *jobs.Runner) error {
	cfg := s.Config()
	steps := []struct {
		kind string
		k    jobs.Kind
	}{
		{kindScan, jobs.Kind{Handler: s.scanJob, Workers: cfg.Workers, Lease: 30 * time.Second,
			Backoff: jobs.ExponentialBackoff(5*time.Second, 10*time.Minute)}},
		{kindRescan, jobs.Kind{Handler: s.rescanJob, Lease: time.Minute}},
		{kindSweep, jobs.Kind{Handler: s.sweepJob, Lease: time.Minute}},
		{kindSBOM, jobs.Kind{Handler: s.sbomJob, Lease: 30 * time.Second}},
		{kindUpdate, jobs.Kind{Handler: s.updateJob, Lease: 5 * time.Minute}},
		{kindHousekeep, jobs.Kind{Handler: s.housekeepJob, Lease: time.Minute}},
	}
	for _, st := range steps {
		if err := r.Handle(st.kind, st.k); err != nil {
			return err
		}
	}
	if err := r.Every("rescan-sweep", 10*time.Minute, jobs.Job{Kind: kindSweep}); err != nil {
		return err
	}
	if err := r.Every("scanning-housekeeping", 24*time.Hour, jobs.Job{Kind: kindHousekeep}); err != nil {
		return err
	}
	if cfg.Update.Interval > 0 {
		if err := r.Every("vulndb-update", cfg.Update.Interval, jobs.Job{Kind: kindUpdate, MaxAttempts: 3}); err != nil {
			return err
		}
	}
	return nil
}
