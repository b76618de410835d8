package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// content is a generated image or index: its root manifest plus everything
// it references, ready to be written as an OCI layout or pushed over HTTP.
type content struct {
	Root      ocispec.Descriptor
	RootBytes []byte
	// Manifests below the root (an index's images), pushed before the root.
	Children []*content
	// Blobs are the config and layers, by digest.
	Blobs map[digest.Digest][]byte
}

// allBlobs returns every non-manifest blob of c and its children.
func (c *content) allBlobs() map[digest.Digest][]byte {
	out := map[digest.Digest][]byte{}
	for d, b := range c.Blobs {
		out[d] = b
	}
	for _, ch := range c.Children {
		for d, b := range ch.allBlobs() {
			out[d] = b
		}
	}
	return out
}

// seededRand gives each test its own reproducible content, so blobs never
// collide between tests yet a failure can be replayed.
func seededRand(t testing.TB, salt string) *rand.Rand {
	h := fnv.New64a()
	io.WriteString(h, t.Name()+"/"+salt)
	return rand.New(rand.NewPCG(h.Sum64(), 0x6d6f6174))
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

// newLayer builds a gzip-compressed tar layer of a few files of random
// (incompressible) bytes, and returns it with its uncompressed digest.
func newLayer(t testing.TB, r *rand.Rand, name string, size int) (blob []byte, diffID digest.Digest) {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dir := "data/" + name + "/"
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: mtime}); err != nil {
		t.Fatal(err)
	}
	for i, remaining := 0, size; remaining > 0; i++ {
		n := min(remaining, 128*1024+r.IntN(64*1024))
		remaining -= n
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%sfile-%d.bin", dir, i), Mode: 0o644, Size: int64(n), ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(randomBytes(r, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes(), digest.FromBytes(raw.Bytes())
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newImage generates an OCI image manifest with nLayers random layers of
// about layerSize bytes each, for the given platform.
func newImage(t testing.TB, r *rand.Rand, platform ocispec.Platform, nLayers, layerSize int) *content {
	t.Helper()
	c := &content{Blobs: map[digest.Digest][]byte{}}
	var layers []ocispec.Descriptor
	var diffIDs []digest.Digest
	for i := 0; i < nLayers; i++ {
		blob, diffID := newLayer(t, r, fmt.Sprintf("layer%d-%x", i, r.Uint32()), layerSize)
		d := digest.FromBytes(blob)
		c.Blobs[d] = blob
		layers = append(layers, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: d, Size: int64(len(blob))})
		diffIDs = append(diffIDs, diffID)
	}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	config := mustJSON(t, ocispec.Image{
		Created:  &created,
		Platform: platform,
		Config:   ocispec.ImageConfig{Cmd: []string{"/bin/true"}, Env: []string{"MOAT_E2E=" + t.Name()}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	configDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	c.Blobs[configDesc.Digest] = config
	c.RootBytes = mustJSON(t, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    layers,
	})
	p := platform
	c.Root = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(c.RootBytes), Size: int64(len(c.RootBytes)), Platform: &p}
	return c
}

// newIndex generates an OCI image index over one image per platform.
func newIndex(t testing.TB, r *rand.Rand, platforms []ocispec.Platform, nLayers, layerSize int) *content {
	t.Helper()
	c := &content{Blobs: map[digest.Digest][]byte{}}
	var manifests []ocispec.Descriptor
	for _, p := range platforms {
		img := newImage(t, r, p, nLayers, layerSize)
		c.Children = append(c.Children, img)
		manifests = append(manifests, img.Root)
	}
	c.RootBytes = mustJSON(t, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: manifests,
	})
	c.Root = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(c.RootBytes), Size: int64(len(c.RootBytes))}
	return c
}

var (
	linuxAMD64 = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	linuxARM64 = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)

// writeLayout writes c as an OCI image layout in dir, its root tagged tag.
// With an empty tag, c must be an index and becomes the layout's index.json
// byte for byte, which is how `crane push --index` reads a layout.
func writeLayout(t testing.TB, dir, tag string, c *content) {
	t.Helper()
	blobDir := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(d digest.Digest, b []byte) {
		if err := os.WriteFile(filepath.Join(blobDir, d.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var walk func(c *content)
	walk = func(c *content) {
		write(c.Root.Digest, c.RootBytes)
		for d, b := range c.Blobs {
			write(d, b)
		}
		for _, ch := range c.Children {
			walk(ch)
		}
	}
	walk(c)
	if tag == "" {
		// The layout's index.json is the image index itself.
		if err := os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), c.RootBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		writeLayoutMarker(t, dir)
		return
	}
	root := c.Root
	root.Platform = nil
	root.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
	index := mustJSON(t, ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{root}})
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), index, 0o644); err != nil {
		t.Fatal(err)
	}
	writeLayoutMarker(t, dir)
}

