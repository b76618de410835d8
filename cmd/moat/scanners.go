package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/defaults"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
	"github.com/moat-dev/moat/internal/scan/misconfig"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/secrets"
)

// The scanners `moat scan --scanners` selects.
const (
	scanVuln   = "vuln"
	scanSecret = "secret"
	scanConfig = "config"
)

var allScanners = []string{scanVuln, scanSecret, scanConfig}

// errScanners reports a bad --scanners value.
var errScanners = errors.New("--scanners")

// scannerSet is the parsed --scanners value.
type scannerSet map[string]bool

func parseScanners(list string) (scannerSet, error) {
	set := scannerSet{}
	for _, s := range splitList(list) {
		s = strings.ToLower(s)
		if !slices.Contains(allScanners, s) {
			return nil, fmt.Errorf("%w: unknown scanner %q (want %s)", errScanners, s, strings.Join(allScanners, ", "))
		}
		set[s] = true
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("%w: name at least one of %s", errScanners, strings.Join(allScanners, ", "))
	}
	return set, nil
}

// newScanCatalog returns the catalog the selected scanners need: the
// package analyzers for vuln, the secret analyzer for secret (in the same
// pass over each layer), misconfig's entry hook for config.
func newScanCatalog(set scannerSet, sec *secrets.Scanner, opts ...catalog.Option) (*catalog.Catalog, error) {
	if set[scanSecret] {
		opts = append(opts, catalog.WithAnalyzer(secrets.NewAnalyzer(sec)))
	}
	if set[scanConfig] {
		opts = append(opts, catalog.WithEntryHook(misconfig.Hook{}))
	}
	if set[scanVuln] {
		return defaults.New(opts...)
	}
	return catalog.New(nil, opts...)
}

// newSecretScanner loads the built-in rules plus, when rulesFile is set,
// the user's rules.
func newSecretScanner(rulesFile string) (*secrets.Scanner, error) {
	if rulesFile == "" {
		return secrets.New()
	}
	var s *secrets.Scanner
	err := withOpen(rulesFile, func(r io.Reader) (err error) {
		s, err = secrets.New(secrets.WithRules(r))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("--secret-rules %s: %w", rulesFile, err)
	}
	return s, nil
}

// configFindings checks the image configuration: secrets in its
// environment, labels, command and history, and misconfigurations. A
// source without a configuration (a directory) yields a warning.
func configFindings(img source.Image, set scannerSet, sec *secrets.Scanner) ([]report.Finding, []string, error) {
	if !set[scanSecret] && !set[scanConfig] {
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
	if set[scanSecret] {
		oci := cfg.Image
		oci.Config = cfg.Config.ImageConfig // DockerOCIImage shadows it
		for _, f := range sec.ScanConfig(&oci) {
			out = append(out, report.FromCatalog(f.Catalog()))
		}
	}
	if set[scanConfig] {
		for _, f := range misconfig.CheckConfig(cfg) {
			out = append(out, report.FromCatalog(f.Catalog()))
		}
	}
	return out, nil, nil
}

// inventoryFindings are the inventory's secrets and misconfigurations of
// the selected kinds.
func inventoryFindings(inv *catalog.Inventory, set scannerSet) []report.Finding {
	var out []report.Finding
	for _, f := range inv.Findings {
		if (f.Kind == secrets.KindSecret && set[scanSecret]) || (f.Kind == misconfig.KindMisconfiguration && set[scanConfig]) {
			out = append(out, report.FromCatalog(f))
		}
	}
	return out
}
