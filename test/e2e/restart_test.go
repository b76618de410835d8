package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestRestart stops moat and starts it again on the same data directory and
// database: everything pushed before, and an upload left half done, must
// still be there.
func TestRestart(t *testing.T) {
	crane := moatproc.RequireTool(t, "crane")
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		s := moatproc.Start(t, db)
		rnd := seededRand(t, "images")
		tmp := t.TempDir()

		rc, r := newRegistryClient(t, s), craneLogin(t, crane, s)
		img := newImage(t, rnd, linuxAMD64, 2, 256*1024)
		layout := filepath.Join(tmp, "image")
		writeLayout(t, layout, "v1", img)
		r.Run(crane, "push", "--insecure", layout, s.Addr+"/e2e/restart/app:v1")
		idx := newIndex(t, rnd, []ocispec.Platform{linuxAMD64, linuxARM64}, 1, 64*1024)
		rc.push("e2e/restart/multi", "v1", idx)

		// Half an upload: the first chunk goes in before the restart.
		pending := randomBytes(rnd, 300*1024)
		half := len(pending) / 2
		location := rc.startChunkedUpload("e2e/restart/pending", pending[:half])

		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
		// The robot, its policy and crane's login outlive the restart.
		s.Restart(t)

		pulled := filepath.Join(tmp, "pulled")
		r.Run(crane, "pull", "--insecure", "--format=oci", s.Addr+"/e2e/restart/app:v1", pulled)
		checkLayoutMatches(t, pulled, "", img)
		if got := rc.manifestDigest("e2e/restart/multi", "v1"); got != idx.Root.Digest {
			t.Errorf("index after restart: %s, want %s", got, idx.Root.Digest)
		}
		if got := rc.tags("e2e/restart/app"); !slices.Equal(got, []string{"v1"}) {
			t.Errorf("tags after restart = %v, want [v1]", got)
		}
		catalog := lines(r.Run(crane, "catalog", "--insecure", s.Addr))
		for _, want := range []string{"e2e/restart/app", "e2e/restart/multi"} {
			if !slices.Contains(catalog, want) {
				t.Errorf("catalog after restart = %v, missing %s", catalog, want)
			}
		}

		d := rc.finishChunkedUpload(location, half, pending[half:], digest.FromBytes(pending))
		if got, status := rc.blob("e2e/restart/pending", d); status != http.StatusOK || !bytes.Equal(got, pending) {
			t.Errorf("blob finished after the restart: status %d, %d bytes (want %d)", status, len(got), len(pending))
		}
	})
}

// TestConcurrentPushes has several crane processes push the same image into
// different repositories, and copy it into one repository under different
// tags, all at once, against a moat built with the race detector in CI.
func TestConcurrentPushes(t *testing.T) {
	crane := moatproc.RequireTool(t, "crane")
	s := moatproc.Start(t)
	rc, r := newRegistryClient(t, s), craneLogin(t, crane, s)
	rnd := seededRand(t, "images")
	img := newImage(t, rnd, linuxAMD64, 4, 256*1024)
	layout := filepath.Join(t.TempDir(), "image")
	writeLayout(t, layout, "v1", img)

	const n = 4
	parallel := func(args func(i int) []string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = r.Try(crane, args(i)...)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	}
	parallel(func(i int) []string {
		return []string{"push", "--insecure", layout, fmt.Sprintf("%s/e2e/concurrent/r%d:v1", s.Addr, i)}
	})
	parallel(func(i int) []string {
		return []string{"copy", "--insecure", fmt.Sprintf("%s/e2e/concurrent/r%d:v1", s.Addr, i), fmt.Sprintf("%s/e2e/concurrent/all:t%d", s.Addr, i)}
	})
	for i := range n {
		if got := rc.manifestDigest(fmt.Sprintf("e2e/concurrent/r%d", i), "v1"); got != img.Root.Digest {
			t.Errorf("r%d: %s, want %s", i, got, img.Root.Digest)
		}
	}
	if got := rc.tags("e2e/concurrent/all"); !slices.Equal(got, []string{"t0", "t1", "t2", "t3"}) {
		t.Errorf("tags of e2e/concurrent/all = %v", got)
	}
	for d, want := range img.Blobs {
		if got, status := rc.blob("e2e/concurrent/all", d); status != http.StatusOK || !bytes.Equal(got, want) {
			t.Errorf("blob %s: status %d, %d bytes", d, status, len(got))
		}
	}
}

// TestLargeLayer pushes and pulls an image with a 24 MiB layer through crane,
// which streams it, so nothing may be buffered or cut short on the way.
func TestLargeLayer(t *testing.T) {
	crane := moatproc.RequireTool(t, "crane")
	s := moatproc.Start(t)
	r := craneLogin(t, crane, s)
	rnd := seededRand(t, "images")
	img := newImage(t, rnd, linuxAMD64, 1, 24<<20)
	tmp := t.TempDir()
	layout := filepath.Join(tmp, "image")
	writeLayout(t, layout, "v1", img)
	r.Run(crane, "push", "--insecure", layout, s.Addr+"/e2e/large/app:v1")
	pulled := filepath.Join(tmp, "pulled")
	r.Run(crane, "pull", "--insecure", "--format=oci", s.Addr+"/e2e/large/app:v1", pulled)
	checkLayoutMatches(t, pulled, "", img)
}
