package source_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
)

// FuzzOpenArchive opens arbitrary files as image archives and reads every
// layer they name: errors are fine, panics and reads outside the file are
// not.
func FuzzOpenArchive(f *testing.F) {
	dir := f.TempDir()
	layout := filepath.Join(dir, "layout")
	if _, err := ct.WriteLayout(layout, "v1", [][]byte{ct.Tar(ct.File("a", "a"))}); err != nil {
		f.Fatal(err)
	}
	files, err := ct.ReadTree(layout)
	if err != nil {
		f.Fatal(err)
	}
	oci := filepath.Join(dir, "oci.tar")
	docker := filepath.Join(dir, "docker.tar")
	if err := ct.TarFiles(oci, files); err != nil {
		f.Fatal(err)
	}
	if err := ct.WriteDockerArchive(docker, "x/y:1", [][]byte{ct.Tar(ct.File("a", "a"))}); err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{oci, docker} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(ct.Tar(ct.File("index.json", `{"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:../../etc"}]}`)))
	f.Add(ct.Tar(ct.File("manifest.json", `[{"Config":"../../etc/passwd","Layers":["/etc/shadow"]}]`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "in.tar")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := source.Open(context.Background(), p)
		if err != nil {
			return
		}
		defer img.Close()
		for _, l := range img.Layers() {
			rc, err := l.Open(context.Background())
			if err != nil {
				continue
			}
			n, _ := io.Copy(io.Discard, rc)
			rc.Close()
			if n > int64(len(b)) {
				t.Fatalf("layer of %d bytes read from a %d-byte archive", n, len(b))
			}
		}
	})
}
