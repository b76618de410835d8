// Package langtest holds test helpers shared by the language analyzers:
// feeding files to an analyzer the way the catalog does, and fuzzing it.
package langtest

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Analyze offers content at path to a, failing the test if a does not want
// it, and returns what Analyze returns.
func Analyze(t testing.TB, a catalog.Analyzer, path string, mode fs.FileMode, content []byte) (*catalog.Result, error) {
	t.Helper()
	if !a.Wants(path, mode, int64(len(content))) {
		t.Fatalf("%s does not want %s", a.Name(), path)
	}
	return a.Analyze(context.Background(), &catalog.File{
		Path: path, Mode: mode, Size: int64(len(content)), Content: bytes.NewReader(content),
	})
}

// Tree offers every file under dir, mounted at root, to each analyzer that
// wants it, as a layer walk would, and returns all packages found. Any
// analyzer error fails the test.
func Tree(t testing.TB, dir, root string, as ...catalog.Analyzer) []catalog.Package {
	t.Helper()
	var out []catalog.Package
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		path := strings.TrimSuffix(root, "/") + "/" + filepath.ToSlash(rel)
		for _, a := range as {
			if !a.Wants(path, info.Mode(), info.Size()) {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			res, err := a.Analyze(context.Background(), &catalog.File{
				Path: path, Mode: info.Mode(), Size: info.Size(), Content: bytes.NewReader(b),
			})
			if err != nil {
				t.Errorf("%s on %s: %v", a.Name(), path, err)
				continue
			}
			if res != nil {
				out = append(out, res.Packages...)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Fuzz runs a on arbitrary content at path: it may return an error but
// must not panic, and every package it returns must be complete.
func Fuzz(f *testing.F, a catalog.Analyzer, path string, mode fs.FileMode, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := a.Analyze(context.Background(), &catalog.File{
			Path: path, Mode: mode, Size: int64(len(b)), Content: bytes.NewReader(b),
		})
		if err != nil || res == nil {
			return
		}
		for _, p := range res.Packages {
			if p.Name == "" || p.PURL == "" || p.Type == "" || len(p.Paths) == 0 {
				t.Fatalf("incomplete package %+v", p)
			}
		}
	})
}

// Seed reads a testdata file for a fuzz corpus.
func Seed(f *testing.F, path string) []byte {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// Find returns the packages named name.
func Find(pkgs []catalog.Package, name string) []catalog.Package {
	var out []catalog.Package
	for _, p := range pkgs {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// PURLs returns the sorted purls of pkgs, space separated, for comparison.
func PURLs(pkgs []catalog.Package) string {
	s := make([]string, len(pkgs))
	for i, p := range pkgs {
		s[i] = p.PURL
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}
