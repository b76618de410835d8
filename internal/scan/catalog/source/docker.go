package source

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	digest "github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// dockerManifest is one entry of a docker-archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// blobPathDigest returns the digest named by a layer path of a
// docker-archive written in layout form ("blobs/sha256/<hex>"), or "".
func blobPathDigest(name string) string {
	rest, ok := strings.CutPrefix(name, "blobs/")
	if !ok {
		return ""
	}
	alg, enc, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
	if d.Validate() != nil {
		return ""
	}
	return d.String()
}

// openDockerArchive opens the image of a `docker save` archive. A layer's
// digest is taken from its blob path, or for the older "<id>/layer.tar"
// form (uncompressed tars) from the config's diff_ids, which then are the
// digests of those files.
func openDockerArchive(ts *tarStore, tag string) (Image, error) {
	b, err := readJSON(ts, "manifest.json")
	if err != nil {
		return nil, fmt.Errorf("docker-archive: manifest.json: %w", err)
	}
	var ms []dockerManifest
	if err := json.Unmarshal(b, &ms); err != nil {
		return nil, fmt.Errorf("docker-archive: manifest.json: %w", err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%w: docker-archive lists no image", ErrNotFound)
	}
	m := ms[0]
	if tag != "" {
		i := slices.IndexFunc(ms, func(m dockerManifest) bool {
			return slices.ContainsFunc(m.RepoTags, func(t string) bool { return t == tag || hasTag(t, tag) })
		})
		if i < 0 {
			return nil, fmt.Errorf("%w: no image tagged %q", ErrNotFound, tag)
		}
		m = ms[i]
	} else if len(ms) > 1 {
		return nil, fmt.Errorf("%w: docker-archive holds %d images, name one with :TAG", ErrNotFound, len(ms))
	}
	var diffIDs []string
	cb, err := readJSON(ts, m.Config)
	if err != nil {
		return nil, fmt.Errorf("docker-archive: config: %w", err)
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return nil, fmt.Errorf("docker-archive: config: %w", err)
	}
	diffIDs = cfg.RootFS.DiffIDs
	img := &image{kind: DockerArchive, closer: ts, config: func() ([]byte, error) { return cb, nil }}
	for i, name := range m.Layers {
		if !ts.has(name) {
			return nil, fmt.Errorf("%w: layer %s", ErrNotFound, name)
		}
		dgst := blobPathDigest(name)
		if dgst == "" && i < len(diffIDs) {
			dgst = diffIDs[i]
		}
		if _, err := blobName(dgst); err != nil {
			return nil, fmt.Errorf("docker-archive: layer %s: %w", name, err)
		}
		img.layers = append(img.layers, &layer{digest: dgst, name: name, store: ts})
	}
	return img, nil
}

// hasTag matches a RepoTag against a bare tag ("v1") or a reference in
// any spelling docker accepts ("local/app:v1" for
// "docker.io/local/app:v1").
func hasTag(repoTag, tag string) bool {
	if len(repoTag) > len(tag) && repoTag[len(repoTag)-len(tag)-1:] == ":"+tag {
		return true
	}
	a, err1 := name.ParseReference(repoTag)
	b, err2 := name.ParseReference(tag)
	return err1 == nil && err2 == nil && a.Name() == b.Name()
}

var _ catalog.Layer = (*layer)(nil)
