package dotnet

import (
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/internal/langtest"
)

func TestDeps(t *testing.T) {
	b, err := os.ReadFile("testdata/app.deps.json")
	if err != nil {
		t.Fatal(err)
	}
	res, err := langtest.Analyze(t, Deps{}, "/app/app.deps.json", 0o644, b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := langtest.PURLs(res.Packages), "pkg:nuget/Newtonsoft.Json@13.0.1 pkg:nuget/System.Text.Encodings.Web@4.7.1"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, p := range res.Packages {
		if p.Ecosystem != catalog.NuGet || p.Type != "dotnet" {
			t.Errorf("bad package %+v", p)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, in := range []string{"", "{", `{"libraries":[]}`, `{"libraries":{"NoVersion":{"type":"package"}}}`, `{"libraries":{"a/1/2":{"type":"package"}}}`} {
		if _, err := (Deps{}).Analyze(t.Context(), &catalog.File{Path: "/a.deps.json", Content: strings.NewReader(in)}); err == nil {
			t.Errorf("no error for %q", in)
		}
	}
}

func FuzzDeps(f *testing.F) {
	langtest.Fuzz(f, Deps{}, "/a.deps.json", 0o644, langtest.Seed(f, "testdata/app.deps.json"))
}
