package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestPodman logs in with `podman login`, then pulls from and pushes to
// moat with podman in a sandbox (see moatproc.NewPodman).
func TestPodman(t *testing.T) {
	s := moatproc.Start(t)
	rc := newRegistryClient(t, s)
	rnd := seededRand(t, "images")
	podman := moatproc.NewPodman(t, s)
	pm := podman.Run
	inspect := func(ref, format string) string {
		t.Helper()
		return strings.TrimSpace(pm("image", "inspect", "--format", format, ref))
	}

	pm("login", "-u", s.Robot.Username, "-p", s.Robot.Password, s.Addr)

	// pull: an image put into moat over the API.
	img := newImage(t, rnd, linuxAMD64, 3, 256*1024)
	rc.push("e2e/podman/src", "v1", img)
	src := s.Addr + "/e2e/podman/src:v1"
	pm("pull", src)
	configDigest := mustConfigDigest(t, img)
	if got := inspect(src, "{{.Id}}"); got != configDigest.Encoded() {
		t.Errorf("pulled image ID %s, want the config digest %s", got, configDigest.Encoded())
	}
	if got := inspect(src, "{{.Digest}}"); got != img.Root.Digest.String() {
		t.Errorf("pulled image digest %s, want %s", got, img.Root.Digest)
	}

	// push: the pulled image under a new name, then pull it back.
	pushed := s.Addr + "/e2e/podman/pushed:v1"
	pm("tag", src, pushed)
	pm("push", pushed)
	checkPushedImage(t, rc, "e2e/podman/pushed", "v1", configDigest, 3)

	// push an image podman built itself, so every layer is a new upload.
	layer, _ := newLayer(t, rnd, "imported", 200*1024)
	layerPath := filepath.Join(t.TempDir(), "layer.tar.gz")
	if err := os.WriteFile(layerPath, layer, 0o644); err != nil {
		t.Fatal(err)
	}
	imported := s.Addr + "/e2e/podman/imported:v1"
	pm("import", layerPath, imported)
	importedID := inspect(imported, "{{.Id}}")
	pm("push", imported)
	checkPushedImage(t, rc, "e2e/podman/imported", "v1", digest.NewDigestFromEncoded(digest.SHA256, importedID), 1)

	// pull both back into an empty store.
	pm("rmi", "--all", "--force")
	pm("pull", pushed)
	if got := inspect(pushed, "{{.Id}}"); got != configDigest.Encoded() {
		t.Errorf("re-pulled image ID %s, want %s", got, configDigest.Encoded())
	}
	pm("pull", imported)
	if got := inspect(imported, "{{.Id}}"); got != importedID {
		t.Errorf("re-pulled imported image ID %s, want %s", got, importedID)
	}
}

// checkPushedImage checks that the manifest at repo:tag names the expected
// config and nLayers layers, and that all of them can be fetched intact.
func checkPushedImage(t *testing.T, rc *registryClient, repo, tag string, config digest.Digest, nLayers int) {
	t.Helper()
	body, status := rc.manifest(repo, tag)
	if status != http.StatusOK {
		t.Fatalf("GET manifest %s:%s after push: status %d: %s", repo, tag, status, body)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("pushed manifest: %v: %s", err, body)
	}
	if m.Config.Digest != config {
		t.Errorf("pushed manifest's config %s, want %s", m.Config.Digest, config)
	}
	if len(m.Layers) != nLayers {
		t.Errorf("pushed manifest has %d layers, want %d", len(m.Layers), nLayers)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		b, status := rc.blob(repo, d.Digest)
		if status != http.StatusOK || digest.FromBytes(b) != d.Digest || int64(len(b)) != d.Size {
			t.Errorf("blob %s of %s:%s: status %d, %d bytes (want %d)", d.Digest, repo, tag, status, len(b), d.Size)
		}
	}
}
