package findings

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moatfind").
const migrationLockKey int64 = 0x6d6f617466696e64

// Errors, classified with errors.Is.
var (
	ErrNotFound = errors.New("findings: not found")
	ErrInvalid  = errors.New("findings: invalid")
)

// Status is an image's scan status, as ECR names them.
type Status string

// Statuses.
const (
	Pending     Status = "PENDING"
	InProgress  Status = "IN_PROGRESS"
	Complete    Status = "COMPLETE"
	Failed      Status = "FAILED"
	Unsupported Status = "UNSUPPORTED"
)

// Summary counts an image's open findings.
type Summary struct {
	Critical, High, Medium, Low, Unknown int
	// KEV counts findings known to be exploited; Fixable those with a
	// fixed version.
	KEV, Fixable int
}

// Count returns the number of open findings of severity s.
func (s Summary) Count(sev report.Severity) int {
	switch sev {
	case report.Critical:
		return s.Critical
	case report.High:
		return s.High
	case report.Medium:
		return s.Medium
	case report.Low:
		return s.Low
	}
	return s.Unknown
}

// BySeverity maps severity names to counts, as ECR's
// findingSeverityCounts does.
func (s Summary) BySeverity() map[string]int {
	return map[string]int{"CRITICAL": s.Critical, "HIGH": s.High, "MEDIUM": s.Medium, "LOW": s.Low, "UNKNOWN": s.Unknown}
}

// Scan is the state of one image's scanning.
type Scan struct {
	Digest        string
	Status        Status
	Reason        string
	ScannedAt     time.Time // zero until a scan completed
	VulnDBVersion string
	Summary       Summary
	UpdatedAt     time.Time
}

// Finding is a stored finding.
type Finding struct {
	report.Finding
	// Seq orders an image's findings; it is the paging cursor.
	Seq        int64
	FirstSeen  time.Time
	ResolvedAt time.Time // zero while open
}

// Location is a repository holding an image, with the tags pointing at it
// there.
type Location struct {
	Repository string   `json:"repository"`
	Tags       []string `json:"tags,omitempty"`
	// Running lists where the image runs from this repository (the
	// inventory), for the events to say.
	Running []Running `json:"runningIn,omitempty"`
}

// Running is one container running the image.
type Running struct {
	Source       string `json:"source"`
	Cluster      string `json:"cluster"`
	Namespace    string `json:"namespace,omitempty"`
	WorkloadKind string `json:"workloadKind,omitempty"`
	WorkloadName string `json:"workloadName,omitempty"`
	Pod          string `json:"pod"`
	Container    string `json:"container"`
}

// Locator finds the repositories holding digest, inside tx (the store's
// transaction), for the events a change emits.
type Locator func(ctx context.Context, tx *sql.Tx, digest string) ([]Location, error)

// Store keeps scan results in the metadata database.
type Store struct {
	db     *sqldb.DB
	outbox *events.Outbox
	locate Locator
	now    func() time.Time
}

// Option configures New.
type Option func(*Store) error

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Store) error {
		if now == nil {
			return errors.New("findings: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithLocator names the repositories and tags of images in events.
// Default: events name only the digest.
func WithLocator(l Locator) Option {
	return func(s *Store) error {
		if l == nil {
			return errors.New("findings: nil locator")
		}
		s.locate = l
		return nil
	}
}

// New brings the findings tables in db up to date. The registry's own
// tables must exist already: the image_scans view reads them.
func New(ctx context.Context, db *sqldb.DB, outbox *events.Outbox, opts ...Option) (*Store, error) {
	if db == nil || outbox == nil {
		return nil, errors.New("findings: New needs a database and an outbox")
	}
	if err := db.Migrate(ctx, migrations, "migrations", "findings_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("findings: %w", err)
	}
	s := &Store{db: db, outbox: outbox, now: time.Now,
		locate: func(context.Context, *sql.Tx, string) ([]Location, error) { return nil, nil }}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// SetCompliance stores what compliant means for the image_scans view:
// no open finding above maxSeverity, and none known exploited unless
// kevAllowed.
func (s *Store) SetCompliance(ctx context.Context, maxSeverity report.Severity, kevAllowed bool) error {
	if maxSeverity < report.Unknown || maxSeverity > report.Critical {
		return fmt.Errorf("%w: severity %d", ErrInvalid, maxSeverity)
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.db.Q(`UPDATE scan_compliance SET max_severity = ?, kev_allowed = ? WHERE id = 1`), int(maxSeverity), kevAllowed)
		return err
	})
}

// MarkPendingTx records, inside tx, that a scan of digest was asked for.
// An image already scanned keeps its status (and its findings count for
// the pull gate) until the new result is in.
func (s *Store) MarkPendingTx(ctx context.Context, tx *sql.Tx, digest string) error {
	return s.setStatusTx(ctx, tx, digest, Pending, "", true)
}

// MarkInProgress records that a scan of digest started, unless an earlier
// one completed.
func (s *Store) MarkInProgress(ctx context.Context, digest string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error { return s.setStatusTx(ctx, tx, digest, InProgress, "", true) })
}

// MarkUnsupported records that digest cannot be scanned (not an image of
// a kind moat reads), with the reason.
func (s *Store) MarkUnsupported(ctx context.Context, digest, reason string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error { return s.setStatusTx(ctx, tx, digest, Unsupported, reason, false) })
}

