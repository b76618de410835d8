package source_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
)

// TestSkopeoArchives reads archives written by a real client: skopeo
// converts a layout into an OCI archive, a docker-archive and another
// layout, and every form must yield the same layers.
func TestSkopeoArchives(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("skopeo not installed (scripts/install-deps.sh installs it)")
		}
		t.Skip("skopeo not installed; run scripts/install-deps.sh")
	}
	// Docker images cannot carry zstd layers: gzip and plain only.
	dir := t.TempDir()
	if _, err := ct.WriteLayout(dir, "v1", [][]byte{
		ct.Gzip(ct.Tar(ct.File("etc/os-release", "ID=debian\n"))),
		ct.Gzip(ct.Tar(ct.File("a", "a"))),
		ct.Tar(ct.File("b", "b")),
	}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, dst := range []string{
		"oci-archive:" + filepath.Join(out, "oci.tar") + ":v1",
		"docker-archive:" + filepath.Join(out, "docker.tar") + ":local/app:v1",
		"oci:" + filepath.Join(out, "layout") + ":v1",
	} {
		cmd := exec.Command(skopeo, "copy", "--quiet", "--insecure-policy", "oci:"+dir+":v1", dst)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("skopeo copy to %s: %v\n%s", dst, err, b)
		}
	}
	// skopeo keeps blobs for OCI targets; docker-archive stores layers
	// uncompressed, so compare digests of what each source serves.
	for _, tc := range []struct {
		ref  string
		kind source.Kind
	}{
		{filepath.Join(out, "oci.tar"), source.OCIArchive},
		{filepath.Join(out, "layout"), source.OCILayout},
		{filepath.Join(out, "docker.tar"), source.DockerArchive},
		{filepath.Join(out, "docker.tar") + ":local/app:v1", source.DockerArchive},
	} {
		img, err := source.Open(context.Background(), tc.ref)
		if err != nil {
			t.Fatalf("%s: %v", tc.ref, err)
		}
		if img.Kind() != tc.kind || len(img.Layers()) != 3 {
			t.Errorf("%s: kind %s, %d layers", tc.ref, img.Kind(), len(img.Layers()))
		}
		for i, l := range img.Layers() {
			rc, err := l.Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			b, err := readAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if ct.Digest(b) != l.Digest() {
				t.Errorf("%s layer %d: content hashes to %s, digest says %s", tc.ref, i, ct.Digest(b), l.Digest())
			}
		}
		img.Close()
	}
}
