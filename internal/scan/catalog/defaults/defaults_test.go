package defaults_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/defaults"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
)

// fixture catalogs the fixture image, built from real pieces of the app
// image, through an OCI layout on disk.
func fixture(t *testing.T) *catalog.Inventory {
	t.Helper()
	layers, err := ct.FixtureLayers("../testdata/fixture-src")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := ct.WriteLayout(dir, "fixture", layers); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	img, err := source.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	cat, err := defaults.New()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cat.Catalog(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Layers) != 4 {
		t.Fatalf("%d layers", len(inv.Layers))
	}
	return inv
}

func TestFixtureDpkg(t *testing.T) {
	inv := fixture(t)
	if d := inv.Distro; d == nil || d.ID != "debian" || d.VersionID != "12" || d.Codename != "bookworm" {
		t.Fatalf("distro %+v", inv.Distro)
	}
	want, err := os.ReadFile("testdata/fixture-dpkg.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Packages {
		if p.Type != "deb" {
			continue
		}
		if p.Layer != inv.Layers[0] {
			t.Errorf("%s attributed to %s, want the first layer", p.Name, p.Layer)
		}
		if p.Ecosystem != catalog.Debian || !slices.Equal(p.Paths, []string{"/var/lib/dpkg/status"}) {
			t.Errorf("%s: ecosystem %s paths %v", p.Name, p.Ecosystem, p.Paths)
		}
		u, err := packageurl.FromString(p.PURL)
		if err != nil {
			t.Fatalf("%s: %v", p.PURL, err)
		}
		q := u.Qualifiers.Map()
		if u.Namespace != "debian" || q["distro"] != "debian-12" || u.Version != p.Version {
			t.Errorf("purl %s", p.PURL)
		}
		got = append(got, strings.Join([]string{p.Name, p.Version, q["arch"], p.SourceName, p.SourceVersion}, "\t"))
	}
	slices.Sort(got)
	if g, w := strings.Join(got, "\n")+"\n", string(want); g != w {
		t.Errorf("dpkg packages differ from testdata/fixture-dpkg.txt (%d packages):\n%s", len(got), g)
	}
}

func TestFixtureLanguages(t *testing.T) {
	inv := fixture(t)
	var py, npmInstalled, golang, maven []string
	minimist := map[string]string{}
	for _, p := range inv.Packages {
		switch {
		case p.Ecosystem == catalog.Go:
			if p.Layer != inv.Layers[1] {
				t.Errorf("%s in layer %s, want the second", p.Name, p.Layer)
			}
			golang = append(golang, p.Name+"@"+p.Version)
		case p.Ecosystem == catalog.Maven:
			if p.Layer != inv.Layers[3] {
				t.Errorf("%s in layer %s, want the fourth", p.Name, p.Layer)
			}
			maven = append(maven, p.Name+"@"+p.Version)
		case p.Ecosystem == catalog.PyPI:
			if p.Layer != inv.Layers[3] {
				t.Errorf("%s in layer %s, want the fourth", p.Name, p.Layer)
			}
			if p.OwnedByOS {
				t.Errorf("%s marked owned by an OS package; its dpkg record is absent", p.Name)
			}
			py = append(py, strings.ToLower(p.Name)+"@"+p.Version)
		case p.Ecosystem == catalog.Npm && strings.Contains(p.Paths[0], "/node_modules/"):
			if p.Layer != inv.Layers[2] {
				t.Errorf("%s in layer %s, want the third", p.Name, p.Layer)
			}
			npmInstalled = append(npmInstalled, p.Name+"@"+p.Version)
			if p.Name == "minimist" {
				minimist[p.Version] = p.Paths[0]
			}
		}
	}
	slices.Sort(py)
	if want := []string{"certifi@2022.9.24", "idna@3.3", "requests@2.28.1", "urllib3@1.26.12"}; !slices.Equal(py, want) {
		t.Errorf("python %v, want %v", py, want)
	}
	for _, want := range []string{"stdlib@1.26.8", "github.com/gin-gonic/gin@v1.6.0", "golang.org/x/text@v0.3.5", "gopkg.in/yaml.v2@v2.2.8"} {
		if !slices.Contains(golang, want) {
			t.Errorf("Go packages lack %s: %v", want, golang)
		}
	}
	slices.Sort(maven)
	if want := []string{"org.apache.logging.log4j:log4j-jcl@2.19.0", "org.apache.logging.log4j:log4j-to-slf4j@2.19.0"}; !slices.Equal(maven, want) {
		t.Errorf("maven %v, want %v", maven, want)
	}
	if len(npmInstalled) != 65 {
		t.Errorf("%d installed npm packages, want 65", len(npmInstalled))
	}
	if !strings.Contains(minimist["0.0.10"], "/node_modules/optimist/node_modules/minimist/") || minimist["1.2.0"] == "" {
		t.Errorf("minimist %v", minimist)
	}
}

