package npm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
)

// Installed reads node_modules/<name>/package.json and
// node_modules/@scope/<name>/package.json at any nesting depth. Other
// package.json files (a package's own subdirectories, the project root) are
// not installed packages and are not wanted.
type Installed struct{}

var _ catalog.Analyzer = Installed{}

func (Installed) Name() string { return "npm-installed" }
func (Installed) Version() int { return 1 }

func (Installed) Wants(path string, _ fs.FileMode, size int64) bool {
	if size > maxManifestSize || !strings.HasSuffix(path, "/package.json") {
		return false
	}
	return installedName(path) != ""
}

// installedName returns the package directory name as node_modules lays it
// out ("lodash", "@types/node"), or "" when path is not a package manifest.
func installedName(path string) string {
	dir := strings.TrimSuffix(path, "/package.json")
	i := strings.LastIndex(dir, "/node_modules/")
	if i < 0 {
		return ""
	}
	rest := dir[i+len("/node_modules/"):]
	switch strings.Count(rest, "/") {
	case 0:
		if rest == "" || rest[0] == '.' || rest[0] == '@' {
			return ""
		}
	case 1:
		if rest[0] != '@' {
			return ""
		}
	default:
		return ""
	}
	return rest
}

type manifest struct {
	Name     string          `json:"name"`
	Version  string          `json:"version"`
	License  json.RawMessage `json:"license"`
	Licenses json.RawMessage `json:"licenses"`
}

func (Installed) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("npm package.json: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("npm package.json: %w", err)
	}
	name := m.Name
	if name == "" {
		name = installedName(f.Path)
	}
	if !validName(name) {
		return nil, fmt.Errorf("npm package.json: invalid package name %q", name)
	}
	if m.Version == "" {
		return nil, fmt.Errorf("npm package.json: package %s has no version", name)
	}
	lic := licenses(m.License)
	if len(lic) == 0 {
		lic = licenses(m.Licenses)
	}
	p := newPackage(name, m.Version, f.Path, lic)
	return &catalog.Result{Packages: []catalog.Package{p}}, nil
}

// licenses accepts the forms package.json has used over the years: "MIT",
// {"type": "MIT"}, and arrays of either.
func licenses(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s = strings.TrimSpace(s); s != "" {
			return []string{s}
		}
		return nil
	}
	var o struct {
		Type string `json:"type"`
	}
	if raw[0] == '{' && json.Unmarshal(raw, &o) == nil {
		return licenses(mustQuote(o.Type))
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return nil
	}
	var out []string
	for _, item := range list {
		if len(item) > 0 && item[0] == '[' {
			continue // no nested arrays in any real manifest
		}
		out = append(out, licenses(item)...)
	}
	return out
}

func mustQuote(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
