package source_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
)

// layers are three small layers: gzip, zstd and plain tar.
func layers() [][]byte {
	return [][]byte{
		ct.Gzip(ct.Tar(ct.File("etc/os-release", "ID=debian\n"))),
		ct.Zstd(ct.Tar(ct.File("a", "a"))),
		ct.Tar(ct.File("b", "b")),
	}
}

func writeLayout(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	md, err := ct.WriteLayout(dir, "v1", layers())
	if err != nil {
		t.Fatal(err)
	}
	return dir, md
}

// checkImage reads every layer of img and compares it with want.
func checkImage(t *testing.T, img source.Image, kind source.Kind, want [][]byte) {
	t.Helper()
	if img.Kind() != kind {
		t.Errorf("kind %s, want %s", img.Kind(), kind)
	}
	ls := img.Layers()
	if len(ls) != len(want) {
		t.Fatalf("%d layers, want %d", len(ls), len(want))
	}
	cb, err := img.Config()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	var cfg struct {
		OS     string `json:"os"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cb, &cfg); err != nil || cfg.OS != "linux" || len(cfg.RootFS.DiffIDs) != len(want) {
		t.Errorf("config %s (err %v): want linux with %d diff_ids", cb, err, len(want))
	}
	for i, l := range ls {
		rc, err := l.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(want[i]) || l.Digest() != ct.Digest(b) {
			t.Errorf("layer %d: content or digest differs (digest %s)", i, l.Digest())
		}
	}
}

func TestLayoutAndArchive(t *testing.T) {
	ctx := context.Background()
	dir, md := writeLayout(t)
	archive := filepath.Join(t.TempDir(), "img.tar")
	files, err := ct.ReadTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ct.TarFiles(archive, files); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref  string
		kind source.Kind
	}{
		{dir, source.OCILayout},
		{"oci-layout:" + dir, source.OCILayout},
		{dir + ":v1", source.OCILayout},
		{archive, source.OCIArchive},
		{"oci-archive:" + archive + ":v1", source.OCIArchive},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			img, err := source.Open(ctx, tc.ref)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			if img.Digest() != md {
				t.Errorf("digest %s, want %s", img.Digest(), md)
			}
			checkImage(t, img, tc.kind, layers())
		})
	}
	if _, err := source.Open(ctx, archive+":nope"); !errors.Is(err, source.ErrNotFound) {
		t.Errorf("unknown tag: err = %v", err)
	}
}

func TestDockerArchive(t *testing.T) {
	tars := [][]byte{ct.Tar(ct.File("a", "a")), ct.Tar(ct.File("b", "b"))}
	p := filepath.Join(t.TempDir(), "docker.tar")
	if err := ct.WriteDockerArchive(p, "local/app:1", tars); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{p, "docker-archive:" + p, p + ":1", p + ":local/app:1"} {
		img, err := source.Open(context.Background(), ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		checkImage(t, img, source.DockerArchive, tars)
		img.Close()
	}
}

func TestDirAndErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	img, err := source.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if img.Kind() != source.Dir || len(img.Layers()) != 1 || img.Digest() != "" {
		t.Errorf("dir: kind %s layers %d", img.Kind(), len(img.Layers()))
	}
	if cb, err := img.Config(); cb != nil || err != nil {
		t.Errorf("dir config %q, %v; want none", cb, err)
	}
	notTar := filepath.Join(dir, "x.tar")
	os.WriteFile(notTar, []byte("not a tar at all, just some text that is long enough to fail........"), 0o644)
	plainTar := filepath.Join(dir, "plain.tar")
	os.WriteFile(plainTar, ct.Tar(ct.File("hello", "world")), 0o644)
	for _, ref := range []string{notTar, plainTar, "/does/not/exist.tar", "dir:" + plainTar} {
		if _, err := source.Open(ctx, ref); !errors.Is(err, source.ErrUnknownSource) {
			t.Errorf("%s: err = %v, want ErrUnknownSource", ref, err)
		}
	}
	// A layout whose config was tampered with opens, and its config fails
	// its digest check.
	ldir, md := writeLayout(t)
	mb, err := os.ReadFile(filepath.Join(ldir, "blobs", "sha256", strings.TrimPrefix(md, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	var man struct{ Config struct{ Digest string } }
	if err := json.Unmarshal(mb, &man); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ldir, "blobs", "sha256", strings.TrimPrefix(man.Config.Digest, "sha256:")), []byte(`{"config":{"User":"0"}}`), 0o644)
	timg, err := source.Open(ctx, ldir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := timg.Config(); !errors.Is(err, catalog.ErrDigestMismatch) {
		t.Errorf("tampered config: err = %v, want ErrDigestMismatch", err)
	}
	timg.Close()
	// A layout whose manifest was tampered with fails its digest check.
	mpath := filepath.Join(ldir, "blobs", "sha256", strings.TrimPrefix(md, "sha256:"))
	os.WriteFile(mpath, []byte(`{"schemaVersion":2,"layers":[]}`), 0o644)
	if _, err := source.Open(ctx, ldir); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("tampered manifest: err = %v", err)
	}
}

// TestRegistry pulls through the registry protocol from an in-process
// registry.
func TestRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	dir, _ := writeLayout(t)
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref := strings.TrimPrefix(srv.URL, "http://") + "/test/app:v1"
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, want); err != nil {
		t.Fatal(err)
	}
	wd, _ := want.Digest()
	for _, s := range []string{ref, "registry:" + ref} {
		img, err := source.Open(context.Background(), s, source.WithPlainHTTPUnsafe())
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if img.Digest() != wd.String() {
			t.Errorf("digest %s, want %s", img.Digest(), wd)
		}
		checkImage(t, img, source.Registry, layers())
		img.Close()
	}
}

func readAll(rc io.ReadCloser) ([]byte, error) {
	defer rc.Close()
	return io.ReadAll(rc)
}