// MarkFailed records a failed scan and emits scan.failed. An image whose
// earlier scan completed keeps that result; the failure is in the event.
func (s *Store) MarkFailed(ctx context.Context, digest, reason string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		if err := s.setStatusTx(ctx, tx, digest, Failed, reason, true); err != nil {
			return err
		}
		return s.emit(ctx, tx, digest, func(loc Location) (string, any) {
			return events.ScanFailed, map[string]any{"repository": loc.Repository, "digest": digest, "tags": loc.Tags, "reason": reason}
		})
	})
}

// setStatusTx sets digest's status; keepComplete leaves a completed scan's
// status alone.
func (s *Store) setStatusTx(ctx context.Context, tx *sql.Tx, digest string, st Status, reason string, keepComplete bool) error {
	if digest == "" {
		return fmt.Errorf("%w: empty digest", ErrInvalid)
	}
	guard := ""
	if keepComplete {
		guard = ` WHERE image_scan_state.status <> '` + string(Complete) + `'`
	}
	now := s.now().UTC().UnixNano()
	_, err := tx.ExecContext(ctx, s.db.Q(`
		INSERT INTO image_scan_state (digest, status, reason, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at`+guard),
		digest, string(st), truncate(reason, 2000), now)
	if err != nil {
		return fmt.Errorf("findings: set %s status %s: %w", digest, st, err)
	}
	return nil
}

// Scan returns the scan state of digest; ErrNotFound if it was never
// scanned or queued.
func (s *Store) Scan(ctx context.Context, digest string) (Scan, error) {
	sc := Scan{Digest: digest}
	var (
		status     string
		scannedAt  sql.NullInt64
		updated    int64
		critical   int
		high       int
		medium     int
		low        int
		unknownSev int
	)
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`
		SELECT status, reason, scanned_at, vulndb_version, critical, high, medium, low, unknown, kev, fixable, updated_at
		FROM image_scan_state WHERE digest = ?`), digest).
		Scan(&status, &sc.Reason, &scannedAt, &sc.VulnDBVersion, &critical, &high, &medium, &low, &unknownSev,
			&sc.Summary.KEV, &sc.Summary.Fixable, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("scan of %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return sc, fmt.Errorf("findings: scan of %s: %w", digest, err)
	}
	sc.Status = Status(status)
	sc.Summary.Critical, sc.Summary.High, sc.Summary.Medium, sc.Summary.Low, sc.Summary.Unknown = critical, high, medium, low, unknownSev
	if scannedAt.Valid {
		sc.ScannedAt = time.Unix(0, scannedAt.Int64).UTC()
	}
	sc.UpdatedAt = time.Unix(0, updated).UTC()
	return sc, nil
}

// emit appends one event per repository holding digest.
func (s *Store) emit(ctx context.Context, tx *sql.Tx, digest string, build func(Location) (string, any)) error {
	locs, err := s.locate(ctx, tx, digest)
	if err != nil {
		return fmt.Errorf("locate %s: %w", digest, err)
	}
	var evs []events.Event
	for _, loc := range locs {
		typ, data := build(loc)
		e, err := events.NewEvent(typ, loc.Repository+"@"+digest, data)
		if err != nil {
			return err
		}
		evs = append(evs, e)
	}
	return s.outbox.AppendTx(ctx, tx, evs...)
}

