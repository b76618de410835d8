// Package scan is moat's image scanner as one service, which the CLI
// (moat scan, moat sbom) and the registry both call: it opens the
// advisory database, catalogs an image from any source (the registry's
// own storage included) in one pass over each layer, checks the image
// configuration for secrets and misconfigurations, matches the packages
// against the advisories, and filters and suppresses the findings.
//
// Callers choose where things come from: the advisory database (a
// directory opened per scan for the CLI, a vulndb.Live for the server),
// the layer cache (a directory, or the metadata database), and what to
// look for (Scanners). Output formats and exit codes stay with callers.
package scan

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/defaults"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
	"github.com/moat-dev/moat/internal/scan/match"
	"github.com/moat-dev/moat/internal/scan/misconfig"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/report/suppress"
	"github.com/moat-dev/moat/internal/scan/secrets"
	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// InventoryPrefix marks a target that is moat's JSON inventory (from
// `moat sbom -f json`), re-matched without reading any layer.
const InventoryPrefix = "inventory:"

// Scanners selects what a scan looks for.
type Scanners struct {
	// Vuln: vulnerable and end-of-life packages (needs the advisory
	// database).
	Vuln bool
	// Secret: credentials in files, environment, labels, command and
	// history, always reported redacted.
	Secret bool
	// Config: misconfigurations of the image and its files.
	Config bool
}

// All selects every scanner.
func All() Scanners { return Scanners{Vuln: true, Secret: true, Config: true} }

// Scanner names, as --scanners and the scanning configuration spell them.
const (
	NameVuln   = "vuln"
	NameSecret = "secret"
	NameConfig = "config"
)

// ErrScanners reports a bad scanner list.
var ErrScanners = errors.New("scanners")

// ParseScanners reads a list of scanner names ("vuln", "secret",
// "config").
func ParseScanners(names []string) (Scanners, error) {
	var s Scanners
	for _, n := range names {
		switch strings.ToLower(strings.TrimSpace(n)) {
		case NameVuln:
			s.Vuln = true
		case NameSecret:
			s.Secret = true
		case NameConfig:
			s.Config = true
		case "":
		default:
			return s, fmt.Errorf("%w: unknown scanner %q (want %s, %s, %s)", ErrScanners, n, NameVuln, NameSecret, NameConfig)
		}
	}
	if s == (Scanners{}) {
		return s, fmt.Errorf("%w: name at least one of %s, %s, %s", ErrScanners, NameVuln, NameSecret, NameConfig)
	}
	return s, nil
}

// Names lists the selected scanners.
func (s Scanners) Names() []string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{s.Vuln, NameVuln}, {s.Secret, NameSecret}, {s.Config, NameConfig}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// Kinds are the finding kinds these scanners report: what their result
// is the whole truth about.
func (s Scanners) Kinds() []string {
	var out []string
	if s.Vuln {
		out = append(out, report.KindVulnerability, report.KindEndOfLife)
	}
	if s.Secret {
		out = append(out, report.KindSecret)
	}
	if s.Config {
		out = append(out, report.KindMisconfiguration)
	}
	return out
}

// Advisories gives a scan the advisory database version to match with
// and the function that releases it. It fails with vulndb.ErrNoDatabase
// when there is none.
type Advisories func(ctx context.Context) (*vulndb.DB, func(), error)

// AdvisoryDir opens the database in dir for each scan (the CLI's way).
func AdvisoryDir(dir string) Advisories {
	return func(context.Context) (*vulndb.DB, func(), error) {
		db, err := vulndb.Open(dir)
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	}
}

// LiveAdvisories matches with a live database's current version (the
// server's way).
func LiveAdvisories(l *vulndb.Live) Advisories {
	return func(context.Context) (*vulndb.DB, func(), error) { return l.Acquire() }
}

// Scanner runs scans. It is safe for concurrent use.
type Scanner struct {
	advisories Advisories
	cache      catalog.Cache
	secrets    *secrets.Scanner
	srcOpts    []source.Option
	now        func() time.Time
	log        *slog.Logger

	mu       sync.Mutex
	catalogs map[Scanners]*catalog.Catalog // one per scanner set, for its in-flight sharing
}

// Option configures New.
type Option func(*Scanner) error

