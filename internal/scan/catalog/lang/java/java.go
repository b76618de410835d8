package java

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/bounded"
)

const (
	maxArchiveSize  = 128 << 20
	maxEntries      = 100_000
	maxDepth        = 3
	maxNestedSize   = 32 << 20
	maxNestedTotal  = 128 << 20
	maxRatio        = 100
	maxPomSize      = 64 << 10
	maxManifestSize = 1 << 20
)

// Errors classify why an archive was refused.
var (
	ErrTooManyEntries = errors.New("archive has too many entries")
	ErrZipBomb        = errors.New("nested archive exceeds size or compression limits")
)

// Archive reads Java archives.
type Archive struct{}

var _ catalog.Analyzer = Archive{}

func (Archive) Name() string { return "java-archive" }
func (Archive) Version() int { return 2 }

func (Archive) Wants(p string, _ fs.FileMode, size int64) bool {
	return size > 0 && size <= maxArchiveSize && isArchive(p)
}

func isArchive(p string) bool {
	i := strings.LastIndexByte(p, '.')
	if i < 0 || len(p)-i != 4 {
		return false
	}
	switch strings.ToLower(p[i:]) {
	case ".jar", ".war", ".ear", ".jpi", ".hpi", ".par", ".sar":
		return true
	}
	return false
}

// limits bound the nested archives read for one top-level archive; tests
// shrink them.
type limits struct {
	depth       int
	nestedSize  uint64
	nestedTotal int64
}

func defaultLimits() limits {
	return limits{depth: maxDepth, nestedSize: maxNestedSize, nestedTotal: maxNestedTotal}
}

// walker carries the budget shared by one top-level archive and the
// archives nested in it.
type walker struct {
	limits
	ctx    context.Context
	path   string // the top-level archive in the image
	nested int64  // bytes of nested archives read so far
	out    []catalog.Package
	errs   []error // nested archives that could not be read
}

func (Archive) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := bounded.ReadAll(f.Content, maxArchiveSize)
	if err != nil {
		return nil, fmt.Errorf("java archive: %w", err)
	}
	w := &walker{limits: defaultLimits(), ctx: ctx, path: f.Path}
	if err := w.archive(b, path.Base(f.Path), 0); err != nil {
		return nil, fmt.Errorf("java archive: %w", err)
	}
	res := &catalog.Result{Packages: w.out}
	if len(w.errs) > 0 {
		// What the readable parts hold is kept alongside the error.
		return res, fmt.Errorf("java archive: %w", errors.Join(w.errs...))
	}
	return res, nil
}

func (w *walker) archive(b []byte, name string, depth int) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if err := checkEntryCount(b); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var (
		poms     []*zip.File
		pomXML   = map[string]*zip.File{}
		manifest *zip.File
		nested   []*zip.File
	)
	for _, zf := range zr.File {
		n := zf.Name
		switch {
		case strings.HasPrefix(n, "META-INF/maven/") && strings.HasSuffix(n, "/pom.properties") && strings.Count(n, "/") == 4:
			poms = append(poms, zf)
		case strings.HasPrefix(n, "META-INF/maven/") && strings.HasSuffix(n, "/pom.xml") && strings.Count(n, "/") == 4:
			pomXML[path.Dir(n)] = zf
		case n == "META-INF/MANIFEST.MF":
			manifest = zf
		case isArchive(n) && !zf.FileInfo().IsDir():
			nested = append(nested, zf)
		}
	}
	found := false
	for _, zf := range poms {
		p, ok, err := readPom(zf)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", name, zf.Name, err)
		}
		if !ok {
			continue
		}
		if x := pomXML[path.Dir(zf.Name)]; x != nil {
			// Licenses are optional: a POM that inherits them or does not
			// parse costs nothing but the licenses.
			p.Licenses, _ = readLicenses(x)
		}
		w.add(p)
		found = true
	}
	if !found && manifest != nil {
		p, ok, err := readManifest(manifest, name)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", name, manifest.Name, err)
		}
		if ok {
			w.add(p)
		}
	}
	if depth+1 >= w.depth {
		return nil
	}
	for _, zf := range nested {
		if err := w.nestedArchive(zf, name, depth+1); err != nil {
			if ctxErr := w.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			w.errs = append(w.errs, err)
		}
	}
	return nil
}

func (w *walker) nestedArchive(zf *zip.File, parent string, depth int) error {
	name := parent + "!/" + zf.Name
	size := zf.UncompressedSize64
	if size > w.nestedSize || w.nested+int64(size) > w.nestedTotal ||
		(size > 1<<20 && size/max(zf.CompressedSize64, 1) > maxRatio) {
		return fmt.Errorf("%s: %w (%d bytes from %d)", name, ErrZipBomb, size, zf.CompressedSize64)
	}
	rc, err := zf.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	b, err := bounded.ReadAll(rc, int64(size))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	w.nested += int64(len(b))
	return w.archive(b, name, depth)
}

func (w *walker) add(p catalog.Package) {
	p.Paths = []string{w.path}
	w.out = append(w.out, p)
}

