package npm

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// maxLineSize bounds one line of a text lockfile.
const maxLineSize = 1 << 20

// Yarn reads yarn.lock, classic (v1, its own format) and berry (v2+, YAML).
// Both share a shape that a line reader handles without a YAML parser: an
// unindented header naming the descriptors, then indented fields.
// Workspace, link, portal and patch entries are skipped: they are the
// project itself or duplicates of a registry entry.
type Yarn struct{}

var _ catalog.Analyzer = Yarn{}

func (Yarn) Name() string { return "yarn-lock" }
func (Yarn) Version() int { return 1 }

func (Yarn) Wants(path string, _ fs.FileMode, size int64) bool {
	return size <= maxLockSize && base(path) == "yarn.lock" && !insideNodeModules(path)
}

type yarnEntry struct {
	header, version, resolution string
	soft                        bool
}

func (Yarn) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	sc := bufio.NewScanner(f.Content)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineSize)
	var (
		out  []catalog.Package
		cur  *yarnEntry
		seen = map[string]bool{}
		n    int
	)
	flush := func() error {
		if cur == nil {
			return nil
		}
		p, ok, err := cur.pkg(f.Path)
		cur = nil
		if err != nil || !ok {
			return err
		}
		if k := p.Name + "@" + p.Version; !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
		return nil
	}
	for sc.Scan() {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if line[0] != ' ' {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("yarn.lock line %d: %w", n, err)
			}
			if !strings.HasSuffix(line, ":") {
				return nil, fmt.Errorf("yarn.lock line %d: malformed entry header", n)
			}
			cur = &yarnEntry{header: strings.TrimSuffix(line, ":")}
			continue
		}
		if cur == nil || strings.HasPrefix(line, "   ") {
			continue // nested maps (dependencies) or leading junk
		}
		key, val := splitField(strings.TrimSpace(line))
		switch key {
		case "version":
			cur.version = val
		case "resolution":
			cur.resolution = val
		case "linkType":
			cur.soft = val == "soft"
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("yarn.lock: %w", err)
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("yarn.lock: %w", err)
	}
	return &catalog.Result{Packages: out}, nil
}

// splitField splits `version "1.0.0"` (classic) and `version: 1.0.0`
// (berry) into key and unquoted value.
func splitField(s string) (string, string) {
	i := strings.IndexAny(s, " :")
	if i < 0 {
		return s, ""
	}
	k, v := s[:i], strings.TrimSpace(strings.TrimPrefix(s[i:], ":"))
	return k, strings.Trim(v, `"'`)
}

func (e *yarnEntry) pkg(path string) (catalog.Package, bool, error) {
	if e.header == "__metadata" || e.soft {
		return catalog.Package{}, false, nil
	}
	desc := e.resolution
	if desc == "" {
		desc, _, _ = strings.Cut(e.header, ",")
	}
	desc = strings.Trim(strings.TrimSpace(desc), `"'`)
	name, rng := splitDescriptor(desc)
	for _, proto := range []string{"workspace:", "link:", "portal:", "patch:", "file:"} {
		if strings.HasPrefix(rng, proto) {
			return catalog.Package{}, false, nil
		}
	}
	if !validName(name) {
		return catalog.Package{}, false, fmt.Errorf("invalid package name %q", name)
	}
	if e.version == "" {
		return catalog.Package{}, false, fmt.Errorf("package %s has no version", name)
	}
	return newPackage(name, e.version, path, nil), true, nil
}

// splitDescriptor splits "name@range", where name may start with "@".
func splitDescriptor(d string) (string, string) {
	start := 0
	if strings.HasPrefix(d, "@") {
		start = 1
	}
	i := strings.IndexByte(d[start:], '@')
	if i < 0 {
		return d, ""
	}
	i += start
	return d[:i], d[i+1:]
}