// WithAdvisories sets where the advisory database comes from. Without
// it, a scan for vulnerabilities fails with vulndb.ErrNoDatabase.
func WithAdvisories(a Advisories) Option {
	return func(s *Scanner) error {
		if a == nil {
			return errors.New("scan: nil advisories")
		}
		s.advisories = a
		return nil
	}
}

// WithCache sets the layer cache. Default: none; every layer is read.
func WithCache(c catalog.Cache) Option {
	return func(s *Scanner) error {
		if c == nil {
			return errors.New("scan: nil cache")
		}
		s.cache = c
		return nil
	}
}

// WithSecretRules adds the YAML secret rules of r to the built-in ones.
func WithSecretRules(r io.Reader) Option {
	return func(s *Scanner) error {
		sec, err := secrets.New(secrets.WithRules(r))
		if err != nil {
			return fmt.Errorf("secret rules: %w", err)
		}
		s.secrets = sec
		return nil
	}
}

// WithSourceOptions are passed to source.Open for targets named by
// string (e.g. source.WithPlainHTTPUnsafe for a local test registry).
func WithSourceOptions(opts ...source.Option) Option {
	return func(s *Scanner) error { s.srcOpts = append(s.srcOpts, opts...); return nil }
}

// WithClock sets the clock end-of-life findings, report times and
// suppression expiries are judged by. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Scanner) error {
		if now == nil {
			return errors.New("scan: nil clock")
		}
		s.now = now
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Scanner) error {
		if l == nil {
			return errors.New("scan: nil logger")
		}
		s.log = l
		return nil
	}
}

// New returns a Scanner.
func New(opts ...Option) (*Scanner, error) {
	s := &Scanner{now: time.Now, log: slog.Default(), catalogs: map[Scanners]*catalog.Catalog{}}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.secrets == nil {
		var err error
		if s.secrets, err = secrets.New(); err != nil {
			return nil, fmt.Errorf("scan: secret rules: %w", err)
		}
	}
	return s, nil
}

// Filter narrows and suppresses a scan's findings.
type Filter struct {
	// Severities keeps only these severities; nil keeps all.
	Severities map[report.Severity]bool
	// IgnoreUnfixed drops vulnerabilities without a known fix.
	IgnoreUnfixed bool
	Ignore        *suppress.IgnoreFile
	VEX           []*suppress.VEX
}

// Request is one scan.
type Request struct {
	// Target names the source: an OCI layout or archive, a docker-archive,
	// a directory, a registry reference, or InventoryPrefix+FILE. It is
	// opened unless Image or Inventory is given, and names the report.
	Target string
	// Image is an image already opened (e.g. source.OpenStored).
	Image source.Image
	// Inventory is an inventory to re-match without reading layers.
	Inventory *catalog.Inventory
	Scanners  Scanners
	Filter    Filter
	// MatchIfAvailable lets a vulnerability scan go on without an
	// advisory database: the image is cataloged and checked, its
	// packages are not matched, and Result.Matched says so.
	MatchIfAvailable bool
}

// Result is a scan's outcome.
type Result struct {
	// Report holds the findings left after Filter, suppressed ones apart.
	Report *report.Report
	// Inventory is the image's package inventory (the SBOM).
	Inventory *catalog.Inventory
	// Keys are the advisory keys the inventory is judged by (with Vuln).
	Keys []vulndb.Key
	// Matched reports that the packages were matched against advisories
	// (false for a Vuln scan without a database under MatchIfAvailable).
	Matched bool
}

