package e2e

import (
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

// TestSkopeo copies a generated multi-layer image and a multi-arch index
// into moat and back out, and checks that every digest survives the round
// trip byte for byte. skopeo logs in as the robot with --creds.
func TestSkopeo(t *testing.T) {
	skopeo := moatproc.RequireTool(t, "skopeo")
	s := moatproc.Start(t)
	creds := "--creds=" + s.Robot.Pair()
	srcCreds, destCreds := "--src-creds="+s.Robot.Pair(), "--dest-creds="+s.Robot.Pair()
	tmp := t.TempDir()
	rnd := seededRand(t, "images")

	t.Run("image", func(t *testing.T) {
		rc, r := newRegistryClient(t, s), moatproc.NewRunner(t)
		img := newImage(t, rnd, linuxAMD64, 4, 512*1024)
		src := filepath.Join(tmp, "src-image")
		writeLayout(t, src, "v1", img)
		ref := "docker://" + s.Addr + "/e2e/skopeo/image:v1"

		r.Run(skopeo, "copy", "--preserve-digests", destCreds, "--dest-tls-verify=false", "oci:"+src+":v1", ref)

		if got := rc.manifestDigest("e2e/skopeo/image", "v1"); got != img.Root.Digest {
			t.Fatalf("manifest digest in moat %s, want %s", got, img.Root.Digest)
		}
		raw := r.Run(skopeo, "inspect", "--raw", creds, "--tls-verify=false", ref)
		if got := digest.FromString(raw); got != img.Root.Digest {
			t.Errorf("skopeo inspect --raw digest %s, want %s", got, img.Root.Digest)
		}
		var info struct {
			Digest string
			Layers []string
		}
		out := r.Run(skopeo, "inspect", creds, "--tls-verify=false", "docker://"+s.Addr+"/e2e/skopeo/image@"+img.Root.Digest.String())
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("skopeo inspect output: %v\n%s", err, out)
		}
		if info.Digest != img.Root.Digest.String() || len(info.Layers) != 4 {
			t.Errorf("skopeo inspect: digest %s with %d layers, want %s with 4", info.Digest, len(info.Layers), img.Root.Digest)
		}

		dst := filepath.Join(tmp, "dst-image")
		r.Run(skopeo, "copy", "--preserve-digests", srcCreds, "--src-tls-verify=false", ref, "oci:"+dst+":v1")
		checkLayoutMatches(t, dst, "v1", img)

		// A second copy finds every blob already present and must still
		// produce the same manifest under a new tag.
		r.Run(skopeo, "copy", "--preserve-digests", srcCreds, destCreds, "--src-tls-verify=false", "--dest-tls-verify=false", ref, "docker://"+s.Addr+"/e2e/skopeo/image:v2")
		if got := rc.manifestDigest("e2e/skopeo/image", "v2"); got != img.Root.Digest {
			t.Errorf("v2 digest %s, want %s", got, img.Root.Digest)
		}
		var tags struct{ Tags []string }
		out = r.Run(skopeo, "list-tags", creds, "--tls-verify=false", "docker://"+s.Addr+"/e2e/skopeo/image")
		if err := json.Unmarshal([]byte(out), &tags); err != nil {
			t.Fatalf("skopeo list-tags: %v\n%s", err, out)
		}
		slices.Sort(tags.Tags)
		if !slices.Equal(tags.Tags, []string{"v1", "v2"}) {
			t.Errorf("skopeo list-tags = %v, want [v1 v2]", tags.Tags)
		}
	})

	t.Run("cross-repository", func(t *testing.T) {
		rc, r := newRegistryClient(t, s), moatproc.NewRunner(t)
		// Copying between two repositories of the same registry lets skopeo
		// mount blobs instead of uploading them again.
		img := newImage(t, rnd, linuxAMD64, 2, 256*1024)
		src := filepath.Join(tmp, "src-cross")
		writeLayout(t, src, "v1", img)
		r.Run(skopeo, "copy", "--preserve-digests", destCreds, "--dest-tls-verify=false", "oci:"+src+":v1", "docker://"+s.Addr+"/e2e/skopeo/a:v1")
		r.Run(skopeo, "copy", "--preserve-digests", srcCreds, destCreds, "--src-tls-verify=false", "--dest-tls-verify=false",
			"docker://"+s.Addr+"/e2e/skopeo/a:v1", "docker://"+s.Addr+"/e2e/skopeo/b:v1")
		if got := rc.manifestDigest("e2e/skopeo/b", "v1"); got != img.Root.Digest {
			t.Errorf("copied manifest digest %s, want %s", got, img.Root.Digest)
		}
		for d, want := range img.Blobs {
			got, status := rc.blob("e2e/skopeo/b", d)
			if status != http.StatusOK || digest.FromBytes(got) != d || len(got) != len(want) {
				t.Errorf("blob %s in e2e/skopeo/b: status %d, %d bytes", d, status, len(got))
			}
		}
	})

	t.Run("index", func(t *testing.T) {
		rc, r := newRegistryClient(t, s), moatproc.NewRunner(t)
		idx := newIndex(t, rnd, []ocispec.Platform{linuxAMD64, linuxARM64}, 2, 256*1024)
		src := filepath.Join(tmp, "src-index")
		writeLayout(t, src, "multi", idx)
		ref := "docker://" + s.Addr + "/e2e/skopeo/multi:v1"
		r.Run(skopeo, "copy", "--all", "--preserve-digests", destCreds, "--dest-tls-verify=false", "oci:"+src+":multi", ref)
		if got := rc.manifestDigest("e2e/skopeo/multi", "v1"); got != idx.Root.Digest {
			t.Fatalf("index digest in moat %s, want %s", got, idx.Root.Digest)
		}
		dst := filepath.Join(tmp, "dst-index")
		r.Run(skopeo, "copy", "--all", "--preserve-digests", srcCreds, "--src-tls-verify=false", ref, "oci:"+dst+":multi")
		checkLayoutMatches(t, dst, "multi", idx)
	})

	t.Run("docker-schema2", func(t *testing.T) {
		// skopeo converts to Docker schema2 manifests and manifest lists on
		// the way in; moat must keep them byte for byte.
		rc, r := newRegistryClient(t, s), moatproc.NewRunner(t)
		img := newImage(t, rnd, linuxAMD64, 2, 128*1024)
		src := filepath.Join(tmp, "src-docker")
		writeLayout(t, src, "v1", img)
		ref := "docker://" + s.Addr + "/e2e/skopeo/docker:v1"
		r.Run(skopeo, "copy", "--format", "v2s2", destCreds, "--dest-tls-verify=false", "oci:"+src+":v1", ref)
		body, status := rc.manifest("e2e/skopeo/docker", "v1")
		if status != http.StatusOK {
			t.Fatalf("GET manifest: status %d: %s", status, body)
		}
		var m struct {
			MediaType string               `json:"mediaType"`
			Layers    []ocispec.Descriptor `json:"layers"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		if m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" || len(m.Layers) != 2 {
			t.Fatalf("stored manifest: media type %q with %d layers, want Docker schema2 with 2", m.MediaType, len(m.Layers))
		}
		dst := filepath.Join(tmp, "dst-docker")
		r.Run(skopeo, "copy", srcCreds, "--src-tls-verify=false", ref, "dir:"+dst)
		got, err := os.ReadFile(filepath.Join(dst, "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(got) != digest.FromBytes(body) {
			t.Errorf("skopeo pulled manifest %s, moat stores %s", digest.FromBytes(got), digest.FromBytes(body))
		}
		for _, l := range m.Layers {
			data, err := os.ReadFile(filepath.Join(dst, l.Digest.Encoded()))
			if err != nil || digest.FromBytes(data) != l.Digest {
				t.Errorf("layer %s pulled back wrong: %v", l.Digest, err)
			}
		}

		idx := newIndex(t, rnd, []ocispec.Platform{linuxAMD64, linuxARM64}, 1, 64*1024)
		srcIdx := filepath.Join(tmp, "src-docker-list")
		writeLayout(t, srcIdx, "multi", idx)
		r.Run(skopeo, "copy", "--all", "--format", "v2s2", destCreds, "--dest-tls-verify=false", "oci:"+srcIdx+":multi", "docker://"+s.Addr+"/e2e/skopeo/dockerlist:v1")
		body, status = rc.manifest("e2e/skopeo/dockerlist", "v1")
		var list ocispec.Index
		if err := json.Unmarshal(body, &list); status != http.StatusOK || err != nil {
			t.Fatalf("GET manifest list: status %d, %v: %s", status, err, body)
		}
		if list.MediaType != "application/vnd.docker.distribution.manifest.list.v2+json" || len(list.Manifests) != 2 {
			t.Fatalf("stored list: media type %q with %d entries, want a Docker manifest list of 2", list.MediaType, len(list.Manifests))
		}
		for _, d := range list.Manifests {
			if got := rc.manifestDigest("e2e/skopeo/dockerlist", d.Digest.String()); got != d.Digest {
				t.Errorf("list entry %s: got %s", d.Digest, got)
			}
		}
	})

	t.Run("umoci-built", func(t *testing.T) {
		// An image another tool wrote, layer by layer, survives the trip.
		rc, r := newRegistryClient(t, s), moatproc.NewRunner(t)
		umoci := moatproc.RequireTool(t, "umoci")
		src := filepath.Join(tmp, "src-umoci")
		files := filepath.Join(tmp, "umoci-files")
		if err := os.MkdirAll(files, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(files, "a.bin"), randomBytes(rnd, 200*1024), 0o644); err != nil {
			t.Fatal(err)
		}
		r.Run(umoci, "init", "--layout", src)
		r.Run(umoci, "new", "--image", src+":v1")
		r.Run(umoci, "insert", "--image", src+":v1", files, "/data")
		r.Run(umoci, "insert", "--image", src+":v1", filepath.Join(files, "a.bin"), "/copy/a.bin")
		want := layoutRootDigest(t, src, "v1")

		ref := "docker://" + s.Addr + "/e2e/skopeo/umoci:v1"
		r.Run(skopeo, "copy", "--preserve-digests", destCreds, "--dest-tls-verify=false", "oci:"+src+":v1", ref)
		if got := rc.manifestDigest("e2e/skopeo/umoci", "v1"); got != want {
			t.Fatalf("manifest digest in moat %s, want %s", got, want)
		}
		dst := filepath.Join(tmp, "dst-umoci")
		r.Run(skopeo, "copy", "--preserve-digests", srcCreds, "--src-tls-verify=false", ref, "oci:"+dst+":v1")
		if got := layoutRootDigest(t, dst, "v1"); got != want {
			t.Errorf("pulled back %s, want %s", got, want)
		}
		stat := r.Run(umoci, "stat", "--image", dst+":v1")
		if n := strings.Count(stat, "umoci insert"); n != 2 {
			t.Errorf("umoci stat of the pulled image shows %d inserted layers, want 2:\n%s", n, stat)
		}
	})

	t.Run("delete", func(t *testing.T) {
		rc, r := newRegistryClient(t, s), moatproc.NewRunner(t)
		img := newImage(t, rnd, linuxAMD64, 1, 64*1024)
		src := filepath.Join(tmp, "src-delete")
		writeLayout(t, src, "v1", img)
		ref := "docker://" + s.Addr + "/e2e/skopeo/gone:v1"
		r.Run(skopeo, "copy", "--preserve-digests", destCreds, "--dest-tls-verify=false", "oci:"+src+":v1", ref)
		r.Run(skopeo, "delete", creds, "--tls-verify=false", "docker://"+s.Addr+"/e2e/skopeo/gone@"+img.Root.Digest.String())
		if body, status := rc.manifest("e2e/skopeo/gone", img.Root.Digest.String()); status != http.StatusNotFound {
			t.Errorf("manifest after delete: status %d, want 404: %s", status, body)
		}
		if _, err := r.Try(skopeo, "inspect", "--raw", creds, "--tls-verify=false", ref); err == nil {
			t.Errorf("skopeo inspect of the deleted image's tag succeeded")
		}
	})
}
