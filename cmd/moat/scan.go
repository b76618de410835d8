package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/diskcache"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
	"github.com/moat-dev/moat/internal/scan/match"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/report/suppress"
	"github.com/moat-dev/moat/internal/scan/secrets"
	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// inventoryPrefix marks a SOURCE that is moat's JSON inventory (from
// `moat sbom -f json`), re-matched without reading any layer.
const inventoryPrefix = "inventory:"

type scanFlags struct {
	format, output, dbDir, severity, failOn, ignoreFile, cacheDir string
	scanners, secretRules                                         string
	vex                                                           []string
	ignoreUnfixed, insecure, noCache                              bool
}

func newScanCmd() *cobra.Command {
	var fl scanFlags
	cmd := &cobra.Command{
		Use:   "scan [flags] SOURCE",
		Short: "Scan an image for vulnerabilities, secrets and misconfigurations",
		Long: `Catalog an image (the same sources as moat sbom) and match its packages
against the local advisory database (moat db update / moat db import).

--scanners picks what to look for (default all, comma separated):
  vuln    vulnerable and end-of-life packages (needs the advisory database)
  secret  credentials in the image's files, environment, labels, command and
          build history, found in the same single pass over each layer and
          always reported redacted
  config  misconfigurations: running as root, setuid/setgid and world-writable
          files, shells, package managers and network tools, sensitive ports,
          no healthcheck, remote ADD and secrets in the build history
CycloneDX output carries vulnerabilities only.

SOURCE may also be inventory:FILE, a JSON inventory written by
moat sbom -f json, to re-match it without reading the image.

--fail-on SEVERITY makes the command exit with status 1 when a finding at or
above that severity remains after --severity, --ignore-unfixed, the ignore
file and VEX documents are applied; it then says on stderr how many findings
of each severity tripped it and names the first few. The ignore file is YAML:

  ignore:
    - id: CVE-2023-4911        # any id of the finding
      package: glibc           # optional: package, source package or purl
      reason: not reachable
      expires: 2026-12-31      # optional; expired entries no longer apply`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScan(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], fl, time.Now)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&fl.format, "format", "f", string(report.Table), "output format: table, json, sarif, cyclonedx")
	f.StringVarP(&fl.output, "output", "o", "", "write to FILE instead of standard output")
	f.StringVar(&fl.dbDir, "db", "", "advisory database directory (default: the user's cache directory)/moat/db")
	f.StringVar(&fl.severity, "severity", "", "report only these severities, comma separated (e.g. CRITICAL,HIGH)")
	f.BoolVar(&fl.ignoreUnfixed, "ignore-unfixed", false, "drop findings without a known fix")
	f.StringVar(&fl.failOn, "fail-on", "", "exit 1 when a finding at or above this severity remains")
	f.StringVar(&fl.ignoreFile, "ignorefile", "", "YAML file of accepted findings")
	f.StringArrayVar(&fl.vex, "vex", nil, "OpenVEX document marking findings not_affected or fixed (repeatable)")
	f.BoolVar(&fl.insecure, "insecure", false, "allow plain HTTP registries")
	f.StringVar(&fl.cacheDir, "cache-dir", "", "layer cache directory (default: the user's cache directory)")
	f.BoolVar(&fl.noCache, "no-cache", false, "neither read nor write the layer cache")
	f.StringVar(&fl.scanners, "scanners", strings.Join(allScanners, ","), "scanners to run, comma separated: vuln, secret, config")
	f.StringVar(&fl.secretRules, "secret-rules", "", "YAML file of secret rules added to the built-in ones")
	cmd.MarkFlagsMutuallyExclusive("cache-dir", "no-cache")
	return cmd
}

// gateNames is how many of the findings that trip --fail-on are named.
const gateNames = 5

