package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestCrane drives moat with crane, logged in with `crane auth login`:
// push, pull, copy, tag, append, catalog, manifest of a multi-arch index,
// and delete.
func TestCrane(t *testing.T) {
	crane := moatproc.RequireTool(t, "crane")
	s := moatproc.Start(t)
	rc, r := newRegistryClient(t, s), craneLogin(t, crane, s)
	tmp := t.TempDir()
	rnd := seededRand(t, "images")
	reg := s.Addr + "/e2e/crane"

	img := newImage(t, rnd, linuxAMD64, 3, 384*1024)
	layout := filepath.Join(tmp, "image")
	writeLayout(t, layout, "v1", img)

	// push: crane pushes the single image of an OCI layout.
	out := r.Run(crane, "push", "--insecure", layout, reg+"/app:v1")
	if !strings.Contains(out, img.Root.Digest.String()) {
		t.Errorf("crane push printed %q, want the digest %s", out, img.Root.Digest)
	}
	if got := rc.manifestDigest("e2e/crane/app", "v1"); got != img.Root.Digest {
		t.Fatalf("pushed digest %s, want %s", got, img.Root.Digest)
	}
	if got := strings.TrimSpace(r.Run(crane, "digest", "--insecure", reg+"/app:v1")); got != img.Root.Digest.String() {
		t.Errorf("crane digest = %s, want %s", got, img.Root.Digest)
	}
	raw := r.Run(crane, "manifest", "--insecure", reg+"/app:v1")
	if raw != string(img.RootBytes) {
		t.Errorf("crane manifest returned different bytes:\n%s\nwant\n%s", raw, img.RootBytes)
	}
	if got := r.Run(crane, "config", "--insecure", reg+"/app:v1"); digest.FromString(got) != mustConfigDigest(t, img) {
		t.Errorf("crane config digest %s, want %s", digest.FromString(got), mustConfigDigest(t, img))
	}

	// pull: back into an OCI layout, byte for byte.
	pulled := filepath.Join(tmp, "pulled")
	r.Run(crane, "pull", "--insecure", "--format=oci", reg+"/app:v1", pulled)
	checkLayoutMatches(t, pulled, "", img)

	// copy: to another repository (cross-repository mount) and back.
	r.Run(crane, "copy", "--insecure", reg+"/app:v1", reg+"/copy:v1")
	if got := rc.manifestDigest("e2e/crane/copy", "v1"); got != img.Root.Digest {
		t.Errorf("copied digest %s, want %s", got, img.Root.Digest)
	}

	// tag: a second tag on the same manifest.
	r.Run(crane, "tag", "--insecure", reg+"/app:v1", "v2")
	if got := rc.manifestDigest("e2e/crane/app", "v2"); got != img.Root.Digest {
		t.Errorf("tagged digest %s, want %s", got, img.Root.Digest)
	}
	if got := lines(r.Run(crane, "ls", "--insecure", reg+"/app")); !slices.Equal(got, []string{"v1", "v2"}) {
		t.Errorf("crane ls = %v, want [v1 v2]", got)
	}

	// append: a new layer on top of the pushed image, pushed by crane.
	extra, _ := newLayer(t, rnd, "appended", 100*1024)
	extraTar := filepath.Join(tmp, "extra.tar.gz")
	if err := os.WriteFile(extraTar, extra, 0o644); err != nil {
		t.Fatal(err)
	}
	r.Run(crane, "append", "--insecure", "-b", reg+"/app:v1", "-f", extraTar, "-t", reg+"/app:appended")
	var appended ocispec.Manifest
	body, status := rc.manifest("e2e/crane/app", "appended")
	if status != http.StatusOK {
		t.Fatalf("appended manifest: status %d: %s", status, body)
	}
	if err := json.Unmarshal(body, &appended); err != nil {
		t.Fatal(err)
	}
	if len(appended.Layers) != 4 {
		t.Errorf("appended image has %d layers, want 4", len(appended.Layers))
	}
	for _, l := range appended.Layers {
		if b, status := rc.blob("e2e/crane/app", l.Digest); status != http.StatusOK || digest.FromBytes(b) != l.Digest {
			t.Errorf("layer %s of the appended image: status %d", l.Digest, status)
		}
	}

	// manifest of a multi-arch index, and of one of its platforms.
	idx := newIndex(t, rnd, []ocispec.Platform{linuxAMD64, linuxARM64}, 2, 128*1024)
	idxLayout := filepath.Join(tmp, "index")
	writeLayout(t, idxLayout, "", idx)
	r.Run(crane, "push", "--insecure", "--index", idxLayout, reg+"/multi:v1")
	if got := r.Run(crane, "manifest", "--insecure", reg+"/multi:v1"); got != string(idx.RootBytes) {
		t.Errorf("crane manifest of the index returned different bytes:\n%s\nwant\n%s", got, idx.RootBytes)
	}
	arm := idx.Children[1]
	if got := r.Run(crane, "manifest", "--insecure", "--platform", "linux/arm64/v8", reg+"/multi:v1"); got != string(arm.RootBytes) {
		t.Errorf("crane manifest --platform linux/arm64/v8 returned\n%s\nwant\n%s", got, arm.RootBytes)
	}
	r.Run(crane, "copy", "--insecure", reg+"/multi:v1", reg+"/multi-copy:v1")
	if got := rc.manifestDigest("e2e/crane/multi-copy", "v1"); got != idx.Root.Digest {
		t.Errorf("copied index digest %s, want %s", got, idx.Root.Digest)
	}
	for _, ch := range idx.Children {
		if got := rc.manifestDigest("e2e/crane/multi-copy", ch.Root.Digest.String()); got != ch.Root.Digest {
			t.Errorf("child manifest %s missing from the copied index's repository", ch.Root.Digest)
		}
	}

	// index append: crane builds a new index from the two platform images.
	r.Run(crane, "index", "append", "--insecure",
		"-m", reg+"/multi@"+idx.Children[0].Root.Digest.String(),
		"-m", reg+"/multi@"+idx.Children[1].Root.Digest.String(),
		"-t", reg+"/multi:appended")
	var built ocispec.Index
	if err := json.Unmarshal([]byte(r.Run(crane, "manifest", "--insecure", reg+"/multi:appended")), &built); err != nil {
		t.Fatal(err)
	}
	if len(built.Manifests) != 2 || built.Manifests[0].Digest != idx.Children[0].Root.Digest ||
		built.Manifests[1].Digest != idx.Children[1].Root.Digest {
		t.Errorf("crane index append built %+v, want the two platform manifests", built.Manifests)
	}

	// catalog: every repository pushed above.
	catalog := lines(r.Run(crane, "catalog", "--insecure", s.Addr))
	for _, want := range []string{"e2e/crane/app", "e2e/crane/copy", "e2e/crane/multi", "e2e/crane/multi-copy"} {
		if !slices.Contains(catalog, want) {
			t.Errorf("crane catalog = %v, missing %s", catalog, want)
		}
	}

	// delete: by digest; every tag of it goes, the copy stays.
	r.Run(crane, "delete", "--insecure", reg+"/app@"+img.Root.Digest.String())
	if _, err := r.Try(crane, "manifest", "--insecure", reg+"/app:v1"); err == nil {
		t.Errorf("crane manifest of a deleted manifest's tag succeeded")
	}
	if _, status := rc.manifest("e2e/crane/app", img.Root.Digest.String()); status != http.StatusNotFound {
		t.Errorf("deleted manifest by digest: status %d, want 404", status)
	}
	if got := rc.manifestDigest("e2e/crane/copy", "v1"); got != img.Root.Digest {
		t.Errorf("delete in e2e/crane/app removed e2e/crane/copy:v1 (got %s)", got)
	}
	if got := lines(r.Run(crane, "ls", "--insecure", reg+"/app")); !slices.Equal(got, []string{"appended"}) {
		t.Errorf("crane ls after delete = %v, want [appended]", got)
	}
}

func mustConfigDigest(t *testing.T, c *content) digest.Digest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(c.RootBytes, &m); err != nil {
		t.Fatal(err)
	}
	return m.Config.Digest
}

// lines splits command output into sorted non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(string(bytes.TrimSpace([]byte(s))), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}
