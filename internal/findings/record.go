package findings

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/sqldb"
)

// Result is one scan's or rescan's outcome for an image.
type Result struct {
	Digest string
	// Inventory, when set, replaces the stored inventory (a layer scan);
	// a rescan re-matches the stored one and leaves it nil.
	Inventory *catalog.Inventory
	// Keys are the advisory keys Inventory's packages are judged by;
	// stored with it.
	Keys []vulndb.Key
	// Findings are the result's findings of the Kinds it covers.
	Findings []report.Finding
	// Kinds are the finding kinds this result is the whole truth about:
	// open findings of these kinds not in Findings are resolved. Findings
	// of other kinds are left as they are.
	Kinds         []string
	VulnDBVersion string
	// Rescan marks a re-match after an advisory update: scan.completed is
	// emitted only if the findings changed.
	Rescan bool
	// Scoped limits the result to the findings of Packages (PackageRef
	// values): open findings of the Kinds in other packages are left as
	// they are. A rescan of the packages an advisory change touches is
	// scoped.
	Scoped   bool
	Packages []string
	// Unmatched, when set, says why the result lacks the vulnerability
	// match (no advisory database yet): the image is FAILED with it as
	// the reason, and scan.failed is emitted, until a rescan matches the
	// stored inventory and completes it.
	Unmatched string
}

// Diff is what Record changed.
type Diff struct {
	New, Resolved []report.Finding
	// Summary is the image's open findings after the change; a rescan
	// that changed nothing leaves it zero.
	Summary Summary
}

// Record stores a result: the inventory and its keys when given, new
// findings (first seen now, or reopened), resolved ones, the summary and
// a COMPLETE status, and the events describing the change, all in one
// transaction.
func (s *Store) Record(ctx context.Context, r Result) (Diff, error) {
	ds, err := s.RecordAll(ctx, []Result{r})
	if err != nil {
		return Diff{}, err
	}
	return ds[0], nil
}

// RecordAll records several results in one transaction, each as Record
// would. The statements are shared by the batch (one read of the existing
// findings, one summary query, one resolve, prepared inserts), so that a
// rescan of thousands of images costs a few statements per batch rather
// than per image. The diffs come back in the order of rs.
func (s *Store) RecordAll(ctx context.Context, rs []Result) ([]Diff, error) {
	ps := make([]prepared, len(rs))
	seen := make(map[string]bool, len(rs))
	for i, r := range rs {
		p, err := prepare(r)
		if err != nil {
			return nil, err
		}
		if seen[r.Digest] {
			return nil, fmt.Errorf("%w: %s twice in one batch", ErrInvalid, r.Digest)
		}
		seen[r.Digest] = true
		ps[i] = p
	}
	var ds []Diff
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		b := &batch{s: s, tx: tx, now: s.now().UTC().UnixNano()}
		defer b.close()
		var err error
		ds, err = b.record(ctx, ps)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	s.outbox.Wake()
	for i := range ds {
		sortFindings(ds[i].New)
		sortFindings(ds[i].Resolved)
	}
	return ds, nil
}

// prepared is a checked result with its inventory compressed and its
// findings keyed, ready for the transaction.
type prepared struct {
	Result
	inv    []byte
	want   map[string]report.Finding
	status Status
}

func prepare(r Result) (prepared, error) {
	p := prepared{Result: r, status: Complete}
	if r.Digest == "" || len(r.Kinds) == 0 && r.Unmatched == "" {
		return p, fmt.Errorf("%w: a result needs a digest and the kinds it covers", ErrInvalid)
	}
	if r.Inventory != nil {
		var err error
		if p.inv, err = compress(r.Inventory); err != nil {
			return p, err
		}
	}
	// Identical findings (one vulnerability in two paths of one package
	// version) count once.
	p.want = make(map[string]report.Finding, len(r.Findings))
	for _, f := range r.Findings {
		if !slices.Contains(r.Kinds, f.Kind) {
			return p, fmt.Errorf("%w: a %s finding in a result covering %v", ErrInvalid, f.Kind, r.Kinds)
		}
		p.want[Key(f)] = f
	}
	if r.Unmatched != "" {
		p.status = Failed
	}
	return p, nil
}

// inScope reports whether an existing finding of kind in package ref is
// one p is the whole truth about.
func (p prepared) inScope(kind, ref string) bool {
	return slices.Contains(p.Kinds, kind) && (!p.Scoped || slices.Contains(p.Packages, ref))
}

// batch is one RecordAll transaction with its prepared statements.
type batch struct {
	s     *Store
	tx    *sql.Tx
	now   int64
	stmts map[string]*sql.Stmt
}

