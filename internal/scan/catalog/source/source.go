// Package source opens the images the catalog reads: OCI image layout
// directories, OCI archives (a tar of a layout), docker-archives (`docker
// save`), plain root-filesystem directories and remote registry
// references.
//
// Archives are never extracted: the tar is indexed once (headers only,
// seeking past contents) and each layer is read in place as a section of
// the file. Only the manifest, index and config JSON are held in memory,
// each capped in size.
//
//	img, err := source.Open(ctx, "oci-archive:app.tar:app")
//	defer img.Close()
//	inv, err := cat.Catalog(ctx, img)
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Kind is the kind of a source.
type Kind string

// The kinds of source, also the prefixes that force one ("dir:/rootfs").
const (
	OCILayout     Kind = "oci-layout"
	OCIArchive    Kind = "oci-archive"
	DockerArchive Kind = "docker-archive"
	Dir           Kind = "dir"
	Registry      Kind = "registry"
)

// ErrUnknownSource reports a SOURCE that is no file, directory or image
// reference.
var ErrUnknownSource = errors.New("unknown image source")

// ErrNotFound reports a manifest, tag, platform or blob missing from a
// source.
var ErrNotFound = errors.New("not found in image source")

// MissingError is a layout, archive or directory SOURCE whose path does
// not exist. Path and Tag are SOURCE split as well as can be told without
// the file: a tag may hold colons and so may a path. It matches
// ErrUnknownSource and fs.ErrNotExist.
type MissingError struct {
	Kind Kind // "" when the kind was to be detected
	Path string
	Tag  string
}

func (e *MissingError) Error() string {
	what := "file or directory"
	switch e.Kind {
	case OCIArchive, DockerArchive:
		what = "file"
	case OCILayout, Dir:
		what = "directory"
	}
	msg := fmt.Sprintf("no such %s %s", what, e.Path)
	if e.Tag != "" {
		msg += fmt.Sprintf(" (image tag %q)", e.Tag)
	}
	return msg
}

func (e *MissingError) Unwrap() []error { return []error{ErrUnknownSource, fs.ErrNotExist} }

// Image is an opened source. Close releases its files.
type Image interface {
	catalog.Image
	// Kind tells how the source was read.
	Kind() Kind
	// Config returns the image configuration blob (OCI or Docker JSON),
	// read on first call and checked against its digest where the source
	// names one; nil and no error for a directory, which has none.
	Config() ([]byte, error)
	Close() error
}

type options struct {
	plainHTTP bool
	keychain  authn.Keychain
	os, arch  string
}

// Option configures Open.
type Option func(*options) error

// WithPlainHTTPUnsafe lets registry references use plain HTTP (and
// unverified TLS), for local test registries. Default: HTTPS only.
func WithPlainHTTPUnsafe() Option {
	return func(o *options) error { o.plainHTTP = true; return nil }
}

// Open opens SOURCE: a path whose kind is detected (a directory with an
// oci-layout file is a layout, another directory a root filesystem, a tar
// with index.json an OCI archive, one with manifest.json a
// docker-archive), or an image reference. A prefix "oci-layout:",
// "oci-archive:", "docker-archive:", "dir:" or "registry:" forces the kind.
// Layouts and archives take an optional ":TAG" suffix naming the image
// (org.opencontainers.image.ref.name or a docker RepoTag).
func Open(ctx context.Context, ref string, opts ...Option) (Image, error) {
	o := options{keychain: authn.DefaultKeychain, os: "linux", arch: runtime.GOARCH}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	kind, rest := splitKind(ref)
	if kind == Registry {
		return openRegistry(ctx, rest, &o)
	}
	p, tag := splitTag(rest)
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) && (kind != "" || !looksLikeReference(ref)) {
		return nil, &MissingError{Kind: kind, Path: p, Tag: tag}
	}
	if kind == "" {
		var err error
		kind, err = detect(p)
		if errors.Is(err, fs.ErrNotExist) {
			img, rerr := openRegistry(ctx, ref, &o)
			if rerr != nil {
				return nil, fmt.Errorf("%w: %s is no file or directory, and as an image reference: %w", ErrUnknownSource, ref, rerr)
			}
			return img, nil
		}
		if err != nil {
			return nil, err
		}
	}
	switch kind {
	case Dir:
		if tag != "" {
			return nil, fmt.Errorf("%w: a directory takes no tag: %s", ErrUnknownSource, ref)
		}
		return openDir(p)
	case OCILayout:
		return openLayout(dirStore{root: p}, OCILayout, tag, &o)
	case OCIArchive, DockerArchive:
		ts, err := openTarStore(p)
		if err != nil {
			return nil, err
		}
		var img Image
		if kind == OCIArchive {
			img, err = openLayout(ts, OCIArchive, tag, &o)
		} else {
			img, err = openDockerArchive(ts, tag)
		}
		if err != nil {
			ts.Close()
			return nil, err
		}
		return img, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownSource, ref)
}

