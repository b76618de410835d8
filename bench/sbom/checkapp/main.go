// Command checkapp checks moat's inventory of the multi-ecosystem app image
// against what the image itself says, read independently of moat's
// analyzers: dpkg's status file, `go version -m` on the Go binary, npm's
// hidden lockfile (node_modules/.package-lock.json), the jars'
// pom.properties and the egg-info directory names. Each expectation must
// also be attributed to the layer that holds its files.
//
//	moat sbom -f json -o inv.json app-oci.tar && checkapp app-oci.tar inv.json
package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: checkapp OCI-ARCHIVE INVENTORY.json")
		os.Exit(2)
	}
	failed, err := run(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkapp:", err)
		os.Exit(2)
	}
	if failed > 0 {
		fmt.Printf("FAIL: %d checks failed\n", failed)
		os.Exit(1)
	}
	fmt.Println("PASS: all checks hold")
}

// expect is one ecosystem's expected packages, keyed "name@version", and
// the layer index that must hold them.
type expect struct {
	what  string
	eco   catalog.Ecosystem
	layer int
	pkgs  map[string]bool
	// match, when set, limits the moat packages compared (e.g. installed
	// npm packages, not lockfile entries).
	match func(p *catalog.Package) bool
	key   func(p *catalog.Package) string
}

func run(archive, invPath string) (int, error) {
	b, err := os.ReadFile(invPath)
	if err != nil {
		return 0, err
	}
	var inv catalog.Inventory
	if err := json.Unmarshal(b, &inv); err != nil {
		return 0, err
	}
	layers, err := readLayers(archive)
	if err != nil {
		return 0, err
	}
	if len(inv.Layers) != len(layers) {
		return 0, fmt.Errorf("inventory has %d layers, image %d", len(inv.Layers), len(layers))
	}
	var exps []expect
	for i, l := range layers {
		e, err := expectations(i, l)
		if err != nil {
			return 0, err
		}
		exps = append(exps, e...)
	}
	failed := 0
	for _, e := range exps {
		got := map[string]bool{}
		wrongLayer := []string{}
		for i := range inv.Packages {
			p := &inv.Packages[i]
			if p.Ecosystem != e.eco || (e.match != nil && !e.match(p)) {
				continue
			}
			k := nameAt(p)
			if e.key != nil {
				k = e.key(p)
			}
			if !e.pkgs[k] {
				continue
			}
			got[k] = true
			if p.Layer != inv.Layers[e.layer] {
				wrongLayer = append(wrongLayer, k)
			}
		}
		var missing []string
		for k := range e.pkgs {
			if !got[k] {
				missing = append(missing, k)
			}
		}
		sort.Strings(missing)
		status := "ok  "
		if len(missing) > 0 || len(wrongLayer) > 0 {
			status = "FAIL"
			failed++
		}
		fmt.Printf("%s %-40s %3d expected, %3d found in layer %d\n", status, e.what, len(e.pkgs), len(got)-len(wrongLayer), e.layer+1)
		for _, m := range missing {
			fmt.Printf("       missing %s\n", m)
		}
		for _, w := range wrongLayer {
			fmt.Printf("       wrong layer %s\n", w)
		}
	}
	return failed, nil
}

func nameAt(p *catalog.Package) string { return p.Name + "@" + p.Version }

// readLayers returns each layer's tar (uncompressed) from an OCI archive.
func readLayers(archive string) ([][]byte, error) {
	files := map[string][]byte{}
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			files[path.Clean(h.Name)] = b
		}
	}
	var idx struct{ Manifests []struct{ Digest string } }
	if err := json.Unmarshal(files["index.json"], &idx); err != nil || len(idx.Manifests) == 0 {
		return nil, fmt.Errorf("index.json: %v", err)
	}
	var man struct{ Layers []struct{ Digest string } }
	if err := json.Unmarshal(files[blob(idx.Manifests[0].Digest)], &man); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	var out [][]byte
	for _, l := range man.Layers {
		zr, err := gzip.NewReader(bytes.NewReader(files[blob(l.Digest)]))
		if err != nil {
			return nil, err
		}
		// The image's language layers end without a tar trailer; keep
		// what decompresses.
		b, _ := io.ReadAll(zr)
		out = append(out, b)
	}
	return out, nil
}

func blob(d string) string { return "blobs/" + strings.Replace(d, ":", "/", 1) }