// TestFixtureOwnedByOS adds a dpkg file list for the Python packages in a
// fifth layer: they must then be marked as owned by the OS.
func TestFixtureOwnedByOS(t *testing.T) {
	layers, err := ct.FixtureLayers("../testdata/fixture-src")
	if err != nil {
		t.Fatal(err)
	}
	list := "/usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info\n/usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO\n"
	layers = append(layers, ct.Gzip(ct.Tar(ct.File("var/lib/dpkg/info/python3-urllib3.list", list))))
	cat, err := defaults.New()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cat.Catalog(context.Background(), ct.NewImage(layers...))
	if err != nil {
		t.Fatal(err)
	}
	owned := map[string]bool{}
	for _, p := range inv.Packages {
		if p.Ecosystem == catalog.PyPI {
			owned[strings.ToLower(p.Name)] = p.OwnedByOS
		}
	}
	if fmt.Sprint(owned) != "map[certifi:false idna:false requests:false urllib3:true]" {
		t.Errorf("owned %v", owned)
	}
}

func TestDirSourceMatchesLayout(t *testing.T) {
	// The first fixture layer as a plain root filesystem directory.
	ctx := context.Background()
	img, err := source.Open(ctx, "dir:"+filepath.Join("..", "testdata", "fixture-src", "1-debian"))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	cat, err := defaults.New()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cat.Catalog(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range inv.Packages {
		if p.Type == "deb" {
			n++
		}
	}
	if n != 88 || inv.Distro == nil || inv.Distro.ID != "debian" || inv.Image != "" {
		t.Errorf("dir source: %d deb packages, distro %+v, image %q", n, inv.Distro, inv.Image)
	}
}

// TestAlpineDistroQualifiers checks that OS packages get the image's
// distribution as ecosystem and purl qualifier once os-release is read,
// whichever layer it comes from.
func TestAlpineDistroQualifiers(t *testing.T) {
	db, err := os.ReadFile("../os/apk/testdata/installed")
	if err != nil {
		t.Fatal(err)
	}
	img := ct.NewImage(
		ct.Gzip(ct.Tar(ct.File("lib/apk/db/installed", string(db)))),
		ct.Gzip(ct.Tar(ct.File("etc/os-release", "ID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\n"))),
	)
	cat, err := defaults.New()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cat.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Packages {
		got = append(got, string(p.Ecosystem)+" "+p.PURL)
	}
	want := []string{
		"Alpine pkg:apk/alpine/busybox@1.36.1-r15?arch=x86_64&distro=alpine-3.19.1",
		"Alpine pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64&distro=alpine-3.19.1",
		"Alpine pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
}

// TestDirSourceNeverFollowsSymlinks scans a root filesystem whose package
// database and os-release are symlinks leading out of it or in loops:
// nothing outside the root may be read.
func TestDirSourceNeverFollowsSymlinks(t *testing.T) {
	outside := t.TempDir()
	status := "Package: leaked\nStatus: install ok installed\nVersion: 1\n"
	if err := os.WriteFile(filepath.Join(outside, "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg", "etc", "usr/lib", "loop"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	links := map[string]string{
		"var/lib/dpkg/status": filepath.Join(outside, "status"),
		"etc/os-release":      "../usr/lib/os-release",
		"usr/lib/os-release":  "/etc/os-release",
		"loop/a":              "b",
		"loop/b":              "a",
		"var/lib/dpkg/info":   outside,
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	img, err := source.Open(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	cat, err := defaults.New()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cat.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) != 0 || inv.Distro != nil {
		t.Errorf("read through symlinks: %+v distro %+v", inv.Packages, inv.Distro)
	}
}
