package source_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
)

// TestMissingPath: a SOURCE naming a file or directory that does not
// exist, of every local kind, is reported as that path with the image tag
// apart, not as a path that includes ":TAG"; paths may hold colons.
func TestMissingPath(t *testing.T) {
	for _, tc := range []struct {
		ref, path, tag, msg string
	}{
		{"oci-archive:/nope/app.tar:v1", "/nope/app.tar", "v1", `no such file /nope/app.tar (image tag "v1")`},
		{"oci-archive:/nope/app.tar", "/nope/app.tar", "", "no such file /nope/app.tar"},
		{"oci-archive:/nope/10:00/app.tar:v1", "/nope/10:00/app.tar", "v1", `no such file /nope/10:00/app.tar (image tag "v1")`},
		{"oci-archive:/nope/10:00/app.tar", "/nope/10:00/app.tar", "", "no such file /nope/10:00/app.tar"},
		{"docker-archive:/nope/app.tar:local/app:1", "/nope/app.tar", "local/app:1", `no such file /nope/app.tar (image tag "local/app:1")`},
		{"docker-archive:/nope/app.tar.gz:1", "/nope/app.tar.gz", "1", `no such file /nope/app.tar.gz (image tag "1")`},
		{"oci-layout:/nope/layout:v1", "/nope/layout", "v1", `no such directory /nope/layout (image tag "v1")`},
		{"oci-layout:/nope/10:00/layout", "/nope/10:00/layout", "", "no such directory /nope/10:00/layout"},
		{"dir:/nope/rootfs", "/nope/rootfs", "", "no such directory /nope/rootfs"},
		{"/nope/app.tar:v1", "/nope/app.tar", "v1", `no such file or directory /nope/app.tar (image tag "v1")`},
		{"app-missing.tar:v1", "app-missing.tar", "v1", `no such file or directory app-missing.tar (image tag "v1")`},
		{"./layout:v1", "./layout", "v1", `no such file or directory ./layout (image tag "v1")`},
	} {
		_, err := source.Open(context.Background(), tc.ref)
		var me *source.MissingError
		if !errors.As(err, &me) || me.Path != tc.path || me.Tag != tc.tag || err.Error() != tc.msg {
			t.Errorf("%s: err = %v (%#v)\nwant %q", tc.ref, err, me, tc.msg)
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, source.ErrUnknownSource) {
			t.Errorf("%s: %v matches neither fs.ErrNotExist nor ErrUnknownSource", tc.ref, err)
		}
	}
}

// TestPathWithColons: archives and layouts whose paths hold colons open,
// with a tag or without.
func TestPathWithColons(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "2026-01-02T10:00")
	layoutDir := filepath.Join(dir, "lay:out")
	md, err := ct.WriteLayout(layoutDir, "v1", layers())
	if err != nil {
		t.Fatal(err)
	}
	files, err := ct.ReadTree(layoutDir)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "img:x.tar")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ct.TarFiles(archive, files); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{archive, archive + ":v1", "oci-archive:" + archive + ":v1", layoutDir + ":v1", "oci-layout:" + layoutDir} {
		img, err := source.Open(context.Background(), ref)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if img.Digest() != md {
			t.Errorf("%s: digest %s, want %s", ref, img.Digest(), md)
		}
		img.Close()
	}
}
