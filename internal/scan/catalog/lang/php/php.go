package php

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
)

const maxFileSize = 32 << 20

type composerPackage struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	License json.RawMessage `json:"license"`
}

func toPackages(list []composerPackage, path string) ([]catalog.Package, error) {
	var out []catalog.Package
	for _, c := range list {
		vendor, name, ok := strings.Cut(c.Name, "/")
		if !ok || vendor == "" || name == "" || strings.ContainsAny(c.Name, " \t\r\n\\@") || strings.Count(c.Name, "/") != 1 {
			return nil, fmt.Errorf("invalid package name %q", c.Name)
		}
		v := c.Version
		if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
			v = v[1:]
		}
		if v == "" || len(v) > 128 || strings.ContainsAny(v, " \t\r\n") {
			return nil, fmt.Errorf("package %s: invalid version %q", c.Name, c.Version)
		}
		out = append(out, catalog.Package{
			Ecosystem: catalog.Packagist,
			Name:      c.Name,
			Version:   v,
			PURL:      packageurl.NewPackageURL(packageurl.TypeComposer, vendor, name, v, nil, "").ToString(),
			Licenses:  licenses(c.License),
			Type:      "composer",
			Paths:     []string{path},
		})
	}
	return out, nil
}

// licenses accepts an array of SPDX ids or, in old files, one string.
func licenses(raw json.RawMessage) []string {
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return list
	}
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return []string{s}
	}
	return nil
}

// Installed reads vendor/composer/installed.json.
type Installed struct{}

var _ catalog.Analyzer = Installed{}

func (Installed) Name() string { return "composer-installed" }
func (Installed) Version() int { return 1 }

func (Installed) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxFileSize && strings.HasSuffix(path, "/composer/installed.json")
}

func (Installed) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("composer installed.json: %w", err)
	}
	var list []composerPackage
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		err = json.Unmarshal(b, &list) // Composer 1
	} else {
		var v2 struct {
			Packages []composerPackage `json:"packages"`
		}
		err = json.Unmarshal(b, &v2)
		list = v2.Packages
	}
	if err != nil {
		return nil, fmt.Errorf("composer installed.json: %w", err)
	}
	pkgs, err := toPackages(list, f.Path)
	if err != nil {
		return nil, fmt.Errorf("composer installed.json: %w", err)
	}
	return &catalog.Result{Packages: pkgs}, nil
}

// Lock reads composer.lock.
type Lock struct{}

var _ catalog.Analyzer = Lock{}

func (Lock) Name() string { return "composer-lock" }
func (Lock) Version() int { return 1 }

func (Lock) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxFileSize && strings.HasSuffix(path, "/composer.lock") && !strings.Contains(path, "/vendor/")
}

func (Lock) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("composer.lock: %w", err)
	}
	var lf struct {
		Packages    []composerPackage `json:"packages"`
		PackagesDev []composerPackage `json:"packages-dev"`
	}
	if err := json.Unmarshal(b, &lf); err != nil {
		return nil, fmt.Errorf("composer.lock: %w", err)
	}
	pkgs, err := toPackages(append(lf.Packages, lf.PackagesDev...), f.Path)
	if err != nil {
		return nil, fmt.Errorf("composer.lock: %w", err)
	}
	return &catalog.Result{Packages: pkgs}, nil
}