// BriefFinding is a finding as events carry it.
type BriefFinding struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases,omitempty"`
	Kind     string   `json:"kind"`
	Severity string   `json:"severity"`
	Package  string   `json:"package,omitempty"`
	Version  string   `json:"version,omitempty"`
	PURL     string   `json:"purl,omitempty"`
	FixedIn  string   `json:"fixedVersion,omitempty"`
	KEV      bool     `json:"exploitAvailable"`
	EPSS     float64  `json:"epss,omitempty"`
	Summary  string   `json:"summary,omitempty"`
	Path     string   `json:"path,omitempty"`
}

// Brief returns f as events carry it.
func Brief(f report.Finding) BriefFinding {
	b := BriefFinding{ID: f.ID, Kind: f.Kind, Severity: f.Severity.String(), Package: f.Package.Name,
		Version: f.Package.Version, PURL: f.Package.PURL, FixedIn: f.FixedIn, KEV: f.KEV != nil, EPSS: epssOf(f), Summary: f.Summary}
	for _, id := range f.IDs {
		if id != f.ID {
			b.Aliases = append(b.Aliases, id)
		}
	}
	if f.Location != nil {
		b.Path = f.Location.Path
	}
	return b
}

// PackageRef identifies the package a finding is in (see
// Result.Packages): a hash of its ecosystem, name, version, type and
// first path.
func PackageRef(p report.Package) string {
	path := ""
	if len(p.Paths) > 0 {
		path = p.Paths[0]
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{p.Ecosystem, p.Name, p.Version, p.Type, path}, "\x00")))
	return hex.EncodeToString(sum[:8])
}

// Key identifies a finding within an image across scans: a hash of its
// kind, its preferred id, the package and version it is in, and for
// secrets and misconfigurations where.
func Key(f report.Finding) string {
	k := []string{f.Kind, f.ID, f.Package.Ecosystem, f.Package.Name, f.Package.Version, f.Package.Type}
	if f.Location != nil {
		k = append(k, f.Location.Path, fmt.Sprint(f.Location.Line))
	} else if len(f.Package.Paths) > 0 {
		k = append(k, f.Package.Paths[0])
	}
	sum := sha256.Sum256([]byte(strings.Join(k, "\x00")))
	return hex.EncodeToString(sum[:16])
}

func epssOf(f report.Finding) float64 {
	if f.EPSS == nil {
		return 0
	}
	return f.EPSS.Score
}

// Query selects an image's findings.
type Query struct {
	// MinSeverity keeps findings at or above it; Severities, when set,
	// keeps exactly those.
	MinSeverity report.Severity
	Severities  []report.Severity
	// FixAvailable and KEV, when set, keep findings with (true) or
	// without (false) a fix, or a KEV listing.
	FixAvailable, KEV *bool
	// Kinds keeps these kinds only; empty keeps all.
	Kinds []string
	// Resolved lists resolved findings instead of open ones.
	Resolved bool
	// After continues a listing: findings ordered after this cursor.
	After int64
	// Limit caps the page: 1..1000, 0 means 100.
	Limit int
}