func writeLayoutMarker(t testing.TB, dir string) {
	t.Helper()
	layout := mustJSON(t, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), layout, 0o644); err != nil {
		t.Fatal(err)
	}
}

// layoutRootDigest returns the digest tagged tag in an OCI layout.
func layoutRootDigest(t testing.TB, dir, tag string) digest.Digest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatalf("index.json of %s: %v", dir, err)
	}
	for _, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == tag {
			return m.Digest
		}
	}
	t.Fatalf("layout %s has no manifest tagged %q: %s", dir, tag, data)
	return ""
}

// checkLayoutMatches checks that the layout's root tagged tag is c's root
// and that every blob c references is present with identical bytes.
func checkLayoutMatches(t *testing.T, dir, tag string, c *content) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatalf("index.json of %s: %v", dir, err)
	}
	var found *ocispec.Descriptor
	for i, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == tag || (tag == "" && len(idx.Manifests) == 1) {
			found = &idx.Manifests[i]
		}
	}
	if found == nil {
		t.Fatalf("layout %s has no manifest tagged %q: %s", dir, tag, data)
	}
	if found.Digest != c.Root.Digest {
		t.Fatalf("layout %s: root digest %s, want %s", dir, found.Digest, c.Root.Digest)
	}
	var walk func(c *content)
	walk = func(c *content) {
		check := func(d digest.Digest, want []byte) {
			got, err := os.ReadFile(filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()))
			if err != nil {
				t.Errorf("layout %s: blob %s missing: %v", dir, d, err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("layout %s: blob %s differs (%d bytes, want %d)", dir, d, len(got), len(want))
			}
		}
		check(c.Root.Digest, c.RootBytes)
		for d, b := range c.Blobs {
			check(d, b)
		}
		for _, ch := range c.Children {
			walk(ch)
		}
	}
	walk(c)
}

// registryClient talks to moat's /v2/ API directly, for setup and for
// checking what clients did, with the robot's credentials as Basic auth.
// It never stands in for a client under test.
type registryClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func newRegistryClient(t *testing.T, s *moatproc.Server) *registryClient {
	return &registryClient{t: t, base: s.URL, http: &http.Client{Timeout: time.Minute, Transport: s.Transport(http.DefaultTransport)}}
}

