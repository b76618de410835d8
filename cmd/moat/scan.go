package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/scan"
	"github.com/moat-dev/moat/internal/scan/catalog/diskcache"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/report/suppress"
	"github.com/moat-dev/moat/internal/scan/vulndb"
)

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
	f.StringVar(&fl.scanners, "scanners", strings.Join(scan.All().Names(), ","), "scanners to run, comma separated: vuln, secret, config")
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
	req := scan.Request{Target: target}
	if req.Filter.Severities, err = parseSeverities(fl.severity); err != nil {
		return err
	}
	req.Filter.IgnoreUnfixed = fl.ignoreUnfixed
	failOn := report.Severity(-1)
	if fl.failOn != "" {
		if failOn, err = report.ParseSeverity(fl.failOn); err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
	}
	if fl.ignoreFile != "" {
		if err := withOpen(fl.ignoreFile, func(r io.Reader) (err error) { req.Filter.Ignore, err = suppress.ParseIgnore(r); return }); err != nil {
			return err
		}
	}
	for _, p := range fl.vex {
		if err := withOpen(p, func(r io.Reader) error {
			v, err := suppress.ParseVEX(r)
			req.Filter.VEX = append(req.Filter.VEX, v)
			return err
		}); err != nil {
			return err
		}
	}
	if req.Scanners, err = scan.ParseScanners(splitList(fl.scanners)); err != nil {
		return fmt.Errorf("--%w", err)
	}
	opts := []scan.Option{scan.WithClock(now)}
	if req.Scanners.Vuln {
		dir, err := resolveDBDir(fl.dbDir)
		if err != nil {
			return err
		}
		opts = append(opts, scan.WithAdvisories(scan.AdvisoryDir(dir)))
	}
	if fl.secretRules != "" && req.Scanners.Secret {
		rules, err := os.ReadFile(fl.secretRules)
		if err != nil {
			return fmt.Errorf("--secret-rules: %w", err)
		}
		opts = append(opts, scan.WithSecretRules(bytes.NewReader(rules)))
	}
	if fl.insecure {
		opts = append(opts, scan.WithSourceOptions(source.WithPlainHTTPUnsafe()))
	}
	if !fl.noCache {
		c, err := layerCache(fl.cacheDir)
		if err != nil {
			return err
		}
		opts = append(opts, scan.WithCache(c))
	}
	sc, err := scan.New(opts...)
	if err != nil {
		if fl.secretRules != "" {
			return fmt.Errorf("--secret-rules %s: %w", fl.secretRules, err)
		}
		return err
	}
	res, err := sc.Scan(ctx, req)
	if errors.Is(err, vulndb.ErrNoDatabase) {
		return fmt.Errorf("%w: run `moat db update` or `moat db import PATH` first, or scan without it (--scanners secret,config)", err)
	}
	if err != nil {
		return err
	}
	rep := res.Report

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

// layerCache opens the layer cache directory (default: the user's cache
// directory).
func layerCache(dir string) (*diskcache.Cache, error) {
	if dir == "" {
		var err error
		if dir, err = diskcache.DefaultDir(); err != nil {
			return nil, fmt.Errorf("cache directory: %w (use --cache-dir or --no-cache)", err)
		}
	}
	return diskcache.New(dir)
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