// exec runs query (a statement repeated across the batch) prepared once.
func (b *batch) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, ok := b.stmts[query]
	if !ok {
		var err error
		if st, err = b.tx.PrepareContext(ctx, b.s.db.Q(query)); err != nil {
			return nil, err
		}
		if b.stmts == nil {
			b.stmts = map[string]*sql.Stmt{}
		}
		b.stmts[query] = st
	}
	return st.ExecContext(ctx, args...)
}

func (b *batch) close() {
	for _, st := range b.stmts {
		st.Close()
	}
}

// maxIn bounds the values of one IN list, well under both engines' limits
// on bound parameters.
const maxIn = 500

func (b *batch) record(ctx context.Context, ps []prepared) ([]Diff, error) {
	ds := make([]Diff, len(ps))
	for _, p := range ps {
		if p.inv != nil {
			if err := b.putInventory(ctx, p); err != nil {
				return nil, err
			}
		}
	}
	existing, err := b.existing(ctx, ps)
	if err != nil {
		return nil, err
	}
	var (
		insert  [][]any
		resolve []int64
		changed = make([]bool, len(ps))
	)
	for i, p := range ps {
		old := existing[p.Digest]
		for key, f := range p.want {
			data, err := json.Marshal(f)
			if err != nil {
				return nil, fmt.Errorf("encode finding %s: %w", f.ID, err)
			}
			o, seen := old[key]
			switch {
			case !seen:
				insert = append(insert, []any{p.Digest, key, f.Kind, f.ID, int(f.Severity), f.KEV != nil, f.FixedIn != "",
					epssOf(f), string(data), b.now, PackageRef(f.Package)})
				ds[i].New = append(ds[i].New, f)
			case o.open && o.data == string(data):
				continue
			default:
				// Still there with new details (a score, a fix), or back
				// after being resolved.
				_, err = b.exec(ctx, `
					UPDATE image_findings SET kind = ?, vuln_id = ?, severity = ?, kev = ?, fixable = ?, epss = ?, data = ?, package_ref = ?, resolved_at = NULL
					WHERE id = ?`, f.Kind, f.ID, int(f.Severity), f.KEV != nil, f.FixedIn != "", epssOf(f), string(data), PackageRef(f.Package), o.id)
				if !o.open {
					ds[i].New = append(ds[i].New, f)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("store finding %s: %w", f.ID, err)
			}
			changed[i] = true
		}
		for key, o := range old {
			if _, still := p.want[key]; still || !o.open {
				continue
			}
			var f report.Finding
			if err := json.Unmarshal([]byte(o.data), &f); err != nil {
				return nil, fmt.Errorf("stored finding %d: %w", o.id, err)
			}
			ds[i].Resolved = append(ds[i].Resolved, f)
			resolve = append(resolve, o.id)
			changed[i] = true
		}
	}
	if err := b.insert(ctx, `image_findings (digest, finding_key, kind, vuln_id, severity, kev, fixable, epss, data, first_seen, package_ref)`, insert, ""); err != nil {
		return nil, fmt.Errorf("store findings: %w", err)
	}
	for ids := range slices.Chunk(resolve, maxIn) {
		args := []any{b.now}
		for _, id := range ids {
			args = append(args, id)
		}
		if _, err := b.tx.ExecContext(ctx, b.s.db.Q(`UPDATE image_findings SET resolved_at = ? WHERE id IN (`+sqldb.Placeholders(len(ids))+`)`), args...); err != nil {
			return nil, fmt.Errorf("resolve findings: %w", err)
		}
	}

	// Most images are untouched by an advisory change: moving their state
	// to the new database version is all there is to do.
	unchanged := map[string][]string{} // by database version
	for i, p := range ps {
		if !changed[i] && p.Rescan && p.status == Complete {
			unchanged[p.VulnDBVersion] = append(unchanged[p.VulnDBVersion], p.Digest)
		}
	}
	moved := map[string]bool{}
	for version, digests := range unchanged {
		if err := b.advance(ctx, version, digests, moved); err != nil {
			return nil, err
		}
	}
	var summarize []string
	for _, p := range ps {
		if !moved[p.Digest] {
			summarize = append(summarize, p.Digest)
		}
	}
	sums, err := b.summaries(ctx, summarize)
	if err != nil {
		return nil, err
	}
	var (
		evs    []events.Event
		states [][]any
	)
	for i, p := range ps {
		if moved[p.Digest] {
			continue
		}
		ds[i].Summary = sums[p.Digest]
		sum := ds[i].Summary
		states = append(states, []any{p.Digest, string(p.status), truncate(p.Unmatched, 2000), b.now, p.VulnDBVersion,
			sum.Critical, sum.High, sum.Medium, sum.Low, sum.Unknown, sum.KEV, sum.Fixable, b.now})
		e, err := b.s.resultEvents(ctx, b.tx, p.Result, ds[i])
		if err != nil {
			return nil, err
		}
		evs = append(evs, e...)
	}
	if err := b.insert(ctx, `image_scan_state (digest, status, reason, scanned_at, vulndb_version, critical, high, medium, low, unknown, kev, fixable, updated_at)`,
		states, `ON CONFLICT (digest) DO UPDATE SET status = excluded.status, reason = excluded.reason, scanned_at = excluded.scanned_at,
			vulndb_version = excluded.vulndb_version, critical = excluded.critical, high = excluded.high,
			medium = excluded.medium, low = excluded.low, unknown = excluded.unknown, kev = excluded.kev,
			fixable = excluded.fixable, updated_at = excluded.updated_at`); err != nil {
		return nil, fmt.Errorf("store scan state: %w", err)
	}
	return ds, b.s.outbox.AppendTx(ctx, b.tx, evs...)
}

// insert inserts rows into table (its name and columns), many rows per
// statement, each ending with onConflict (empty, or an ON CONFLICT
// clause).
func (b *batch) insert(ctx context.Context, table string, rows [][]any, onConflict string) error {
	if len(rows) == 0 {
		return nil
	}
	width := len(rows[0])
	row := ",(" + sqldb.Placeholders(width) + ")"
	for part := range slices.Chunk(rows, max(1, 2*maxIn/width)) {
		args := make([]any, 0, width*len(part))
		for _, r := range part {
			args = append(args, r...)
		}
		if _, err := b.tx.ExecContext(ctx, b.s.db.Q(`INSERT INTO `+table+` VALUES `+strings.Repeat(row, len(part))[1:]+" "+onConflict), args...); err != nil {
			return err
		}
	}
	return nil
}

// advance moves the completed scans of digests to version, adding those
// it moved to moved.
func (b *batch) advance(ctx context.Context, version string, digests []string, moved map[string]bool) error {
	for part := range slices.Chunk(digests, maxIn) {
		args := []any{b.now, version, b.now, string(Complete)}
		for _, d := range part {
			args = append(args, d)
		}
		rows, err := b.tx.QueryContext(ctx, b.s.db.Q(`
			UPDATE image_scan_state SET scanned_at = ?, vulndb_version = ?, updated_at = ?
			WHERE status = ? AND digest IN (`+sqldb.Placeholders(len(part))+`) RETURNING digest`), args...)
		if err != nil {
			return fmt.Errorf("store scan state: %w", err)
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return fmt.Errorf("store scan state: %w", err)
			}
			moved[d] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("store scan state: %w", err)
		}
	}
	return nil
}

