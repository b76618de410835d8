package golang

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"runtime/debug"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

const (
	minBinarySize = 1 << 10
	// maxBinarySize only bounds time: the stream is never held in memory.
	maxBinarySize = 2 << 30
)

// Binary reads the module graph and Go version of Go executables.
type Binary struct{}

var _ catalog.Analyzer = Binary{}

func (Binary) Name() string { return "go-binary" }
func (Binary) Version() int { return 2 }

func (Binary) Wants(_ string, mode fs.FileMode, size int64) bool {
	return mode&0o111 != 0 && size >= minBinarySize && size <= maxBinarySize
}

func (Binary) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	var magic [4]byte
	if _, err := io.ReadFull(f.Content, magic[:]); err != nil || !isExecutable(magic[:]) {
		return nil, nil // a script or data file; not ours
	}
	found, err := scanBuildInfo(ctx, io.MultiReader(strings.NewReader(string(magic[:])), f.Content))
	if err != nil {
		return nil, fmt.Errorf("go binary: %w", err)
	}
	switch {
	case found.goVersion == "" && found.modInfo == "" && found.legacy:
		return nil, fmt.Errorf("go binary: %w", ErrLegacyBuildInfo)
	case found.goVersion == "" && found.modInfo == "":
		return nil, nil // not a Go binary
	}
	bi := &debug.BuildInfo{}
	if found.modInfo != "" {
		if bi, err = debug.ParseBuildInfo(found.modInfo); err != nil {
			return nil, fmt.Errorf("go binary: module info: %w", err)
		}
	}
	bi.GoVersion = found.goVersion
	pkgs := Packages(bi, f.Path)
	if found.goVersion == "" && len(pkgs) > 0 {
		// Modules without the toolchain: say so rather than stay silent
		// about the standard library.
		pkgs[0].Warnings = append(pkgs[0].Warnings,
			"Go toolchain version not readable: the binary predates Go 1.18; its standard library is not reported")
	}
	return &catalog.Result{Packages: pkgs}, nil
}

// Packages converts build information into packages: the Go standard
// library at the toolchain's version, the main module and every dependency,
// with replacements honoured.
func Packages(bi *debug.BuildInfo, path string) []catalog.Package {
	var out []catalog.Package
	if v := toolchainVersion(bi.GoVersion); v != "" {
		out = append(out, stdlib(v, "go-stdlib", path))
	}
	if bi.Main.Path != "" {
		out = append(out, module(bi.Main.Path, bi.Main.Version, path))
	}
	for _, d := range bi.Deps {
		if d == nil || d.Path == "" {
			continue
		}
		p, v := d.Path, d.Version
		if r := d.Replace; r != nil {
			if local := r.Version == "" || r.Version == "(devel)" ||
				strings.HasPrefix(r.Path, ".") || strings.HasPrefix(r.Path, "/"); local {
				v = "(devel)" // replaced by a directory: no published version
			} else {
				p, v = r.Path, r.Version
			}
		}
		out = append(out, module(p, v, path))
	}
	return out
}

// toolchainVersion turns "go1.26.8" or "go1.21.0 X:boringcrypto" into
// "1.26.8"; development toolchains have no release version.
func toolchainVersion(v string) string {
	v, _, _ = strings.Cut(v, " ")
	if !strings.HasPrefix(v, "go1") {
		return ""
	}
	return strings.TrimPrefix(v, "go")
}

func stdlib(version, typ, path string) catalog.Package {
	return catalog.Package{
		Ecosystem: catalog.Go,
		Name:      "stdlib",
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeGolang, "", "stdlib", version, nil, "").ToString(),
		Type:      typ,
		Paths:     []string{path},
	}
}

func module(modPath, version, path string) catalog.Package {
	ns, name := "", modPath
	if i := strings.LastIndexByte(modPath, '/'); i >= 0 {
		ns, name = modPath[:i], modPath[i+1:]
	}
	return catalog.Package{
		Ecosystem: catalog.Go,
		Name:      modPath,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeGolang, ns, name, version, nil, "").ToString(),
		Type:      "go-module",
		Paths:     []string{path},
	}
}