var manifestAccept = strings.Join([]string{
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")

func (rc *registryClient) do(method, path string, body []byte, header map[string]string) (*http.Response, []byte) {
	rc.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = rc.base + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		rc.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := rc.http.Do(req)
	if err != nil {
		rc.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		rc.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, data
}

// pushBlob uploads one blob with a POST then a monolithic PUT.
func (rc *registryClient) pushBlob(repo string, d digest.Digest, b []byte) {
	rc.t.Helper()
	resp, body := rc.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		rc.t.Fatalf("POST /v2/%s/blobs/uploads/: status %d: %s", repo, resp.StatusCode, body)
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		rc.t.Fatalf("POST /v2/%s/blobs/uploads/: bad Location %q: %v", repo, resp.Header.Get("Location"), err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	resp, body = rc.do(http.MethodPut, loc.String(), b, map[string]string{"Content-Type": "application/octet-stream"})
	if resp.StatusCode != http.StatusCreated {
		rc.t.Fatalf("PUT %s: status %d: %s", loc.Path, resp.StatusCode, body)
	}
}

// pushManifest PUTs manifest bytes under ref.
func (rc *registryClient) pushManifest(repo, ref, mediaType string, b []byte) {
	rc.t.Helper()
	resp, body := rc.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, b, map[string]string{"Content-Type": mediaType})
	if resp.StatusCode != http.StatusCreated {
		rc.t.Fatalf("PUT /v2/%s/manifests/%s: status %d: %s", repo, ref, resp.StatusCode, body)
	}
}

// push uploads c (blobs, then child manifests by digest, then the root
// under tag).
func (rc *registryClient) push(repo, tag string, c *content) {
	rc.t.Helper()
	for d, b := range c.allBlobs() {
		rc.pushBlob(repo, d, b)
	}
	for _, ch := range c.Children {
		rc.pushManifest(repo, ch.Root.Digest.String(), ch.Root.MediaType, ch.RootBytes)
	}
	rc.pushManifest(repo, tag, c.Root.MediaType, c.RootBytes)
}

// manifest GETs a manifest and returns its bytes and status; the digest of
// the bytes must match Docker-Content-Digest when the server sends one.
func (rc *registryClient) manifest(repo, ref string) ([]byte, int) {
	rc.t.Helper()
	resp, body := rc.do(http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil, map[string]string{"Accept": manifestAccept})
	if resp.StatusCode == http.StatusOK {
		if h := resp.Header.Get("Docker-Content-Digest"); h != "" && h != digest.FromBytes(body).String() {
			rc.t.Errorf("GET /v2/%s/manifests/%s: Docker-Content-Digest %s but body digest %s", repo, ref, h, digest.FromBytes(body))
		}
	}
	return body, resp.StatusCode
}

// manifestDigest returns the digest of the manifest at ref, failing if absent.
func (rc *registryClient) manifestDigest(repo, ref string) digest.Digest {
	rc.t.Helper()
	body, status := rc.manifest(repo, ref)
	if status != http.StatusOK {
		rc.t.Fatalf("GET /v2/%s/manifests/%s: status %d: %s", repo, ref, status, body)
	}
	return digest.FromBytes(body)
}

// blob GETs a blob and returns its bytes and status.
func (rc *registryClient) blob(repo string, d digest.Digest) ([]byte, int) {
	rc.t.Helper()
	resp, body := rc.do(http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	return body, resp.StatusCode
}

// tags lists a repository's tags, sorted.
func (rc *registryClient) tags(repo string) []string {
	rc.t.Helper()
	resp, body := rc.do(http.MethodGet, "/v2/"+repo+"/tags/list", nil, nil)
	if resp.StatusCode != http.StatusOK {
		rc.t.Fatalf("GET /v2/%s/tags/list: status %d: %s", repo, resp.StatusCode, body)
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		rc.t.Fatalf("GET /v2/%s/tags/list: %v: %s", repo, err, body)
	}
	slices.Sort(list.Tags)
	return list.Tags
}

// referrers lists the referrers of a digest through the referrers API.
func (rc *registryClient) referrers(repo string, d digest.Digest, artifactType string) ocispec.Index {
	rc.t.Helper()
	path := "/v2/" + repo + "/referrers/" + d.String()
	if artifactType != "" {
		path += "?artifactType=" + url.QueryEscape(artifactType)
	}
	resp, body := rc.do(http.MethodGet, path, nil, nil)
	if resp.StatusCode != http.StatusOK {
		rc.t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(body, &idx); err != nil {
		rc.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
	return idx
}

// startChunkedUpload opens an upload session and sends its first chunk. It
// returns the session's location as a path, so it can be resumed against a
// restarted server on another port.
func (rc *registryClient) startChunkedUpload(repo string, chunk []byte) string {
	rc.t.Helper()
	resp, body := rc.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		rc.t.Fatalf("POST /v2/%s/blobs/uploads/: status %d: %s", repo, resp.StatusCode, body)
	}
	return rc.patchChunk(rc.location(resp), 0, chunk)
}

// finishChunkedUpload sends the rest of an upload from offset on and closes
// it with the expected digest.
func (rc *registryClient) finishChunkedUpload(location string, offset int, rest []byte, d digest.Digest) digest.Digest {
	rc.t.Helper()
	location = rc.patchChunk(location, offset, rest)
	u, err := url.Parse(location)
	if err != nil {
		rc.t.Fatal(err)
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	resp, body := rc.do(http.MethodPut, u.String(), nil, nil)
	if resp.StatusCode != http.StatusCreated {
		rc.t.Fatalf("PUT %s: status %d: %s", u.Path, resp.StatusCode, body)
	}
	return d
}

func (rc *registryClient) patchChunk(location string, offset int, chunk []byte) string {
	rc.t.Helper()
	resp, body := rc.do(http.MethodPatch, location, chunk, map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", offset, offset+len(chunk)-1),
	})
	if resp.StatusCode != http.StatusAccepted {
		rc.t.Fatalf("PATCH %s (bytes %d-%d): status %d: %s", location, offset, offset+len(chunk)-1, resp.StatusCode, body)
	}
	return rc.location(resp)
}

// location returns a response's Location header as a path with its query.
func (rc *registryClient) location(resp *http.Response) string {
	rc.t.Helper()
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		rc.t.Fatalf("%s %s: bad Location %q: %v", resp.Request.Method, resp.Request.URL.Path, resp.Header.Get("Location"), err)
	}
	return loc.RequestURI()
}
