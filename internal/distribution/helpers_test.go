package distribution_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/blob/fs"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

type testEnv struct {
	handler http.Handler
	reg     *registry.Registry
	blobs   *fs.Driver
	root    string
	md      meta.Store
}

func newTestHandler(t *testing.T) *testEnv {
	t.Helper()
	return newTestHandlerOn(t, newStore(t))
}

func newTestHandlerOn(t *testing.T, md meta.Store) *testEnv {
	t.Helper()
	root := t.TempDir()
	blobs, err := fs.New(root, fs.WithoutSyncUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(blobs, md, registry.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{handler: distribution.New(reg), reg: reg, blobs: blobs, root: root, md: md}
}

// req is one HTTP request against the handler.
type req struct {
	method, path string
	header       http.Header
	body         []byte
	// contentLength overrides the body's length (to fake a truncated body).
	contentLength int64
}

func (e *testEnv) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	hr := httptest.NewRequest(r.method, r.path, bytes.NewReader(r.body))
	for k, vs := range r.header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if r.contentLength != 0 {
		hr.ContentLength = r.contentLength
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, hr)
	if got := w.Header().Get("Docker-Distribution-API-Version"); got != "registry/2.0" {
		t.Errorf("%s %s: Docker-Distribution-API-Version = %q", r.method, r.path, got)
	}
	return w
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// expect checks a response's status and, for errors, its spec code.
func expect(t *testing.T, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body.String())
	}
	if code == "" {
		return
	}
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if len(body.Errors) != 1 || body.Errors[0].Code != code || body.Errors[0].Message == "" {
		t.Fatalf("errors = %+v, want one with code %s", body.Errors, code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q", ct)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// pushBlob uploads content monolithically into repo.
func (e *testEnv) pushBlob(t *testing.T, repo string, content []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(content)
	w := e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=" + d.String(), body: content})
	expect(t, w, http.StatusCreated, "")
	return d
}

// image builds an image manifest whose config and one layer are pushed
// to repo (unless skipPush).
func (e *testEnv) image(t *testing.T, repo string, mutate func(*v1.Manifest)) ([]byte, digest.Digest) {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := randomBytes(t, 300)
	m := v1.Manifest{
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: e.pushBlob(t, repo, cfg), Size: int64(len(cfg))},
		Layers:    []v1.Descriptor{{MediaType: v1.MediaTypeImageLayerGzip, Digest: e.pushBlob(t, repo, layer), Size: 300}},
	}
	m.SchemaVersion = 2
	if mutate != nil {
		mutate(&m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b, digest.FromBytes(b)
}

func (e *testEnv) putManifest(t *testing.T, repo, ref, mediaType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	return e.do(t, req{method: "PUT", path: "/v2/" + repo + "/manifests/" + ref, header: hdr("Content-Type", mediaType), body: body})
}

// assertNoUploads checks that no upload session remains, in metadata or
// in blob storage.
func (e *testEnv) assertNoUploads(t *testing.T) {
	t.Helper()
	stale, err := e.md.StaleUploads(context.Background(), time.Now().Add(time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 0 {
		t.Errorf("%d upload session(s) left in metadata", len(stale))
	}
	entries, err := os.ReadDir(filepath.Join(e.root, "uploads"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%d upload(s) left in blob storage", len(entries))
	}
}

// assertNoBlob checks that d is neither recorded nor stored.
func (e *testEnv) assertNoBlob(t *testing.T, d digest.Digest) {
	t.Helper()
	ok, err := e.md.HasBlob(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Errorf("blob %s recorded", d)
	}
	if _, err := e.blobs.Stat(context.Background(), d); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("blob %s in storage: err = %v", d, err)
	}
}

func (e *testEnv) uploadLocation(t *testing.T, repo string) string {
	t.Helper()
	w := e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/"})
	expect(t, w, http.StatusAccepted, "")
	loc := w.Header().Get("Location")
	if !strings.HasPrefix(loc, "/v2/"+repo+"/blobs/uploads/") {
		t.Fatalf("Location = %q", loc)
	}
	return loc
}