// Findings lists digest's findings matching q, most severe first, and the
// cursor of the next page (0 when none).
func (s *Store) Findings(ctx context.Context, digest string, q Query) ([]Finding, int64, error) {
	switch {
	case q.Limit == 0:
		q.Limit = 100
	case q.Limit < 0 || q.Limit > 1000:
		return nil, 0, fmt.Errorf("%w: limit %d outside 1..1000", ErrInvalid, q.Limit)
	}
	where := []string{"digest = ?"}
	args := []any{digest}
	if q.Resolved {
		where = append(where, "resolved_at IS NOT NULL")
	} else {
		where = append(where, "resolved_at IS NULL")
	}
	if len(q.Severities) > 0 {
		where = append(where, "severity IN ("+sqldb.Placeholders(len(q.Severities))+")")
		for _, v := range q.Severities {
			args = append(args, int(v))
		}
	} else if q.MinSeverity > report.Unknown {
		where, args = append(where, "severity >= ?"), append(args, int(q.MinSeverity))
	}
	if q.FixAvailable != nil {
		where, args = append(where, "fixable = ?"), append(args, *q.FixAvailable)
	}
	if q.KEV != nil {
		where, args = append(where, "kev = ?"), append(args, *q.KEV)
	}
	if len(q.Kinds) > 0 {
		where = append(where, "kind IN ("+sqldb.Placeholders(len(q.Kinds))+")")
		for _, k := range q.Kinds {
			args = append(args, k)
		}
	}
	// The cursor is the rank of the row in this order: severity first,
	// then id; encoded as severity*2^40 + id, ids staying below 2^40.
	order := "severity DESC, id"
	if q.After > 0 {
		sev, id := q.After>>40, q.After&(1<<40-1)
		where = append(where, "(severity < ? OR (severity = ? AND id > ?))")
		args = append(args, sev, sev, id)
	}
	args = append(args, q.Limit+1)
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`SELECT id, severity, data, first_seen, resolved_at FROM image_findings
		WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ?`), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("findings: list %s: %w", digest, err)
	}
	defer rows.Close()
	var out []Finding
	for rows.Next() {
		var (
			f        Finding
			id       int64
			sev      int64
			data     string
			first    int64
			resolved sql.NullInt64
		)
		if err := rows.Scan(&id, &sev, &data, &first, &resolved); err != nil {
			return nil, 0, fmt.Errorf("findings: list %s: %w", digest, err)
		}
		if err := json.Unmarshal([]byte(data), &f.Finding); err != nil {
			return nil, 0, fmt.Errorf("findings: stored finding %d: %w", id, err)
		}
		f.Seq = sev<<40 | id
		f.FirstSeen = time.Unix(0, first).UTC()
		if resolved.Valid {
			f.ResolvedAt = time.Unix(0, resolved.Int64).UTC()
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("findings: list %s: %w", digest, err)
	}
	if len(out) <= q.Limit {
		return out, 0, nil
	}
	out = out[:q.Limit]
	return out, out[q.Limit-1].Seq, nil
}

// Inventory returns the stored inventory of digest; ErrNotFound if none.
func (s *Store) Inventory(ctx context.Context, digest string) (*catalog.Inventory, error) {
	var b []byte
	err := s.db.R.QueryRowContext(ctx, s.db.Q(`SELECT inventory FROM image_inventories WHERE digest = ?`), digest).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("inventory of %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("findings: inventory of %s: %w", digest, err)
	}
	inv, err := decompress(b)
	if err != nil {
		return nil, fmt.Errorf("findings: inventory of %s: %w", digest, err)
	}
	return inv, nil
}

// ImagesWithKeys returns the digests of images holding a package judged by
// any of keys, sorted.
func (s *Store) ImagesWithKeys(ctx context.Context, keys []vulndb.Key) ([]string, error) {
	set := map[string]bool{}
	const batch = 200
	for start := 0; start < len(keys); start += batch {
		part := keys[start:min(start+batch, len(keys))]
		var conds []string
		var args []any
		for _, k := range part {
			conds = append(conds, "(ecosystem = ? AND name = ?)")
			args = append(args, k.Ecosystem, vulndb.NormalizeName(k.Ecosystem, k.Name))
		}
		rows, err := s.db.R.QueryContext(ctx, s.db.Q(`SELECT DISTINCT digest FROM image_advisory_keys WHERE `+strings.Join(conds, " OR ")), args...)
		if err != nil {
			return nil, fmt.Errorf("findings: images by key: %w", err)
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return nil, fmt.Errorf("findings: images by key: %w", err)
			}
			set[d] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("findings: images by key: %w", err)
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		out = append(out, d)
	}
	sort.Strings(out)
	return out, nil
}

