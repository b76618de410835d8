package misconfig_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/defaults"
	"github.com/moat-dev/moat/internal/scan/catalog/diskcache"
	"github.com/moat-dev/moat/internal/scan/misconfig"
)

// TestHookInCatalogPass runs the hook inside a real catalog pass over the
// app image's layer headers: the findings equal those of a collector fed
// every header, the setuid/setgid list is find -perm /6000's, and a warm
// cache (kept entries only, read back from disk) gives the same findings.
func TestHookInCatalogPass(t *testing.T) {
	var blobs [][]byte
	for i := 1; i <= 4; i++ {
		b, err := os.ReadFile(filepath.Join("testdata", "app", fmt.Sprintf("layer%d.tar.gz", i)))
		if err != nil {
			t.Fatal(err)
		}
		blobs = append(blobs, b)
	}
	img := ct.NewImage(blobs...)
	cache, err := diskcache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cat, err := defaults.New(catalog.WithCache(cache), catalog.WithEntryHook(misconfig.Hook{}))
	if err != nil {
		t.Fatal(err)
	}
	cold, err := cat.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	// The direct collector labels layers "layerN"; the catalog uses digests.
	var want []string
	for _, f := range collectFixture(t).Findings() {
		if n, ok := strings.CutPrefix(f.Layer, "layer"); ok {
			var i int
			fmt.Sscan(n, &i)
			f.Layer = img.Ls[i-1].Digest()
		}
		want = append(want, fmt.Sprintf("%+v", f.Catalog()))
	}
	got := func(inv *catalog.Inventory) []string {
		var out []string
		for _, f := range inv.Findings {
			out = append(out, fmt.Sprintf("%+v", f))
		}
		return out
	}
	if !sameSet(got(cold), want) {
		t.Errorf("catalog pass:\n%s\nwant\n%s", strings.Join(got(cold), "\n"), strings.Join(want, "\n"))
	}
	perm, err := os.ReadFile("testdata/app/find-perm-6000.txt")
	if err != nil {
		t.Fatal(err)
	}
	var special []string
	for _, f := range cold.Findings {
		if f.RuleID == misconfig.CheckSetuid {
			special = append(special, f.Path)
		}
	}
	if strings.Join(special, "\n")+"\n" != string(perm) {
		t.Errorf("setuid/setgid %v, want %v", special, strings.Fields(string(perm)))
	}
	warm, err := cat.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got(warm), got(cold)) {
		t.Errorf("warm cache:\n%s\ncold\n%s", strings.Join(got(warm), "\n"), strings.Join(got(cold), "\n"))
	}
}

func sameSet(a, b []string) bool {
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return len(a) == len(b)
}
