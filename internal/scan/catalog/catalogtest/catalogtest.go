// Package catalogtest builds layers and images for tests of the catalog
// and its analyzers: tars from entry lists or directories, in-memory
// images, and OCI layouts, OCI archives and docker-archives on disk. All
// output is deterministic (fixed times and owners, sorted walks).
//
// The fixture image used across the scanner's tests is assembled from
// internal/scan/catalog/testdata/fixture-src/<n>-<name>/, one directory per
// layer in name order; add files there to extend it.
package catalogtest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// epoch is the modification time of every generated entry.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Entry is one tar entry. Type defaults to a regular file; Size overrides
// len(Body) in the header (for hostile entries).
type Entry struct {
	Name     string
	Type     byte
	Body     []byte
	Linkname string
	Size     int64
	Mode     int64
}

// File is a regular file entry.
func File(name, body string) Entry { return Entry{Name: name, Body: []byte(body)} }

// Tar returns an uncompressed tar of the entries, in order. Entries whose
// Size disagrees with their Body produce a truncated tar, as intended.
func Tar(entries ...Entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.Type
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.Mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		size := int64(len(e.Body))
		if typ != tar.TypeReg {
			size = 0
		}
		if e.Size != 0 {
			size = e.Size
		}
		hdr := &tar.Header{Name: e.Name, Typeflag: typ, Size: size, Mode: mode, Linkname: e.Linkname, ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		if len(e.Body) > 0 {
			// A short body is a deliberate truncation: write what there is.
			_, _ = tw.Write(e.Body)
		}
	}
	_ = tw.Close()
	return buf.Bytes()
}

// TarDir returns a deterministic uncompressed tar of a directory: sorted,
// relative names, symlinks kept as links, owner root.
func TarDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, p := range names {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		hdr := &tar.Header{Name: rel, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return nil, err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, target, 0o777
		case fi.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
		default:
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, fi.Size(), int64(fi.Mode().Perm()|0o644)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Gzip compresses b deterministically.
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// Zstd compresses b.
func Zstd(b []byte) []byte {
	zw, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// Digest is the sha256 digest string of b.
func Digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// Layer is an in-memory layer blob.
type Layer struct {
	Data []byte
	// Dgst is the digest the layer claims; NewLayer sets the true one.
	Dgst string
}

// NewLayer returns a layer of blob b with its true digest.
func NewLayer(b []byte) *Layer { return &Layer{Data: b, Dgst: Digest(b)} }

func (l *Layer) Digest() string { return l.Dgst }

func (l *Layer) Open(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.Data)), nil
}

// Image is an in-memory image.
type Image struct {
	D  string
	Ls []catalog.Layer
}

// NewImage returns an image of the given layer blobs, bottom first.
func NewImage(blobs ...[]byte) *Image {
	img := &Image{D: "sha256:" + strings.Repeat("0", 64)}
	for _, b := range blobs {
		img.Ls = append(img.Ls, NewLayer(b))
	}
	return img
}

func (i *Image) Digest() string          { return i.D }
func (i *Image) Layers() []catalog.Layer { return i.Ls }

// FixtureLayers returns the fixture image's layers, gzip-compressed, one
// per subdirectory of src in name order.
func FixtureLayers(src string) ([][]byte, error) {
	ents, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		t, err := TarDir(filepath.Join(src, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Gzip(t))
	}
	return out, nil
}

// WriteLayout writes an OCI image layout at dir holding one image, tagged
// ref, of the given layer blobs. It returns the manifest digest.
func WriteLayout(dir, ref string, layers [][]byte) (string, error) {
	return WriteLayoutConfig(dir, ref, layers, nil)
}

// WriteLayoutConfig is WriteLayout with an image configuration: cfg's
// fields (config, history…) are kept, rootfs is set from the layers and
// architecture and os default to amd64 and linux.
func WriteLayoutConfig(dir, ref string, layers [][]byte, cfg map[string]any) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return "", err
	}
	put := func(b []byte) (string, error) {
		d := Digest(b)
		return d, os.WriteFile(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")), b, 0o644)
	}
	type desc struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	var lds []desc
	var diffIDs []string
	for _, l := range layers {
		d, err := put(l)
		if err != nil {
			return "", err
		}
		mt := "application/vnd.oci.image.layer.v1.tar"
		raw := l
		switch {
		case bytes.HasPrefix(l, []byte{0x1f, 0x8b}):
			mt += "+gzip"
			zr, err := gzip.NewReader(bytes.NewReader(l))
			if err != nil {
				return "", err
			}
			if raw, err = io.ReadAll(zr); err != nil {
				return "", err
			}
		case bytes.HasPrefix(l, []byte{0x28, 0xb5, 0x2f, 0xfd}):
			mt += "+zstd"
			zr, _ := zstd.NewReader(nil)
			var err error
			raw, err = zr.DecodeAll(l, nil)
			zr.Close()
			if err != nil {
				return "", err
			}
		}
		lds = append(lds, desc{MediaType: mt, Digest: d, Size: len(l)})
		diffIDs = append(diffIDs, Digest(raw))
	}
	full := map[string]any{"architecture": "amd64", "os": "linux"}
	for k, v := range cfg {
		full[k] = v
	}
	full["rootfs"] = map[string]any{"type": "layers", "diff_ids": diffIDs}
	cb, _ := json.Marshal(full)
	cd, err := put(cb)
	if err != nil {
		return "", err
	}
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc{MediaType: "application/vnd.oci.image.config.v1+json", Digest: cd, Size: len(cb)},
		"layers":        lds,
	})
	md, err := put(man)
	if err != nil {
		return "", err
	}
	idx, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []desc{{MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: md, Size: len(man),
			Annotations: map[string]string{"org.opencontainers.image.ref.name": ref}}},
	})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		return "", err
	}
	return md, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// TarFiles writes a tar at dst holding the named files (name -> content),
// in sorted order; used to make OCI archives and docker-archives.
func TarFiles(dst string, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var entries []Entry
	for _, n := range names {
		entries = append(entries, Entry{Name: n, Body: files[n]})
	}
	return os.WriteFile(dst, Tar(entries...), 0o644)
}

// ReadTree returns the regular files under dir keyed by slash path.
func ReadTree(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return nil
	})
	return out, err
}

// WriteDockerArchive writes a legacy `docker save` archive (uncompressed
// "<n>/layer.tar" files) at dst, tagged repoTag.
func WriteDockerArchive(dst, repoTag string, layerTars [][]byte) error {
	files := map[string][]byte{}
	var names, diffIDs []string
	for i, t := range layerTars {
		n := fmt.Sprintf("%d/layer.tar", i)
		files[n] = t
		names = append(names, n)
		diffIDs = append(diffIDs, Digest(t))
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cfgName := strings.TrimPrefix(Digest(cfg), "sha256:") + ".json"
	files[cfgName] = cfg
	man, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{repoTag}, "Layers": names}})
	files["manifest.json"] = man
	return TarFiles(dst, files)
}