func runScan(ctx context.Context, stdout, stderr io.Writer, target string, fl scanFlags, now func() time.Time) error {
	format, err := report.ParseFormat(fl.format)
	if err != nil {
		return err
	}
	keep, err := parseSeverities(fl.severity)
	if err != nil {
		return err
	}
	failOn := report.Severity(-1)
	if fl.failOn != "" {
		if failOn, err = report.ParseSeverity(fl.failOn); err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
	}
	var ignore *suppress.IgnoreFile
	if fl.ignoreFile != "" {
		if err := withOpen(fl.ignoreFile, func(r io.Reader) (err error) { ignore, err = suppress.ParseIgnore(r); return }); err != nil {
			return err
		}
	}
	var vexes []*suppress.VEX
	for _, p := range fl.vex {
		if err := withOpen(p, func(r io.Reader) error {
			v, err := suppress.ParseVEX(r)
			vexes = append(vexes, v)
			return err
		}); err != nil {
			return err
		}
	}
	set, err := parseScanners(fl.scanners)
	if err != nil {
		return err
	}
	var sec *secrets.Scanner
	if set[scanSecret] {
		if sec, err = newSecretScanner(fl.secretRules); err != nil {
			return err
		}
	}
	// Open the database while the image is cataloged: the two share
	// nothing, and the catalog mostly waits on decompression.
	type opened struct {
		db  *vulndb.DB
		err error
	}
	dbc := make(chan opened, 1)
	catCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if set[scanVuln] {
		dir, err := resolveDBDir(fl.dbDir)
		if err != nil {
			return err
		}
		go func() {
			db, err := vulndb.Open(dir)
			if err != nil {
				cancel() // no point reading the image
			}
			dbc <- opened{db, err}
		}()
	} else {
		dbc <- opened{}
	}
	sc, scanErr := loadScan(catCtx, target, fl, set, sec)
	o := <-dbc
	if o.db != nil {
		defer o.db.Close()
	}
	if errors.Is(o.err, vulndb.ErrNoDatabase) {
		return fmt.Errorf("%w: run `moat db update` or `moat db import PATH` first, or scan without it (--scanners secret,config)", o.err)
	}
	if o.err != nil {
		return o.err
	}
	if scanErr != nil {
		return scanErr
	}
	inv := sc.inv
	rep := &report.Report{
		Target: target, Image: inv.Image, Created: now().UTC(), Packages: len(inv.Packages),
		Warnings: append(append([]string(nil), inv.Warnings...), sc.warnings...),
	}
	if inv.Distro != nil {
		rep.Distro = inv.Distro.PrettyName
	}
	var found []report.Finding
	if db := o.db; db != nil {
		m, err := match.New(db, match.WithClock(now))
		if err != nil {
			return err
		}
		res, err := m.Match(ctx, inv)
		if err != nil {
			return err
		}
		meta := db.Meta()
		rep.DB = report.DBInfo{Version: meta.Version, Created: meta.Created}
		rep.Warnings = append(rep.Warnings, res.Warnings...)
		found = res.Findings
	}
	found = append(found, sc.located...)
	for _, f := range found {
		if keep != nil && !keep[f.Severity] {
			continue
		}
		if fl.ignoreUnfixed && f.Kind == report.KindVulnerability && f.FixedIn == "" {
			continue
		}
		rep.Findings = append(rep.Findings, f)
	}
	suppress.Apply(rep, ignore, vexes, now())

	w := stdout
	var file *os.File
	if fl.output != "" {
		if file, err = os.Create(fl.output); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	if err := report.Write(w, format, rep); err != nil {
		return err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return err
		}
	}
	if failOn >= 0 {
		// Say why the build fails: the report itself may have gone to a
		// file, or be SARIF nobody reads in the log.
		if g := report.CheckGate(rep, failOn, gateNames); g.Tripped() {
			fmt.Fprintf(stderr, "moat scan: --fail-on %s: %s\n", fl.failOn, g)
			return exitError(1)
		}
	}
	return nil
}

// scanned is what was read from the SOURCE: the inventory, the secrets
// and misconfigurations of its layers and configuration, and warnings.
type scanned struct {
	inv      *catalog.Inventory
	located  []report.Finding
	warnings []string
}

func loadScan(ctx context.Context, target string, fl scanFlags, set scannerSet, sec *secrets.Scanner) (*scanned, error) {
	if path, ok := strings.CutPrefix(target, inventoryPrefix); ok {
		var inv catalog.Inventory
		err := withOpen(path, func(r io.Reader) error {
			if err := json.NewDecoder(r).Decode(&inv); err != nil {
				return fmt.Errorf("inventory %s: %w", path, err)
			}
			return nil
		})
		sc := &scanned{inv: &inv, located: inventoryFindings(&inv, set)}
		if set[scanSecret] || set[scanConfig] {
			sc.warnings = append(sc.warnings, "an inventory holds no image configuration; only the secrets and misconfigurations it records are reported")
		}
		return sc, err
	}
	var srcOpts []source.Option
	if fl.insecure {
		srcOpts = append(srcOpts, source.WithPlainHTTPUnsafe())
	}
	var catOpts []catalog.Option
	if !fl.noCache {
		dir := fl.cacheDir
		if dir == "" {
			var err error
			if dir, err = diskcache.DefaultDir(); err != nil {
				return nil, fmt.Errorf("cache directory: %w (use --cache-dir or --no-cache)", err)
			}
		}
		c, err := diskcache.New(dir)
		if err != nil {
			return nil, err
		}
		catOpts = append(catOpts, catalog.WithCache(c))
	}
	img, err := source.Open(ctx, target, srcOpts...)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	cat, err := newScanCatalog(set, sec, catOpts...)
	if err != nil {
		return nil, err
	}
	inv, err := cat.Catalog(ctx, img)
	if err != nil {
		return nil, err
	}
	located, warnings, err := configFindings(img, set, sec)
	if err != nil {
		return nil, err
	}
	located = append(inventoryFindings(inv, set), located...)
	slices.SortStableFunc(located, func(a, b report.Finding) int {
		return cmp.Or(strings.Compare(a.Location.Path, b.Location.Path), cmp.Compare(a.Location.Line, b.Location.Line), strings.Compare(a.ID, b.ID))
	})
	return &scanned{inv: inv, located: located, warnings: warnings}, nil
}

func parseSeverities(list string) (map[report.Severity]bool, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	keep := map[report.Severity]bool{}
	for _, s := range splitList(list) {
		v, err := report.ParseSeverity(s)
		if err != nil {
			return nil, fmt.Errorf("--severity: %w", err)
		}
		keep[v] = true
	}
	return keep, nil
}

func withOpen(path string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(f)
}