func (b *batch) putInventory(ctx context.Context, p prepared) error {
	if _, err := b.exec(ctx, `
		INSERT INTO image_inventories (digest, packages, inventory) VALUES (?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET packages = excluded.packages, inventory = excluded.inventory`,
		p.Digest, len(p.Inventory.Packages), p.inv); err != nil {
		return fmt.Errorf("store inventory: %w", err)
	}
	if _, err := b.exec(ctx, `DELETE FROM image_advisory_keys WHERE digest = ?`, p.Digest); err != nil {
		return fmt.Errorf("store advisory keys: %w", err)
	}
	seen := map[vulndb.Key]bool{}
	var rows [][]any
	for _, k := range p.Keys {
		k.Name = vulndb.NormalizeName(k.Ecosystem, k.Name)
		if !seen[k] {
			seen[k] = true
			rows = append(rows, []any{k.Ecosystem, k.Name, p.Digest})
		}
	}
	if err := b.insert(ctx, `image_advisory_keys (ecosystem, name, digest)`, rows, ""); err != nil {
		return fmt.Errorf("store advisory keys: %w", err)
	}
	return nil
}

// stored is an existing finding row.
type stored struct {
	id   int64
	data string
	open bool
}

// existing reads the findings each result is the whole truth about, by
// digest and finding key: of scoped results only the rows of their
// packages, through the (digest, package_ref) index.
func (b *batch) existing(ctx context.Context, ps []prepared) (map[string]map[string]stored, error) {
	const cols = `SELECT digest, finding_key, kind, package_ref, id, data, resolved_at IS NULL FROM image_findings WHERE `
	byDigest := map[string]prepared{}
	out := map[string]map[string]stored{}
	var (
		terms []string
		args  []any
	)
	flush := func() error {
		if len(terms) == 0 {
			return nil
		}
		// An OR of per-image terms: SQLite searches the index for each,
		// where a row-value IN list would scan the table.
		err := b.readExisting(ctx, cols+strings.Join(terms, " OR "), args, byDigest, out)
		terms, args = terms[:0], args[:0]
		return err
	}
	for _, p := range ps {
		byDigest[p.Digest] = p
		if !p.Scoped {
			terms, args = append(terms, `digest = ?`), append(args, p.Digest)
		} else {
			for refs := range slices.Chunk(p.Packages, maxIn) {
				if len(args)+1+len(refs) > 2*maxIn {
					if err := flush(); err != nil {
						return nil, err
					}
				}
				terms = append(terms, `(digest = ? AND package_ref IN (`+sqldb.Placeholders(len(refs))+`))`)
				args = append(args, p.Digest)
				for _, r := range refs {
					args = append(args, r)
				}
			}
		}
		if len(args) >= 2*maxIn {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return out, flush()
}

func (b *batch) readExisting(ctx context.Context, q string, args []any, byDigest map[string]prepared, out map[string]map[string]stored) error {
	rows, err := b.tx.QueryContext(ctx, b.s.db.Q(q), args...)
	if err != nil {
		return fmt.Errorf("read findings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			digest, key, kind, ref string
			st                     stored
		)
		if err := rows.Scan(&digest, &key, &kind, &ref, &st.id, &st.data, &st.open); err != nil {
			return fmt.Errorf("read findings: %w", err)
		}
		if !byDigest[digest].inScope(kind, ref) {
			continue
		}
		if out[digest] == nil {
			out[digest] = map[string]stored{}
		}
		out[digest][key] = st
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read findings: %w", err)
	}
	return nil
}

// summaries counts the open findings of digests.
func (b *batch) summaries(ctx context.Context, digests []string) (map[string]Summary, error) {
	out := make(map[string]Summary, len(digests))
	for part := range slices.Chunk(digests, maxIn) {
		args := make([]any, len(part))
		for i, d := range part {
			args[i] = d
		}
		rows, err := b.tx.QueryContext(ctx, b.s.db.Q(`
			SELECT digest, severity, kev, fixable, COUNT(*) FROM image_findings
			WHERE digest IN (`+sqldb.Placeholders(len(part))+`) AND resolved_at IS NULL
			GROUP BY digest, severity, kev, fixable`), args...)
		if err != nil {
			return nil, fmt.Errorf("summarize findings: %w", err)
		}
		for rows.Next() {
			var (
				digest       string
				sev, n       int
				kev, fixable bool
			)
			if err := rows.Scan(&digest, &sev, &kev, &fixable, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("summarize findings: %w", err)
			}
			sum := out[digest]
			switch report.Severity(sev) {
			case report.Critical:
				sum.Critical += n
			case report.High:
				sum.High += n
			case report.Medium:
				sum.Medium += n
			case report.Low:
				sum.Low += n
			default:
				sum.Unknown += n
			}
			if kev {
				sum.KEV += n
			}
			if fixable {
				sum.Fixable += n
			}
			out[digest] = sum
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("summarize findings: %w", err)
		}
	}
	return out, nil
}

// resultEvents returns scan.completed (for a first scan, or a rescan that
// changed something), finding.new and finding.resolved for every
// repository holding the image.
func (s *Store) resultEvents(ctx context.Context, tx *sql.Tx, r Result, d Diff) ([]events.Event, error) {
	if r.Rescan && len(d.New) == 0 && len(d.Resolved) == 0 {
		return nil, nil
	}
	locs, err := s.locate(ctx, tx, r.Digest)
	if err != nil {
		return nil, fmt.Errorf("locate %s: %w", r.Digest, err)
	}
	var evs []events.Event
	add := func(typ string, loc Location, data map[string]any) error {
		data["repository"], data["digest"], data["tags"] = loc.Repository, r.Digest, loc.Tags
		if len(loc.Running) > 0 {
			data["runningIn"] = loc.Running
		}
		e, err := events.NewEvent(typ, loc.Repository+"@"+r.Digest, data)
		evs = append(evs, e)
		return err
	}
	for _, loc := range locs {
		typ, data := events.ScanCompleted, map[string]any{
			"status": Complete, "rescan": r.Rescan, "vulndbVersion": r.VulnDBVersion,
			"findingSeverityCounts": d.Summary.BySeverity(), "kev": d.Summary.KEV, "fixable": d.Summary.Fixable,
			"new": len(d.New), "resolved": len(d.Resolved),
		}
		if r.Unmatched != "" {
			typ, data = events.ScanFailed, map[string]any{"status": Failed, "reason": r.Unmatched}
		}
		if err := add(typ, loc, data); err != nil {
			return nil, err
		}
		for _, f := range d.New {
			if err := add(events.FindingNew, loc, map[string]any{"finding": Brief(f)}); err != nil {
				return nil, err
			}
		}
		for _, f := range d.Resolved {
			if err := add(events.FindingResolved, loc, map[string]any{"finding": Brief(f)}); err != nil {
				return nil, err
			}
		}
	}
	return evs, nil
}
