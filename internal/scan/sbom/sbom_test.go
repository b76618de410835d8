package sbom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/defaults"
	"github.com/moat-dev/moat/internal/scan/sbom"
)

var update = flag.Bool("update", false, "rewrite golden files")

var fixed = []sbom.Option{
	sbom.WithClock(func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }),
	sbom.WithID(func() string { return "8f4b8e0c-7a1d-4c59-9d0e-2f3b5a6c7d8e" }),
	sbom.WithSubject("oci-archive:app.tar"),
	sbom.WithToolVersion("test"),
}

func sample() *catalog.Inventory {
	l1 := "sha256:" + strings.Repeat("1", 64)
	l2 := "sha256:" + strings.Repeat("2", 64)
	return &catalog.Inventory{
		Image:  "sha256:" + strings.Repeat("a", 64),
		Distro: &catalog.Distro{ID: "debian", VersionID: "12", Codename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Layers: []string{l1, l2},
		Packages: []catalog.Package{
			{Ecosystem: catalog.Debian, Name: "libc6", Version: "2.36-9+deb12u10", SourceName: "glibc", Type: "deb",
				PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12", Paths: []string{"/var/lib/dpkg/status"}, Layer: l1},
			{Ecosystem: catalog.Debian, Name: "bash", Version: "5.2.15-2+b7", SourceVersion: "5.2.15-2", Type: "deb",
				PURL: "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12", Paths: []string{"/var/lib/dpkg/status"}, Layer: l1},
			{Ecosystem: catalog.PyPI, Name: "urllib3", Version: "1.26.12", Type: "python", Licenses: []string{"MIT"}, OwnedByOS: true,
				PURL: "pkg:pypi/urllib3@1.26.12", Paths: []string{"/usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO"}, Layer: l2},
			{Ecosystem: catalog.Npm, Name: "lodash", Version: "4.17.15", Type: "npm", Licenses: []string{"MIT", "Apache-2.0 OR BSD-3-Clause"},
				PURL: "pkg:npm/lodash@4.17.15", Paths: []string{"/srv/app/node_modules/lodash/package.json"}, Layer: l2},
			{Ecosystem: catalog.Npm, Name: "odd", Version: "1.0.0", Type: "npm", Licenses: []string{"SEE LICENSE IN LICENSE.txt"},
				PURL: "pkg:npm/odd@1.0.0", Paths: []string{"/srv/app/node_modules/odd/package.json"}, Layer: l2},
		},
		Warnings: []string{"layer 222222222222: hard link /x to missing target /y"},
	}
}

func TestGolden(t *testing.T) {
	for _, f := range sbom.Formats() {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			if err := sbom.Write(&buf, f, sample(), fixed...); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "sample."+string(f)+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s output differs from %s (run with -update after checking):\n%s", f, golden, buf.String())
			}
		})
	}
}

func compile(t *testing.T, main string, resources map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for url, file := range resources {
		f, err := os.Open(filepath.Join("testdata", "schema", file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(main)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t *testing.T, s *jsonschema.Schema, b []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Errorf("invalid against schema: %v", err)
	}
}

// TestSchemas validates CycloneDX 1.6 and SPDX 2.3 output, of the sample
// and of the fixture image's real inventory, against the official schemas.
func TestSchemas(t *testing.T) {
	cdxSchema := compile(t, "http://cyclonedx.org/schema/bom-1.6.schema.json", map[string]string{
		"http://cyclonedx.org/schema/bom-1.6.schema.json":  "bom-1.6.schema.json",
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schema.json",
	})
	spdxSchema := compile(t, "http://spdx.org/rdf/terms/2.3", map[string]string{"http://spdx.org/rdf/terms/2.3": "spdx-schema-2.3.json"})

	layers, err := ct.FixtureLayers("../catalog/testdata/fixture-src")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := defaults.New()
	if err != nil {
		t.Fatal(err)
	}
	fixture, err := cat.Catalog(context.Background(), ct.NewImage(layers...))
	if err != nil {
		t.Fatal(err)
	}
	for name, inv := range map[string]*catalog.Inventory{"sample": sample(), "fixture": fixture} {
		for f, s := range map[sbom.Format]*jsonschema.Schema{sbom.CycloneDX: cdxSchema, sbom.SPDX: spdxSchema} {
			t.Run(name+"/"+string(f), func(t *testing.T) {
				var buf bytes.Buffer
				if err := sbom.Write(&buf, f, inv, fixed...); err != nil {
					t.Fatal(err)
				}
				validate(t, s, buf.Bytes())
				var doc map[string]any
				if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
					t.Fatal(err)
				}
				key := map[sbom.Format]string{sbom.CycloneDX: "components", sbom.SPDX: "packages"}[f]
				// CycloneDX adds the OS component, SPDX the image and OS packages.
				extra := map[sbom.Format]int{sbom.CycloneDX: 1, sbom.SPDX: 2}[f]
				if n := len(doc[key].([]any)); n != len(inv.Packages)+extra {
					t.Errorf("%d %s for %d packages", n, key, len(inv.Packages))
				}
			})
		}
	}
	// The validator itself must reject a broken document.
	bad := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"not-a-type","name":"x"}]}`)
	doc, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if cdxSchema.Validate(doc) == nil {
		t.Error("schema accepted an invalid component type")
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range sbom.Formats() {
		if got, err := sbom.ParseFormat(string(f)); err != nil || got != f {
			t.Errorf("%s: %v", f, err)
		}
	}
	if _, err := sbom.ParseFormat("xml"); !errors.Is(err, sbom.ErrUnknownFormat) {
		t.Errorf("xml: err = %v", err)
	}
}
