package distribution_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/manifest"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestManifestPushPullDelete(t *testing.T) {
	e := newTestHandler(t)
	const repo = "app/web"
	body, d := e.image(t, repo, nil)

	w := e.putManifest(t, repo, "v1", v1.MediaTypeImageManifest, body)
	expect(t, w, http.StatusCreated, "")
	if got := w.Header().Get("Location"); got != "/v2/"+repo+"/manifests/"+d.String() {
		t.Errorf("Location = %q", got)
	}
	if got := w.Header().Get("Docker-Content-Digest"); got != d.String() {
		t.Errorf("Docker-Content-Digest = %q", got)
	}
	if w.Header().Get("OCI-Subject") != "" {
		t.Error("OCI-Subject set for a manifest without subject")
	}

	for _, ref := range []string{"v1", d.String()} {
		for _, method := range []string{"GET", "HEAD"} {
			g := e.do(t, req{method: method, path: "/v2/" + repo + "/manifests/" + ref,
				header: hdr("Accept", v1.MediaTypeImageIndex, "Accept", v1.MediaTypeImageManifest)})
			expect(t, g, 200, "")
			if g.Header().Get("Content-Type") != v1.MediaTypeImageManifest ||
				g.Header().Get("Docker-Content-Digest") != d.String() ||
				g.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("%s %s headers %v", method, ref, g.Header())
			}
			if method == "GET" && !bytes.Equal(g.Body.Bytes(), body) {
				t.Errorf("GET %s body differs", ref)
			}
			if method == "HEAD" && g.Body.Len() != 0 {
				t.Errorf("HEAD has a body")
			}
		}
	}
	// Manifests are also readable through the blob endpoint.
	g := e.do(t, req{method: "GET", path: "/v2/" + repo + "/blobs/" + d.String()})
	expect(t, g, 200, "")
	if !bytes.Equal(g.Body.Bytes(), body) {
		t.Error("manifest via blob endpoint differs")
	}

	// Deleting a tag leaves the manifest; deleting the digest removes both.
	expect(t, e.putManifest(t, repo, "v1-alias", v1.MediaTypeImageManifest, body), 201, "")
	expect(t, e.do(t, req{method: "DELETE", path: "/v2/" + repo + "/manifests/v1-alias"}), 202, "")
	expect(t, e.do(t, req{method: "HEAD", path: "/v2/" + repo + "/manifests/v1-alias"}), 404, "")
	expect(t, e.do(t, req{method: "HEAD", path: "/v2/" + repo + "/manifests/" + d.String()}), 200, "")
	expect(t, e.do(t, req{method: "DELETE", path: "/v2/" + repo + "/manifests/" + d.String()}), 202, "")
	expect(t, e.do(t, req{method: "GET", path: "/v2/" + repo + "/manifests/v1"}), 404, "MANIFEST_UNKNOWN")
	expect(t, e.do(t, req{method: "GET", path: "/v2/" + repo + "/manifests/" + d.String()}), 404, "MANIFEST_UNKNOWN")
	expect(t, e.do(t, req{method: "DELETE", path: "/v2/" + repo + "/manifests/" + d.String()}), 404, "MANIFEST_UNKNOWN")
	expect(t, e.do(t, req{method: "DELETE", path: "/v2/" + repo + "/manifests/nosuchtag"}), 404, "MANIFEST_UNKNOWN")
}

func TestManifestAcceptNegotiation(t *testing.T) {
	e := newTestHandler(t)
	const repo = "app/accept"
	body, _ := e.image(t, repo, nil)
	expect(t, e.putManifest(t, repo, "latest", v1.MediaTypeImageManifest, body), 201, "")
	tests := []struct {
		accept []string
		status int
	}{
		{nil, 200},
		{[]string{v1.MediaTypeImageManifest}, 200},
		{[]string{v1.MediaTypeImageIndex + ", " + v1.MediaTypeImageManifest + ";q=0.9"}, 200},
		{[]string{"*/*"}, 200},
		{[]string{"application/*"}, 200},
		{[]string{v1.MediaTypeImageIndex}, 404},
		{[]string{"application/vnd.docker.distribution.manifest.v2+json"}, 404},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.accept, "|"), func(t *testing.T) {
			h := http.Header{}
			for _, a := range tc.accept {
				h.Add("Accept", a)
			}
			w := e.do(t, req{method: "GET", path: "/v2/" + repo + "/manifests/latest", header: h})
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
		})
	}
}

