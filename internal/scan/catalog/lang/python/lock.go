package python

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
)

// Poetry reads poetry.lock: one [[package]] table per locked distribution.
type Poetry struct{}

var _ catalog.Analyzer = Poetry{}

func (Poetry) Name() string { return "poetry-lock" }
func (Poetry) Version() int { return 1 }

func (Poetry) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxLockSize && base(path) == "poetry.lock"
}

func (Poetry) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxLockSize)
	if err != nil {
		return nil, fmt.Errorf("poetry.lock: %w", err)
	}
	var lf struct {
		Package []struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
		} `toml:"package"`
	}
	if err := toml.Unmarshal(b, &lf); err != nil {
		return nil, fmt.Errorf("poetry.lock: %w", err)
	}
	var out []catalog.Package
	for _, p := range lf.Package {
		if !validName(p.Name) || !validVersion(p.Version) {
			return nil, fmt.Errorf("poetry.lock: invalid package %q %q", p.Name, p.Version)
		}
		out = append(out, newPackage(p.Name, p.Version, f.Path, nil))
	}
	return &catalog.Result{Packages: out}, nil
}

// Pipfile reads Pipfile.lock, both its "default" and "develop" groups.
// Entries without a "==" version (VCS or editable installs) are skipped.
type Pipfile struct{}

var _ catalog.Analyzer = Pipfile{}

func (Pipfile) Name() string { return "pipfile-lock" }
func (Pipfile) Version() int { return 1 }

func (Pipfile) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxLockSize && base(path) == "Pipfile.lock"
}

func (Pipfile) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxLockSize)
	if err != nil {
		return nil, fmt.Errorf("Pipfile.lock: %w", err)
	}
	type entry struct {
		Version string `json:"version"`
	}
	var lf struct {
		Default map[string]entry `json:"default"`
		Develop map[string]entry `json:"develop"`
	}
	if err := json.Unmarshal(b, &lf); err != nil {
		return nil, fmt.Errorf("Pipfile.lock: %w", err)
	}
	var out []catalog.Package
	seen := map[string]bool{}
	for _, group := range []map[string]entry{lf.Default, lf.Develop} {
		names := make([]string, 0, len(group))
		for n := range group {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v, ok := strings.CutPrefix(group[n].Version, "==")
			if !ok {
				continue
			}
			if !validName(n) || !validVersion(v) {
				return nil, fmt.Errorf("Pipfile.lock: invalid package %q %q", n, v)
			}
			if k := Normalize(n) + "@" + v; !seen[k] {
				seen[k] = true
				out = append(out, newPackage(n, v, f.Path, nil))
			}
		}
	}
	return &catalog.Result{Packages: out}, nil
}

// Requirements reads pip requirements files (requirements*.txt) and
// reports exact pins only; ranges say nothing about what is installed.
type Requirements struct{}

var _ catalog.Analyzer = Requirements{}

func (Requirements) Name() string { return "pip-requirements" }
func (Requirements) Version() int { return 1 }

func (Requirements) Wants(path string, _ fs.FileMode, size int64) bool {
	b := base(path)
	return size <= maxLockSize && strings.HasPrefix(b, "requirements") && strings.HasSuffix(b, ".txt")
}

func (Requirements) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	sc := bufio.NewScanner(f.Content)
	sc.Buffer(make([]byte, 0, 4096), maxLineSize)
	var (
		out     []catalog.Package
		logical strings.Builder
		n       int
	)
	for sc.Scan() {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		line := sc.Text()
		if strings.HasSuffix(line, "\\") {
			if logical.Len()+len(line) > maxLineSize {
				return nil, fmt.Errorf("requirements line %d: continued line too long", n)
			}
			logical.WriteString(strings.TrimSuffix(line, "\\"))
			logical.WriteByte(' ')
			continue
		}
		logical.WriteString(line)
		req := logical.String()
		logical.Reset()
		if name, version, ok := parsePin(req); ok {
			out = append(out, newPackage(name, version, f.Path, nil))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("requirements line %d: %w", n+1, err)
	}
	return &catalog.Result{Packages: out}, nil
}

// parsePin recognizes "name[extras] == version ; marker --hash=..." lines.
func parsePin(line string) (name, version string, ok bool) {
	if i := strings.Index(line, " #"); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == '-' {
		return "", "", false
	}
	line, _, _ = strings.Cut(line, ";")
	line, _, _ = strings.Cut(line, " --")
	i := strings.IndexAny(line, "[=<>!~ @")
	if i <= 0 {
		return "", "", false
	}
	name, rest := line[:i], strings.TrimSpace(line[i:])
	if rest != "" && rest[0] == '[' {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return "", "", false
		}
		rest = strings.TrimSpace(rest[j+1:])
	}
	rest, ok = strings.CutPrefix(rest, "==")
	if !ok {
		return "", "", false
	}
	version = strings.TrimSpace(strings.TrimPrefix(rest, "="))
	if !validName(name) || !validVersion(version) || strings.ContainsAny(version, ",*") {
		return "", "", false
	}
	return name, version, true
}
