package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestOras logs in with `oras login`, pushes an OCI artifact, attaches a
// referrer to it through the referrers API (OCI-Subject), discovers it, and
// pulls both back.
func TestOras(t *testing.T) {
	oras := moatproc.RequireTool(t, "oras")
	s := moatproc.Start(t)
	rc := newRegistryClient(t, s)
	work := t.TempDir()
	// oras keeps its own config; point it at a throwaway home.
	r := moatproc.NewRunner(t, "HOME="+work, "DOCKER_CONFIG="+filepath.Join(work, ".docker"))
	r.Dir = work
	r.Run(oras, "login", "--plain-http", "-u", s.Robot.Username, "-p", s.Robot.Password, s.Addr)
	rnd := seededRand(t, "files")

	const (
		artifactType = "application/vnd.moat.e2e.bundle"
		sbomType     = "application/vnd.moat.e2e.sbom"
	)
	payload := randomBytes(rnd, 300*1024)
	notes := []byte("moat e2e artifact\n")
	if err := os.WriteFile(filepath.Join(work, "payload.bin"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "notes.txt"), notes, 0o644); err != nil {
		t.Fatal(err)
	}
	sbom := []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}`)
	if err := os.WriteFile(filepath.Join(work, "sbom.json"), sbom, 0o644); err != nil {
		t.Fatal(err)
	}
	ref := s.Addr + "/e2e/oras/bundle:v1"

	// push an artifact with two files.
	r.Run(oras, "push", "--plain-http", "--artifact-type", artifactType,
		"--export-manifest", "pushed.json", ref,
		"payload.bin:application/octet-stream", "notes.txt:text/plain")
	pushedManifest, err := os.ReadFile(filepath.Join(work, "pushed.json"))
	if err != nil {
		t.Fatal(err)
	}
	subject := digest.FromBytes(pushedManifest)
	if got := rc.manifestDigest("e2e/oras/bundle", "v1"); got != subject {
		t.Fatalf("artifact digest in moat %s, want %s (the manifest oras pushed)", got, subject)
	}
	fetched := r.Run(oras, "manifest", "fetch", "--plain-http", ref)
	if fetched != string(pushedManifest) {
		t.Errorf("oras manifest fetch returned different bytes")
	}

	// attach a referrer through the referrers API, not the tag fallback.
	r.Run(oras, "attach", "--plain-http", "--distribution-spec", "v1.1-referrers-api",
		"--artifact-type", sbomType, "--export-manifest", "attached.json", ref, "sbom.json:application/json")
	attachedManifest, err := os.ReadFile(filepath.Join(work, "attached.json"))
	if err != nil {
		t.Fatal(err)
	}
	referrer := digest.FromBytes(attachedManifest)
	var attached ocispec.Manifest
	if err := json.Unmarshal(attachedManifest, &attached); err != nil {
		t.Fatal(err)
	}
	if attached.Subject == nil || attached.Subject.Digest != subject {
		t.Fatalf("attached manifest's subject = %v, want %s", attached.Subject, subject)
	}
	for _, tag := range rc.tags("e2e/oras/bundle") {
		if strings.HasPrefix(tag, "sha256-") {
			t.Errorf("oras fell back to the referrers tag schema (tag %s): moat did not acknowledge the subject with OCI-Subject", tag)
		}
	}

	// discover it, with and without an artifact type filter.
	out := r.Run(oras, "discover", "--plain-http", "--distribution-spec", "v1.1-referrers-api", "--format", "json", ref)
	var discovered struct {
		Referrers []ocispec.Descriptor `json:"referrers"`
		Manifests []ocispec.Descriptor `json:"manifests"` // older oras output
	}
	if err := json.Unmarshal([]byte(out), &discovered); err != nil {
		t.Fatalf("oras discover output: %v\n%s", err, out)
	}
	found := append(discovered.Referrers, discovered.Manifests...)
	if len(found) != 1 || found[0].Digest != referrer || found[0].ArtifactType != sbomType {
		t.Errorf("oras discover found %+v, want one referrer %s of type %s", found, referrer, sbomType)
	}
	out = r.Run(oras, "discover", "--plain-http", "--distribution-spec", "v1.1-referrers-api", "--format", "json",
		"--artifact-type", "application/vnd.moat.other", ref)
	discovered.Referrers, discovered.Manifests = nil, nil
	if err := json.Unmarshal([]byte(out), &discovered); err != nil {
		t.Fatalf("oras discover output: %v\n%s", err, out)
	}
	if n := len(discovered.Referrers) + len(discovered.Manifests); n != 0 {
		t.Errorf("oras discover --artifact-type with no match found %d referrers", n)
	}
	if idx := rc.referrers("e2e/oras/bundle", subject, sbomType); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != referrer {
		t.Errorf("GET referrers?artifactType=%s = %+v", sbomType, idx.Manifests)
	}

	// pull both back and compare the files.
	pullDir := filepath.Join(work, "pulled")
	r.Run(oras, "pull", "--plain-http", "-o", pullDir, ref)
	expectFile(t, filepath.Join(pullDir, "payload.bin"), payload)
	expectFile(t, filepath.Join(pullDir, "notes.txt"), notes)
	sbomDir := filepath.Join(work, "sbom")
	r.Run(oras, "pull", "--plain-http", "-o", sbomDir, s.Addr+"/e2e/oras/bundle@"+referrer.String())
	expectFile(t, filepath.Join(sbomDir, "sbom.json"), sbom)

	// copy the artifact with its referrers to another repository.
	r.Run(oras, "cp", "--from-plain-http", "--to-plain-http", "-r", ref, s.Addr+"/e2e/oras/copy:v1")
	if got := rc.manifestDigest("e2e/oras/copy", "v1"); got != subject {
		t.Errorf("copied artifact digest %s, want %s", got, subject)
	}
	if idx := rc.referrers("e2e/oras/copy", subject, ""); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != referrer {
		t.Errorf("referrers in the copy = %+v, want %s", idx.Manifests, referrer)
	}
}

func expectFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("pulled file: %v", err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes differ from the %d pushed", path, len(got), len(want))
	}
}
