package dotnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
)

const maxFileSize = 32 << 20

// Deps reads *.deps.json.
type Deps struct{}

var _ catalog.Analyzer = Deps{}

func (Deps) Name() string { return "dotnet-deps" }
func (Deps) Version() int { return 1 }

func (Deps) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxFileSize && strings.HasSuffix(path, ".deps.json")
}

func (Deps) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("deps.json: %w", err)
	}
	var doc struct {
		Libraries map[string]struct {
			Type string `json:"type"`
		} `json:"libraries"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("deps.json: %w", err)
	}
	keys := make([]string, 0, len(doc.Libraries))
	for k, lib := range doc.Libraries {
		if lib.Type == "package" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []catalog.Package
	for _, k := range keys {
		name, version, ok := strings.Cut(k, "/")
		if !ok || name == "" || version == "" || len(k) > 256 || strings.ContainsAny(k, " \t\r\n\\@") || strings.Contains(version, "/") {
			return nil, fmt.Errorf("deps.json: invalid library %q", k)
		}
		out = append(out, catalog.Package{
			Ecosystem: catalog.NuGet,
			Name:      name,
			Version:   version,
			PURL:      packageurl.NewPackageURL(packageurl.TypeNuget, "", name, version, nil, "").ToString(),
			Type:      "dotnet",
			Paths:     []string{f.Path},
		})
	}
	return &catalog.Result{Packages: out}, nil
}