func TestManifestSubjectAndTagParams(t *testing.T) {
	e := newTestHandler(t)
	const repo = "app/sub"
	subject, sd := e.image(t, repo, nil)
	expect(t, e.putManifest(t, repo, sd.String(), v1.MediaTypeImageManifest, subject), 201, "")
	art, ad := e.image(t, repo, func(m *v1.Manifest) {
		m.ArtifactType = "application/vnd.example.sig"
		m.Subject = &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: sd, Size: int64(len(subject))}
		m.Annotations = map[string]string{"k": "v"}
	})
	w := e.do(t, req{method: "PUT", path: "/v2/" + repo + "/manifests/" + ad.String() + "?tag=sig1&tag=sig2",
		header: hdr("Content-Type", v1.MediaTypeImageManifest), body: art})
	expect(t, w, 201, "")
	if got := w.Header().Get("OCI-Subject"); got != sd.String() {
		t.Errorf("OCI-Subject = %q", got)
	}
	if got := w.Header().Values("OCI-Tag"); len(got) != 2 {
		t.Errorf("OCI-Tag = %v", got)
	}
	for _, tag := range []string{"sig1", "sig2"} {
		expect(t, e.do(t, req{method: "HEAD", path: "/v2/" + repo + "/manifests/" + tag}), 200, "")
	}
	// A subject that does not exist is accepted (the spec requires it).
	missing := digest.FromString("not pushed")
	orphan, _ := e.image(t, repo, func(m *v1.Manifest) {
		m.Subject = &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: missing, Size: 10}
	})
	w = e.putManifest(t, repo, "orphan", v1.MediaTypeImageManifest, orphan)
	expect(t, w, 201, "")
	if got := w.Header().Get("OCI-Subject"); got != missing.String() {
		t.Errorf("OCI-Subject = %q", got)
	}
}