// Scan runs req. The advisory database opens while the image is
// cataloged: the two share nothing, and cataloging mostly waits on
// decompression.
func (s *Scanner) Scan(ctx context.Context, req Request) (*Result, error) {
	if req.Scanners == (Scanners{}) {
		return nil, fmt.Errorf("%w: no scanner selected", ErrScanners)
	}
	type opened struct {
		db      *vulndb.DB
		release func()
		err     error
	}
	dbc := make(chan opened, 1)
	catCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if req.Scanners.Vuln {
		if s.advisories == nil {
			return nil, fmt.Errorf("%w: no advisory database configured", vulndb.ErrNoDatabase)
		}
		go func() {
			db, release, err := s.advisories(ctx)
			if err != nil && !(req.MatchIfAvailable && errors.Is(err, vulndb.ErrNoDatabase)) {
				cancel() // no point reading the image
			}
			dbc <- opened{db, release, err}
		}()
	} else {
		dbc <- opened{}
	}
	sc, scanErr := s.read(catCtx, req)
	o := <-dbc
	if o.release != nil {
		defer o.release()
	}
	if errors.Is(o.err, vulndb.ErrNoDatabase) && req.MatchIfAvailable {
		o.err = nil // cataloged and checked, not matched: Result.Matched says so
	}
	if o.err != nil {
		return nil, o.err
	}
	if scanErr != nil {
		return nil, scanErr
	}
	inv := sc.inv
	rep := &report.Report{
		Target: req.Target, Image: inv.Image, Created: s.now().UTC(), Packages: len(inv.Packages),
		Warnings: append(slices.Clone(inv.Warnings), sc.warnings...),
	}
	if inv.Distro != nil {
		rep.Distro = inv.Distro.PrettyName
	}
	res := &Result{Report: rep, Inventory: inv}
	var found []report.Finding
	if o.db != nil {
		m, err := s.matcher(o.db)
		if err != nil {
			return nil, err
		}
		mr, err := m.Match(ctx, inv)
		if err != nil {
			return nil, err
		}
		meta := o.db.Meta()
		rep.DB = report.DBInfo{Version: meta.Version, Created: meta.Created}
		rep.Warnings = append(rep.Warnings, mr.Warnings...)
		found = mr.Findings
		res.Keys = m.Keys(inv)
		res.Matched = true
	}
	found = append(found, sc.located...)
	f := req.Filter
	for _, x := range found {
		if f.Severities != nil && !f.Severities[x.Severity] {
			continue
		}
		if f.IgnoreUnfixed && x.Kind == report.KindVulnerability && x.FixedIn == "" {
			continue
		}
		rep.Findings = append(rep.Findings, x)
	}
	suppress.Apply(rep, f.Ignore, f.VEX, s.now())
	return res, nil
}

// Inventory catalogs the packages of the image target names (or img,
// when not nil), without matching: what moat sbom lists.
func (s *Scanner) Inventory(ctx context.Context, target string, img source.Image) (*catalog.Inventory, error) {
	if img == nil {
		var err error
		if img, err = source.Open(ctx, target, s.srcOpts...); err != nil {
			return nil, err
		}
		defer img.Close()
	}
	cat, err := s.catalog(Scanners{Vuln: true})
	if err != nil {
		return nil, err
	}
	return cat.Catalog(ctx, img)
}

// Rematch matches stored inventories against db again, each result at
// the same index: the vulnerability and end-of-life findings of a rescan.
func (s *Scanner) Rematch(ctx context.Context, db *vulndb.DB, invs []*catalog.Inventory) ([]*match.Result, error) {
	m, err := s.matcher(db)
	if err != nil {
		return nil, err
	}
	return m.MatchAll(ctx, invs)
}

// Judged returns the part of inv judged by keys (see match.Judged).
func (s *Scanner) Judged(db *vulndb.DB, inv *catalog.Inventory, keys []vulndb.Key) (*catalog.Inventory, error) {
	m, err := s.matcher(db)
	if err != nil {
		return nil, err
	}
	return m.Judged(inv, keys), nil
}

// Keys returns the advisory keys inv is judged by.
func (s *Scanner) Keys(db *vulndb.DB, inv *catalog.Inventory) ([]vulndb.Key, error) {
	m, err := s.matcher(db)
	if err != nil {
		return nil, err
	}
	return m.Keys(inv), nil
}

func (s *Scanner) matcher(db *vulndb.DB) (*match.Matcher, error) {
	return match.New(db, match.WithClock(s.now), match.WithLogger(s.log))
}

// scanned is what was read from the source: the inventory, the secrets
// and misconfigurations of its layers and configuration, and warnings.
type scanned struct {
	inv      *catalog.Inventory
	located  []report.Finding
	warnings []string
}

