package memory_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/defaults"
)

const childEnv = "MOAT_CATALOG_MEMORY_CHILD"

// TestBoundedMemory catalogs a generated 2 GiB image in a child process
// and checks the child's peak RSS stays under 256 MiB.
func TestBoundedMemory(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		catalogSynthetic(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoundedMemory$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage")
	}
	peak := ru.Maxrss << 10 // kilobytes on Linux
	t.Logf("peak RSS cataloging 2 GiB: %d MiB; child says %s", peak>>20, strings.TrimSpace(string(out)))
	if peak > 256<<20 {
		t.Errorf("peak RSS %d MiB exceeds 256 MiB", peak>>20)
	}
	if !strings.Contains(string(out), "packages=") {
		t.Errorf("child did not report: %s", out)
	}
}

func catalogSynthetic(t *testing.T) {
	status, err := os.ReadFile("../../../internal/scan/catalog/testdata/fixture-src/1-debian/var/lib/dpkg/status")
	if err != nil {
		t.Fatal(err)
	}
	const quarter = 512 << 20
	img := &ct.Image{Ls: []catalog.Layer{
		&ct.SyntheticLayer{Size: quarter, Gzip: true, Seed: 1, Extra: map[string][]byte{"var/lib/dpkg/status": status}},
		&ct.SyntheticLayer{Size: quarter, Seed: 2, Manifests: 2000},
		&ct.SyntheticLayer{Size: quarter, Seed: 3},
		&ct.SyntheticLayer{Size: quarter, Gzip: true, Seed: 4},
	}}
	cat, err := defaults.New()
	if err != nil {
		t.Fatal(err)
	}
	inv, err := cat.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Packages) < 88+2000 {
		t.Errorf("only %d packages", len(inv.Packages))
	}
	hwm := ""
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				hwm = strings.Join(strings.Fields(l)[1:], " ")
			}
		}
	}
	fmt.Printf("packages=%d VmHWM=%s\n", len(inv.Packages), hwm)
}