// looksLikeReference keeps obvious paths from being tried as registry
// references: absolute or relative paths and archive names (with a tag
// or not).
func looksLikeReference(s string) bool {
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") {
		return false
	}
	_, _, archive := cutArchiveName(s)
	return !archive
}

// archiveSuffixes end the names of image archives.
var archiveSuffixes = []string{".tar", ".tar.gz", ".tgz"}

// cutArchiveName splits s after the first archive name followed by ":"
// ("a/app.tar:v1" → "a/app.tar", "v1"); ok is also true for s ending in
// an archive name, with no tag.
func cutArchiveName(s string) (path, tag string, ok bool) {
	at := -1
	for _, suf := range archiveSuffixes {
		if strings.HasSuffix(s, suf) {
			ok = true
		}
		if i := strings.Index(s, suf+":"); i >= 0 && (at < 0 || i+len(suf) < at) {
			at = i + len(suf)
		}
	}
	if at < 0 {
		return s, "", ok
	}
	return s[:at], s[at+1:], true
}

func splitKind(ref string) (Kind, string) {
	for _, k := range []Kind{OCILayout, OCIArchive, DockerArchive, Dir, Registry} {
		if rest, ok := strings.CutPrefix(ref, string(k)+":"); ok {
			return k, rest
		}
	}
	return "", ref
}

// splitTag splits "path:tag" when path exists and path:tag does not; the
// tag may itself hold colons ("app.tar:local/app:1"), and so may the path.
// When neither exists it guesses, for the error message: after an archive
// name ("app.tar:v1"), else at the last colon the rest of which names no
// directory ("layout:v1", not "/data/10:00/layout").
func splitTag(s string) (string, string) {
	if _, err := os.Lstat(s); err == nil {
		return s, ""
	}
	for i := strings.LastIndexByte(s, ':'); i > 0; i = strings.LastIndexByte(s[:i], ':') {
		if _, err := os.Lstat(s[:i]); err == nil {
			return s[:i], s[i+1:]
		}
	}
	if p, tag, ok := cutArchiveName(s); ok {
		return p, tag
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && !strings.Contains(s[i+1:], "/") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// detect tells the kind of a local path.
func detect(p string) (Kind, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if st.IsDir() {
		if _, err := os.Stat(p + "/oci-layout"); err == nil {
			return OCILayout, nil
		}
		return Dir, nil
	}
	ts, err := openTarStore(p)
	if err != nil {
		return "", err
	}
	defer ts.Close()
	switch {
	case ts.has("index.json"):
		return OCIArchive, nil
	case ts.has("manifest.json"):
		return DockerArchive, nil
	}
	return "", fmt.Errorf("%w: %s is a tar with neither index.json nor manifest.json", ErrUnknownSource, p)
}

// layer is a blob read from a store.
type layer struct {
	digest string
	name   string
	store  store
}

func (l *layer) Digest() string { return l.digest }

func (l *layer) Open(context.Context) (io.ReadCloser, error) { return l.store.open(l.name) }

// image is a layout or archive image.
type image struct {
	kind   Kind
	digest string
	layers []catalog.Layer
	closer io.Closer
	// config reads the configuration blob; nil for a directory.
	config func() ([]byte, error)
}

func (i *image) Digest() string          { return i.digest }
func (i *image) Layers() []catalog.Layer { return i.layers }
func (i *image) Kind() Kind              { return i.kind }
func (i *image) Config() ([]byte, error) {
	if i.config == nil {
		return nil, nil
	}
	b, err := i.config()
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", i.kind, err)
	}
	return b, nil
}
func (i *image) Close() error {
	if i.closer != nil {
		return i.closer.Close()
	}
	return nil
}

// dirLayer is a root filesystem directory, read as one layer.
type dirLayer struct{ fsys fs.FS }

func (d dirLayer) Digest() string { return "" }
func (d dirLayer) Open(context.Context) (io.ReadCloser, error) {
	return nil, errors.New("a directory has no layer blob")
}
func (d dirLayer) FS() fs.FS { return d.fsys }

func openDir(p string) (Image, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrUnknownSource, p)
	}
	return &image{kind: Dir, layers: []catalog.Layer{dirLayer{fsys: os.DirFS(p)}}}, nil
}