// checkEntryCount reads the entry count from the end-of-central-directory
// record (or its zip64 form) so a directory of millions of tiny entries is
// refused before archive/zip allocates a File for each.
func checkEntryCount(b []byte) error {
	const eocdLen, zip64LocLen = 22, 20
	start := max(0, len(b)-eocdLen-0xffff)
	i := bytes.LastIndex(b[start:], []byte("PK\x05\x06"))
	if i < 0 || start+i+eocdLen > len(b) {
		return nil // let archive/zip report the format error
	}
	i += start
	n := uint64(binary.LittleEndian.Uint16(b[i+10:]))
	if n == 0xffff && i >= zip64LocLen && bytes.Equal(b[i-zip64LocLen:i-zip64LocLen+4], []byte("PK\x06\x07")) {
		off := binary.LittleEndian.Uint64(b[i-zip64LocLen+8:])
		if off+40 <= uint64(len(b)) && bytes.Equal(b[off:off+4], []byte("PK\x06\x06")) {
			n = binary.LittleEndian.Uint64(b[off+32:])
		}
	}
	if n > maxEntries {
		return fmt.Errorf("%w: %d", ErrTooManyEntries, n)
	}
	return nil
}

func readEntry(zf *zip.File, limit int64) ([]byte, error) {
	if zf.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%w (%d bytes)", bounded.ErrTooLarge, limit)
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return bounded.ReadAll(rc, limit)
}

func readPom(zf *zip.File) (catalog.Package, bool, error) {
	b, err := readEntry(zf, maxPomSize)
	if err != nil {
		return catalog.Package{}, false, err
	}
	props := parseProperties(b)
	g, a, v := props["groupId"], props["artifactId"], props["version"]
	if g == "" || a == "" || v == "" {
		return catalog.Package{}, false, nil // a partial file names nothing
	}
	if !validCoordinate(g) || !validCoordinate(a) || !validCoordinate(v) {
		return catalog.Package{}, false, fmt.Errorf("invalid coordinates %q:%q:%q", g, a, v)
	}
	return newPackage(g, a, v), true, nil
}

// readLicenses returns the license names a pom.xml declares itself.
// encoding/xml expands no custom entities, so a hostile POM cannot grow.
func readLicenses(zf *zip.File) ([]string, error) {
	b, err := readEntry(zf, maxManifestSize)
	if err != nil {
		return nil, err
	}
	var pom struct {
		Licenses []string `xml:"licenses>license>name"`
	}
	if err := xml.Unmarshal(b, &pom); err != nil {
		return nil, err
	}
	var out []string
	for _, l := range pom.Licenses {
		if l = strings.Join(strings.Fields(l), " "); l != "" && !strings.Contains(l, "${") {
			out = append(out, l)
		}
	}
	return out, nil
}

func validCoordinate(s string) bool {
	return len(s) <= 256 && !strings.ContainsAny(s, " \t\r\n/\\:")
}

func newPackage(group, artifact, version string) catalog.Package {
	name := artifact
	if group != "" {
		name = group + ":" + artifact
	}
	return catalog.Package{
		Ecosystem: catalog.Maven,
		Name:      name,
		Version:   version,
		PURL:      packageurl.NewPackageURL(packageurl.TypeMaven, group, artifact, version, nil, "").ToString(),
		Type:      "jar",
	}
}

// parseProperties reads the subset of the .properties format that Maven
// writes: key=value or key:value lines, # and ! comments.
func parseProperties(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1024), maxPomSize)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i <= 0 {
			continue
		}
		m[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return m
}

// readManifest names an archive without pom.properties from its manifest
// and file name ("commons-io-2.11.0.jar").
func readManifest(zf *zip.File, archiveName string) (catalog.Package, bool, error) {
	b, err := readEntry(zf, maxManifestSize)
	if err != nil {
		return catalog.Package{}, false, err
	}
	attrs := parseManifest(b)
	fileArtifact, fileVersion := splitFileName(path.Base(archiveName))
	version := first(attrs["Implementation-Version"], attrs["Bundle-Version"], attrs["Specification-Version"], fileVersion)
	artifact := first(fileArtifact, attrs["Implementation-Title"])
	symbolic, _, _ := strings.Cut(attrs["Bundle-SymbolicName"], ";")
	symbolic = strings.TrimSpace(symbolic)
	group := attrs["Implementation-Vendor-Id"]
	if group == "" && artifact != "" {
		group, _ = strings.CutSuffix(symbolic, "."+artifact)
		if group == symbolic {
			group = ""
		}
	}
	if artifact == "" {
		artifact = symbolic
	}
	if artifact == "" || version == "" {
		return catalog.Package{}, false, nil
	}
	artifact = strings.ReplaceAll(artifact, " ", "-")
	if !validCoordinate(group) {
		group = "" // a vendor's display name, not a groupId
	}
	if !validCoordinate(artifact) || !validCoordinate(version) {
		return catalog.Package{}, false, nil // free-text attributes that name nothing usable
	}
	return newPackage(group, artifact, version), true, nil
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseManifest returns the main section's attributes. Lines wrap at 72
// bytes, anywhere, even inside a name; a leading space marks the
// continuation.
func parseManifest(b []byte) map[string]string {
	var lines []string
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		if line == "" {
			break // end of the main section
		}
		if line[0] == ' ' && len(lines) > 0 {
			lines[len(lines)-1] += line[1:]
			continue
		}
		lines = append(lines, line)
	}
	m := map[string]string{}
	for _, line := range lines {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// splitFileName splits "jackson-core-2.14.1.jar" into "jackson-core" and
// "2.14.1": the version starts at the first "-" followed by a digit.
func splitFileName(name string) (artifact, version string) {
	name = name[:len(name)-len(path.Ext(name))]
	for i := 0; i+1 < len(name); i++ {
		if name[i] == '-' && name[i+1] >= '0' && name[i+1] <= '9' {
			return name[:i], name[i+1:]
		}
	}
	return name, ""
}
