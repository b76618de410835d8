package dockerfile_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/moat-dev/moat/internal/dockerfile"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden lints every testdata/*.Dockerfile and compares the rule ids
// reported per line with testdata/findings.golden.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.Dockerfile")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata Dockerfiles: %v", err)
	}
	sort.Strings(files)
	l, err := dockerfile.New()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		findings, err := l.Lint(context.Background(), filepath.Base(name), f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fmt.Fprintf(&got, "== %s\n", filepath.Base(name))
		for _, x := range findings {
			fmt.Fprintf(&got, "%d %s\n", x.Line, x.Rule)
		}
	}
	const golden = "testdata/findings.golden"
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("findings differ from %s (run with -update after checking):\ngot:\n%s\nwant:\n%s", golden, got.String(), want)
	}
}
