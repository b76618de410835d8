package ruby

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

const (
	maxFileSize = 4 << 20
	maxLineSize = 64 << 10
)

func newPackage(name, version, path string, licenses []string) catalog.Package {
	return catalog.Package{
		Ecosystem: catalog.RubyGems,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeGem, "", name, version, nil, "").ToString(),
		Licenses:  licenses,
		Type:      "gem",
		Paths:     []string{path},
	}
}

func validGem(name, version string) bool {
	if name == "" || len(name) > 128 || version == "" || len(version) > 64 {
		return false
	}
	return !strings.ContainsAny(name+version, " \t\r\n/\\\"'")
}

func lines(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(io.LimitReader(r, maxFileSize))
	sc.Buffer(make([]byte, 0, 4096), maxLineSize)
	return sc
}

// Gemspec reads installed specifications.
type Gemspec struct{}

var _ catalog.Analyzer = Gemspec{}

func (Gemspec) Name() string { return "gemspec" }
func (Gemspec) Version() int { return 1 }

func (Gemspec) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxFileSize && strings.HasSuffix(path, ".gemspec") && strings.Contains(path, "/specifications/")
}

func (Gemspec) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	var name, version string
	var licenses []string
	sc := lines(f.Content)
	for n := 0; sc.Scan(); n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# stub: "); ok {
			if fields := strings.Fields(rest); len(fields) >= 2 && name == "" {
				name, version = fields[0], fields[1]
			}
			continue
		}
		attr, rhs, ok := assignment(line)
		if !ok {
			continue
		}
		switch attr {
		case "name":
			if s := quoted(rhs); len(s) > 0 {
				name = s[0]
			}
		case "version":
			if s := quoted(rhs); len(s) > 0 {
				version = s[0]
			}
		case "license", "licenses":
			licenses = append(licenses, quoted(rhs)...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("gemspec: %w", err)
	}
	if name == "" || version == "" {
		fn, fv := splitFileName(f.Path)
		name, version = first(name, fn), first(version, fv)
	}
	version, _, _ = strings.Cut(version, "-") // a platform: 1.13.10-x86_64-linux
	if !validGem(name, version) {
		return nil, fmt.Errorf("gemspec: no valid name and version (%q %q)", name, version)
	}
	return &catalog.Result{Packages: []catalog.Package{newPackage(name, version, f.Path, licenses)}}, nil
}

// assignment recognizes `s.attr = value` (any receiver name).
func assignment(line string) (attr, rhs string, ok bool) {
	lhs, rhs, ok := strings.Cut(line, "=")
	if !ok || strings.HasPrefix(rhs, "=") || strings.HasPrefix(rhs, "~") {
		return "", "", false
	}
	lhs = strings.TrimSpace(lhs)
	dot := strings.IndexByte(lhs, '.')
	if dot <= 0 || strings.ContainsAny(lhs, " ([") {
		return "", "", false
	}
	return lhs[dot+1:], rhs, true
}

// quoted returns the string literals in s ("MIT".freeze, 'MIT').
func quoted(s string) []string {
	var out []string
	for {
		i := strings.IndexAny(s, `"'`)
		if i < 0 {
			return out
		}
		q := s[i]
		j := strings.IndexByte(s[i+1:], q)
		if j < 0 {
			return out
		}
		out = append(out, s[i+1:i+1+j])
		s = s[i+2+j:]
	}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// splitFileName splits ".../rake-13.0.6.gemspec": the version follows the
// last "-" that precedes a digit.
func splitFileName(path string) (string, string) {
	b := strings.TrimSuffix(path[strings.LastIndexByte(path, '/')+1:], ".gemspec")
	for i := len(b) - 2; i > 0; i-- {
		if b[i] == '-' && b[i+1] >= '0' && b[i+1] <= '9' {
			return b[:i], b[i+1:]
		}
	}
	return b, ""
}

// GemfileLock reads Gemfile.lock: the specs of its GEM, GIT and PATH
// sections, four-space indented "name (version)" lines.
type GemfileLock struct{}

var _ catalog.Analyzer = GemfileLock{}

func (GemfileLock) Name() string { return "gemfile-lock" }
func (GemfileLock) Version() int { return 1 }

func (GemfileLock) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxFileSize && strings.HasSuffix(path, "/Gemfile.lock")
}

func (GemfileLock) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	var (
		out     []catalog.Package
		section string
		inSpecs bool
	)
	seen := map[string]bool{}
	sc := lines(f.Content)
	for n := 0; sc.Scan(); n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		line := sc.Text()
		switch {
		case line == "":
			continue
		case line[0] != ' ':
			section, inSpecs = line, false
			continue
		case line == "  specs:":
			inSpecs = section == "GEM" || section == "GIT" || section == "PATH"
			continue
		}
		if !inSpecs || !strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "     ") {
			continue
		}
		name, rest, ok := strings.Cut(strings.TrimSpace(line), " (")
		version, ok2 := strings.CutSuffix(rest, ")")
		if !ok || !ok2 {
			return nil, fmt.Errorf("Gemfile.lock line %d: malformed spec %q", n+1, line)
		}
		version, _, _ = strings.Cut(version, "-") // platform
		if !validGem(name, version) {
			return nil, fmt.Errorf("Gemfile.lock line %d: invalid gem %q %q", n+1, name, version)
		}
		if k := name + "@" + version; !seen[k] {
			seen[k] = true
			out = append(out, newPackage(name, version, f.Path, nil))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("Gemfile.lock: %w", err)
	}
	return &catalog.Result{Packages: out}, nil
}
