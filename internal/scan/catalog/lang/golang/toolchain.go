package golang

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Toolchain reads the VERSION file at the root of a Go installation
// (/usr/local/go/VERSION, /usr/lib/go-1.19/VERSION) and reports the
// installed standard library as a runtime.
type Toolchain struct{}

var _ catalog.Analyzer = Toolchain{}

func (Toolchain) Name() string { return "go-toolchain" }
func (Toolchain) Version() int { return 1 }

func (Toolchain) Wants(path string, _ fs.FileMode, size int64) bool {
	dir, ok := strings.CutSuffix(path, "/VERSION")
	if !ok || size > 4096 {
		return false
	}
	d := dir[strings.LastIndexByte(dir, '/')+1:]
	return d == "go" || strings.HasPrefix(d, "go-1")
}

func (Toolchain) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	line, err := bufio.NewReader(io.LimitReader(f.Content, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("go VERSION: %w", err)
	}
	line = strings.TrimSpace(line)
	v := toolchainVersion(line)
	if v == "" || strings.ContainsAny(v, " \t/") {
		return nil, fmt.Errorf("go VERSION: not a Go release: %q", truncate(line))
	}
	return &catalog.Result{Packages: []catalog.Package{stdlib(v, "runtime", f.Path)}}, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