// TestManifestErrors pushes bad manifests; each gets the spec's error and
// stores nothing (no manifest, no tag).
func TestManifestErrors(t *testing.T) {
	const repo = "bad/manifests"
	tooBig := bytes.Repeat([]byte(" "), manifest.MaxSize+1)
	tests := []struct {
		name        string
		ref         string
		contentType string
		body        func(t *testing.T, e *testEnv) []byte
		status      int
		code        string
	}{
		{"layer not in repository", "latest", v1.MediaTypeImageManifest, func(t *testing.T, e *testEnv) []byte {
			b, _ := e.image(t, repo, func(m *v1.Manifest) {
				m.Layers = append(m.Layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromString("absent"), Size: 6})
			})
			return b
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"blob of another repository", "latest", v1.MediaTypeImageManifest, func(t *testing.T, e *testEnv) []byte {
			b, _ := e.image(t, "other/repo", nil)
			return b
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"index child missing", "latest", v1.MediaTypeImageIndex, func(t *testing.T, e *testEnv) []byte {
			return mustJSON(t, v1.Index{Versioned: versioned(), MediaType: v1.MediaTypeImageIndex,
				Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("child"), Size: 5}}})
		}, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"invalid JSON", "latest", v1.MediaTypeImageManifest, func(*testing.T, *testEnv) []byte {
			return []byte(`{"schemaVersion":2,`)
		}, 400, "MANIFEST_INVALID"},
		{"empty body", "latest", v1.MediaTypeImageManifest, func(*testing.T, *testEnv) []byte { return nil }, 400, "MANIFEST_INVALID"},
		{"oversize", "latest", v1.MediaTypeImageManifest, func(*testing.T, *testEnv) []byte { return tooBig }, 413, "SIZE_INVALID"},
		{"digest mismatch", digest.FromString("x").String(), v1.MediaTypeImageManifest, func(t *testing.T, e *testEnv) []byte {
			b, _ := e.image(t, repo, nil)
			return b
		}, 400, "DIGEST_INVALID"},
		{"malformed digest", "sha256:baddigeststring", v1.MediaTypeImageManifest, func(t *testing.T, e *testEnv) []byte {
			b, _ := e.image(t, repo, nil)
			return b
		}, 400, "DIGEST_INVALID"},
		{"unknown media type", "latest", "application/vnd.example.unknown+json", func(t *testing.T, e *testEnv) []byte {
			return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.example.unknown+json"}`)
		}, 400, "MANIFEST_INVALID"},
		{"schema1", "latest", "application/vnd.docker.distribution.manifest.v1+prettyjws", func(t *testing.T, e *testEnv) []byte {
			return []byte(`{"schemaVersion":1,"name":"bad/manifests","tag":"latest","architecture":"amd64","fsLayers":[],"history":[],"signatures":[]}`)
		}, 400, "MANIFEST_INVALID"},
		{"media type disagrees with Content-Type", "latest", v1.MediaTypeImageIndex, func(t *testing.T, e *testEnv) []byte {
			b, _ := e.image(t, repo, nil)
			return b
		}, 400, "MANIFEST_INVALID"},
		{"invalid tag", "-bad", v1.MediaTypeImageManifest, func(t *testing.T, e *testEnv) []byte {
			b, _ := e.image(t, repo, nil)
			return b
		}, 400, "TAG_INVALID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestHandler(t)
			body := tc.body(t, e)
			w := e.putManifest(t, repo, tc.ref, tc.contentType, body)
			expect(t, w, tc.status, tc.code)
			e.assertNoManifest(t, repo, body)
		})
	}
	t.Run("invalid tag parameter", func(t *testing.T) {
		e := newTestHandler(t)
		body, d := e.image(t, repo, nil)
		w := e.do(t, req{method: "PUT", path: "/v2/" + repo + "/manifests/" + d.String() + "?tag=ok&tag=.bad",
			header: hdr("Content-Type", v1.MediaTypeImageManifest), body: body})
		expect(t, w, 400, "TAG_INVALID")
		e.assertNoManifest(t, repo, body)
	})
	t.Run("invalid repository", func(t *testing.T) {
		e := newTestHandler(t)
		body, _ := e.image(t, repo, nil)
		expect(t, e.putManifest(t, "Bad/Repo", "latest", v1.MediaTypeImageManifest, body), 400, "NAME_INVALID")
	})
	t.Run("bad references on GET", func(t *testing.T) {
		e := newTestHandler(t)
		expect(t, e.do(t, req{method: "GET", path: "/v2/" + repo + "/manifests/sha256:baddigeststring"}), 400, "DIGEST_INVALID")
		expect(t, e.do(t, req{method: "GET", path: "/v2/" + repo + "/manifests/" + digest.FromString("x").String()}), 404, "MANIFEST_UNKNOWN")
		expect(t, e.do(t, req{method: "GET", path: "/v2/" + repo + "/manifests/missing"}), 404, "MANIFEST_UNKNOWN")
		expect(t, e.do(t, req{method: "POST", path: "/v2/" + repo + "/manifests/missing"}), 405, "UNSUPPORTED")
	})
}

func (e *testEnv) assertNoManifest(t *testing.T, repo string, body []byte) {
	t.Helper()
	ctx := context.Background()
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		if _, err := e.md.GetManifest(ctx, repo, alg.FromBytes(body)); !errors.Is(err, meta.ErrNotFound) {
			t.Errorf("manifest stored: err = %v", err)
		}
	}
	tags, err := e.md.ListTags(ctx, repo, meta.Page{})
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		t.Fatal(err)
	}
	if len(tags) != 0 {
		t.Errorf("tags stored: %v", tags)
	}
}

func versioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