// Inventoried returns up to limit digests with a stored inventory after
// the digest after, in order: every image a full re-match must visit.
func (s *Store) Inventoried(ctx context.Context, after string, limit int) ([]string, error) {
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`SELECT digest FROM image_inventories WHERE digest > ? ORDER BY digest LIMIT ?`), after, limit)
	if err != nil {
		return nil, fmt.Errorf("findings: inventoried images: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("findings: inventoried images: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Inventories are stored as gob in gzip: a rescan decodes thousands of
// them, and gob decodes the package lists several times faster than JSON.
func compress(inv *catalog.Inventory) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := gob.NewEncoder(zw).Encode(inv); err != nil {
		return nil, fmt.Errorf("findings: encode inventory: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxInventory bounds a decompressed inventory, against a corrupt row.
const maxInventory = 512 << 20

func decompress(b []byte) (*catalog.Inventory, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("stored inventory: %w", err)
	}
	defer zr.Close()
	var inv catalog.Inventory
	if err := gob.NewDecoder(io.LimitReader(zr, maxInventory)).Decode(&inv); err != nil {
		return nil, fmt.Errorf("stored inventory: %w", err)
	}
	return &inv, nil
}

func sortFindings(fs []report.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Severity != fs[j].Severity {
			return fs[i].Severity > fs[j].Severity
		}
		return Key(fs[i]) < Key(fs[j])
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// MatchedWith pages through the images with a stored inventory whose
// findings were matched with another advisory database version than
// version, by digest after after: what a rescan still has to visit.
func (s *Store) MatchedWith(ctx context.Context, notVersion, after string, limit int) ([]string, error) {
	rows, err := s.db.R.QueryContext(ctx, s.db.Q(`
		SELECT i.digest FROM image_inventories i JOIN image_scan_state s ON s.digest = i.digest
		WHERE s.vulndb_version <> ? AND i.digest > ? ORDER BY i.digest LIMIT ?`), notVersion, after, limit)
	if err != nil {
		return nil, fmt.Errorf("findings: stale images: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("findings: stale images: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// VersionsOf returns the advisory database version each of digests was
// last matched with ("" for images never matched); digests without a
// scan state are left out.
func (s *Store) VersionsOf(ctx context.Context, digests []string) (map[string]string, error) {
	out := make(map[string]string, len(digests))
	const batch = 500
	for start := 0; start < len(digests); start += batch {
		part := digests[start:min(start+batch, len(digests))]
		args := make([]any, len(part))
		for i, d := range part {
			args[i] = d
		}
		rows, err := s.db.R.QueryContext(ctx, s.db.Q(`SELECT digest, vulndb_version FROM image_scan_state WHERE digest IN (`+sqldb.Placeholders(len(part))+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("findings: versions: %w", err)
		}
		for rows.Next() {
			var d, v string
			if err := rows.Scan(&d, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("findings: versions: %w", err)
			}
			out[d] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("findings: versions: %w", err)
		}
	}
	return out, nil
}

// Advance records that images matched with version from would match the
// same with version to, because the change between the two cannot touch
// them: their findings stand, only the version moves. Images in except
// (those a rescan must still visit) keep from. It reports how many moved.
func (s *Store) Advance(ctx context.Context, from, to string, except []string) (int64, error) {
	skip := make(map[string]bool, len(except))
	for _, d := range except {
		skip[d] = true
	}
	var moved int64
	after := ""
	for {
		var page []string
		rows, err := s.db.R.QueryContext(ctx, s.db.Q(`SELECT digest FROM image_scan_state WHERE vulndb_version = ? AND digest > ? ORDER BY digest LIMIT 1000`), from, after)
		if err != nil {
			return moved, fmt.Errorf("findings: advance: %w", err)
		}
		for rows.Next() {
			var d string
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return moved, fmt.Errorf("findings: advance: %w", err)
			}
			page = append(page, d)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return moved, fmt.Errorf("findings: advance: %w", err)
		}
		if len(page) == 0 {
			return moved, nil
		}
		after = page[len(page)-1]
		var move []any
		for _, d := range page {
			if !skip[d] {
				move = append(move, d)
			}
		}
		if len(move) == 0 {
			continue
		}
		err = s.db.Write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, s.db.Q(`UPDATE image_scan_state SET vulndb_version = ? WHERE vulndb_version = ? AND digest IN (`+sqldb.Placeholders(len(move))+`)`),
				append([]any{to, from}, move...)...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			moved += n
			return err
		})
		if err != nil {
			return moved, fmt.Errorf("findings: advance: %w", err)
		}
	}
}