func (s *Scanner) read(ctx context.Context, req Request) (*scanned, error) {
	set := req.Scanners
	inv := req.Inventory
	if inv == nil {
		if path, ok := strings.CutPrefix(req.Target, InventoryPrefix); ok && req.Image == nil {
			var err error
			if inv, err = readInventory(path); err != nil {
				return nil, err
			}
		}
	}
	if inv != nil {
		sc := &scanned{inv: inv, located: inventoryFindings(inv, set)}
		if set.Secret || set.Config {
			sc.warnings = append(sc.warnings, "an inventory holds no image configuration; only the secrets and misconfigurations it records are reported")
		}
		return sc, nil
	}
	img := req.Image
	if img == nil {
		var err error
		if img, err = source.Open(ctx, req.Target, s.srcOpts...); err != nil {
			return nil, err
		}
		defer img.Close()
	}
	cat, err := s.catalog(set)
	if err != nil {
		return nil, err
	}
	inv, err = cat.Catalog(ctx, img)
	if err != nil {
		return nil, err
	}
	located, warnings, err := s.configFindings(img, set)
	if err != nil {
		return nil, err
	}
	located = append(inventoryFindings(inv, set), located...)
	slices.SortStableFunc(located, func(a, b report.Finding) int {
		return cmp.Or(strings.Compare(a.Location.Path, b.Location.Path), cmp.Compare(a.Location.Line, b.Location.Line), strings.Compare(a.ID, b.ID))
	})
	return &scanned{inv: inv, located: located, warnings: warnings}, nil
}

// maxInventoryFile bounds an inventory file read from disk.
const maxInventoryFile = 512 << 20

func readInventory(path string) (*catalog.Inventory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("inventory: %w", err)
	}
	defer f.Close()
	var inv catalog.Inventory
	if err := json.NewDecoder(io.LimitReader(f, maxInventoryFile)).Decode(&inv); err != nil {
		return nil, fmt.Errorf("inventory %s: %w", path, err)
	}
	return &inv, nil
}

// catalog returns the catalog the selected scanners need: the package
// analyzers for vuln, the secret analyzer for secret (in the same pass
// over each layer), misconfig's entry hook for config. Catalogs are kept
// per set, so that concurrent scans of images sharing a layer read it
// once.
func (s *Scanner) catalog(set Scanners) (*catalog.Catalog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.catalogs[set]; ok {
		return c, nil
	}
	opts := []catalog.Option{catalog.WithLogger(s.log)}
	if s.cache != nil {
		opts = append(opts, catalog.WithCache(s.cache))
	}
	if set.Secret {
		opts = append(opts, catalog.WithAnalyzer(secrets.NewAnalyzer(s.secrets)))
	}
	if set.Config {
		opts = append(opts, catalog.WithEntryHook(misconfig.Hook{}))
	}
	var (
		c   *catalog.Catalog
		err error
	)
	if set.Vuln {
		c, err = defaults.New(opts...)
	} else {
		c, err = catalog.New(nil, opts...)
	}
	if err != nil {
		return nil, err
	}
	s.catalogs[set] = c
	return c, nil
}

// configFindings checks the image configuration: secrets in its
// environment, labels, command and history, and misconfigurations. A
// source without a configuration (a directory) yields a warning.
func (s *Scanner) configFindings(img source.Image, set Scanners) ([]report.Finding, []string, error) {
	if !set.Secret && !set.Config {
		return nil, nil, nil
	}
	b, err := img.Config()
	if err != nil {
		return nil, nil, err
	}
	if b == nil {
		return nil, []string{"the source has no image configuration; its checks were skipped"}, nil
	}
	cfg, err := misconfig.ParseConfig(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("image configuration: %w", err)
	}
	var out []report.Finding
	if set.Secret {
		oci := cfg.Image
		oci.Config = cfg.Config.ImageConfig // DockerOCIImage shadows it
		for _, f := range s.secrets.ScanConfig(&oci) {
			out = append(out, report.FromCatalog(f.Catalog()))
		}
	}
	if set.Config {
		for _, f := range misconfig.CheckConfig(cfg) {
			out = append(out, report.FromCatalog(f.Catalog()))
		}
	}
	return out, nil, nil
}

// inventoryFindings are the inventory's secrets and misconfigurations of
// the selected kinds.
func inventoryFindings(inv *catalog.Inventory, set Scanners) []report.Finding {
	var out []report.Finding
	for _, f := range inv.Findings {
		if (f.Kind == secrets.KindSecret && set.Secret) || (f.Kind == misconfig.KindMisconfiguration && set.Config) {
			out = append(out, report.FromCatalog(f))
		}
	}
	return out
}