// expectations reads one layer's files and derives what moat must find.
func expectations(i int, layer []byte) ([]expect, error) {
	var exps []expect
	add := func(e expect) {
		if len(e.pkgs) > 0 {
			e.layer = i
			exps = append(exps, e)
		}
	}
	dpkg := expect{what: "dpkg packages (status)", eco: catalog.Debian, pkgs: map[string]bool{},
		key: func(p *catalog.Package) string {
			return p.Name + "@" + p.Version + "/" + p.SourceName + "/" + p.SourceVersion
		}}
	npm := expect{what: "npm packages (node_modules)", eco: catalog.Npm, pkgs: map[string]bool{},
		match: func(p *catalog.Package) bool { return strings.Contains(p.Paths[0], "node_modules/") },
		key: func(p *catalog.Package) string {
			return strings.TrimSuffix(p.Paths[0], "/package.json") + "@" + p.Version
		}}
	maven := expect{what: "Maven coordinates (pom.properties)", eco: catalog.Maven, pkgs: map[string]bool{},
		key: func(p *catalog.Package) string {
			n := p.Name
			if !strings.Contains(n, ":") {
				n = "?:" + n
			}
			return n + "@" + p.Version
		}}
	python := expect{what: "Python packages (egg-info)", eco: catalog.PyPI, pkgs: map[string]bool{},
		key: func(p *catalog.Package) string { return strings.ToLower(p.Name) + "@" + p.Version }}
	gomod := expect{what: "Go modules and toolchain (go version -m)", eco: catalog.Go, pkgs: map[string]bool{},
		key: func(p *catalog.Package) string {
			if p.Name == "stdlib" && !strings.HasPrefix(p.Version, "go") {
				return "stdlib@go" + p.Version
			}
			return nameAt(p)
		}}
	eggRE := regexp.MustCompile(`/dist-packages/([^/]+)-([^-/]+)\.egg-info/PKG-INFO$`)

	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err != nil {
			break // the trailer-less layers end here too
		}
		name := "/" + strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if h.Typeflag != tar.TypeReg {
			continue
		}
		switch {
		case name == "/var/lib/dpkg/status":
			b, _ := io.ReadAll(tr)
			for k := range parseStatus(b) {
				dpkg.pkgs[k] = true
			}
		case strings.HasSuffix(name, "/node_modules/.package-lock.json"):
			b, _ := io.ReadAll(tr)
			var lock struct {
				Packages map[string]struct{ Version string } `json:"packages"`
			}
			if err := json.Unmarshal(b, &lock); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			root := strings.TrimSuffix(name, "node_modules/.package-lock.json")
			for k, v := range lock.Packages {
				if strings.HasPrefix(k, "node_modules/") {
					npm.pkgs[root+k+"@"+v.Version] = true
				}
			}
		case strings.HasSuffix(name, ".jar"):
			b, _ := io.ReadAll(tr)
			for _, c := range pomCoordinates(b) {
				maven.pkgs[c] = true
			}
		case eggRE.MatchString(name):
			m := eggRE.FindStringSubmatch(name)
			python.pkgs[strings.ToLower(m[1])+"@"+m[2]] = true
		case h.Mode&0o111 != 0 && h.Size > 1<<20:
			b, _ := io.ReadAll(tr)
			mods, err := goVersionM(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			for _, m := range mods {
				gomod.pkgs[m] = true
			}
		}
	}
	for _, e := range []expect{dpkg, gomod, npm, maven, python} {
		add(e)
	}
	return exps, nil
}

// parseStatus returns installed packages as "name@version/source/srcver"
// with source fields empty when equal to the binary's.
func parseStatus(b []byte) map[string]bool {
	out := map[string]bool{}
	for _, para := range strings.Split(string(b), "\n\n") {
		f := map[string]string{}
		for _, l := range strings.Split(para, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && l != "" && l[0] != ' ' {
				f[k] = strings.TrimSpace(v)
			}
		}
		if f["Package"] == "" || !strings.HasSuffix(f["Status"], " installed") {
			continue
		}
		sn, sv := "", ""
		if s := f["Source"]; s != "" {
			sn, sv, _ = strings.Cut(s, " ")
			sv = strings.Trim(sv, "()")
			if sn == f["Package"] {
				sn = ""
			}
			if sv == f["Version"] {
				sv = ""
			}
		}
		out[f["Package"]+"@"+f["Version"]+"/"+sn+"/"+sv] = true
	}
	return out
}

// pomCoordinates returns "group:artifact@version" from a jar's
// META-INF/maven/*/*/pom.properties.
func pomCoordinates(jar []byte) []string {
	zr, err := zip.NewReader(bytes.NewReader(jar), int64(len(jar)))
	if err != nil {
		return nil
	}
	var out []string
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, "META-INF/maven/") || !strings.HasSuffix(f.Name, "/pom.properties") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			continue
		}
		props := map[string]string{}
		sc := bufio.NewScanner(rc)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				props[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
		rc.Close()
		out = append(out, props["groupId"]+":"+props["artifactId"]+"@"+props["version"])
	}
	return out
}

// goVersionM runs `go version -m` on a binary and returns its modules and
// toolchain as "path@version" ("stdlib@go1.26.8" for the toolchain).
func goVersionM(bin []byte) ([]string, error) {
	dir, err := os.MkdirTemp("", "checkapp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "bin")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		return nil, err
	}
	out, err := exec.Command("go", "version", "-m", p).Output()
	if err != nil {
		return nil, nil // not a Go binary
	}
	var mods []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && strings.HasSuffix(f[0], ":"):
			mods = append(mods, "stdlib@"+f[1])
		case len(f) >= 3 && (f[0] == "dep" || f[0] == "mod") && f[2] != "(devel)":
			mods = append(mods, f[1]+"@"+f[2])
		}
	}
	return mods, nil
}
