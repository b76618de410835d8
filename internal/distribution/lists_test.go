package distribution_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestTagsList(t *testing.T) {
	e := newTestHandler(t)
	const repo = "list/tags"
	body, _ := e.image(t, repo, nil)
	all := []string{"a", "b", "c", "d", "e"}
	for _, tag := range all {
		expect(t, e.putManifest(t, repo, tag, v1.MediaTypeImageManifest, body), 201, "")
	}
	tests := []struct {
		query string
		want  []string
		link  string
	}{
		{"", all, ""},
		{"?n=2", []string{"a", "b"}, `</v2/list/tags/tags/list?last=b&n=2>; rel="next"`},
		{"?n=2&last=b", []string{"c", "d"}, `</v2/list/tags/tags/list?last=d&n=2>; rel="next"`},
		{"?n=2&last=d", []string{"e"}, ""},
		{"?last=c", []string{"d", "e"}, ""},
		{"?n=5", all, ""},
		{"?n=0", []string{}, ""},
		{"?last=z", []string{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			w := e.do(t, req{method: "GET", path: "/v2/" + repo + "/tags/list" + tc.query})
			expect(t, w, 200, "")
			var got struct {
				Name string   `json:"name"`
				Tags []string `json:"tags"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Name != repo || !slices.Equal(got.Tags, tc.want) || got.Tags == nil {
				t.Errorf("got %+v, want tags %v", got, tc.want)
			}
			if link := w.Header().Get("Link"); link != tc.link {
				t.Errorf("Link = %q, want %q", link, tc.link)
			}
		})
	}
	expect(t, e.do(t, req{method: "GET", path: "/v2/" + repo + "/tags/list?n=-1"}), 400, "UNSUPPORTED")
	expect(t, e.do(t, req{method: "GET", path: "/v2/" + repo + "/tags/list?n=x"}), 400, "UNSUPPORTED")
	expect(t, e.do(t, req{method: "GET", path: "/v2/list/unknown/tags/list"}), 404, "NAME_UNKNOWN")
	expect(t, e.do(t, req{method: "GET", path: "/v2/List/tags/tags/list"}), 400, "NAME_INVALID")
	expect(t, e.do(t, req{method: "DELETE", path: "/v2/" + repo + "/tags/list"}), 405, "UNSUPPORTED")
}

func TestCatalog(t *testing.T) {
	e := newTestHandler(t)
	repos := []string{"c/one", "a/two", "b/three"}
	for _, r := range repos {
		e.pushBlob(t, r, []byte(r))
	}
	w := e.do(t, req{method: "GET", path: "/v2/_catalog"})
	expect(t, w, 200, "")
	var got struct{ Repositories []string }
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Repositories, []string{"a/two", "b/three", "c/one"}) {
		t.Errorf("catalog %v", got.Repositories)
	}
	w = e.do(t, req{method: "GET", path: "/v2/_catalog?n=1&last=a/two"})
	expect(t, w, 200, "")
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Repositories, []string{"b/three"}) {
		t.Errorf("page %v", got.Repositories)
	}
	if link := w.Header().Get("Link"); link != `</v2/_catalog?last=b%2Fthree&n=1>; rel="next"` {
		t.Errorf("Link = %q", link)
	}
	expect(t, e.do(t, req{method: "POST", path: "/v2/_catalog"}), 405, "UNSUPPORTED")
}

func TestReferrers(t *testing.T) {
	e := newTestHandler(t)
	const repo = "ref/app"
	subject, sd := e.image(t, repo, nil)
	expect(t, e.putManifest(t, repo, "latest", v1.MediaTypeImageManifest, subject), 201, "")
	want := map[digest.Digest]string{}
	for i, at := range []string{"application/vnd.example.sbom", "application/vnd.example.sig", ""} {
		body, d := e.image(t, repo, func(m *v1.Manifest) {
			m.ArtifactType = at
			m.Subject = &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: sd, Size: int64(len(subject))}
			m.Annotations = map[string]string{"n": fmt.Sprint(i)}
		})
		expect(t, e.putManifest(t, repo, d.String(), v1.MediaTypeImageManifest, body), 201, "")
		if at == "" {
			at = v1.MediaTypeImageConfig // an image without artifactType reports its config type
		}
		want[d] = at
	}
	list := func(query string) (v1.Index, http.Header) {
		w := e.do(t, req{method: "GET", path: "/v2/" + repo + "/referrers/" + sd.String() + query})
		expect(t, w, 200, "")
		if ct := w.Header().Get("Content-Type"); ct != v1.MediaTypeImageIndex {
			t.Errorf("Content-Type = %q", ct)
		}
		var idx v1.Index
		if err := json.Unmarshal(w.Body.Bytes(), &idx); err != nil {
			t.Fatal(err)
		}
		if idx.SchemaVersion != 2 || idx.MediaType != v1.MediaTypeImageIndex {
			t.Errorf("not an OCI index: %+v", idx)
		}
		return idx, w.Header()
	}
	idx, h := list("")
	if len(idx.Manifests) != 3 || h.Get("OCI-Filters-Applied") != "" {
		t.Fatalf("unfiltered: %d manifests, filters %q", len(idx.Manifests), h.Get("OCI-Filters-Applied"))
	}
	for _, m := range idx.Manifests {
		if want[m.Digest] != m.ArtifactType || m.MediaType != v1.MediaTypeImageManifest || m.Size == 0 || m.Annotations["n"] == "" {
			t.Errorf("descriptor %+v", m)
		}
	}
	idx, h = list("?artifactType=application/vnd.example.sig")
	if len(idx.Manifests) != 1 || idx.Manifests[0].ArtifactType != "application/vnd.example.sig" || h.Get("OCI-Filters-Applied") != "artifactType" {
		t.Errorf("filtered: %+v, filters %q", idx.Manifests, h.Get("OCI-Filters-Applied"))
	}
	idx, _ = list("?artifactType=application/none")
	if len(idx.Manifests) != 0 || idx.Manifests == nil {
		t.Errorf("no match should be an empty list, got %+v", idx.Manifests)
	}
	w := e.do(t, req{method: "GET", path: "/v2/ref/unknown/referrers/" + sd.String()})
	expect(t, w, 200, "")
	if string(w.Body.Bytes()) == "" {
		t.Error("empty body for unknown repository")
	}
	expect(t, e.do(t, req{method: "GET", path: "/v2/" + repo + "/referrers/sha256:short"}), 400, "DIGEST_INVALID")
	expect(t, e.do(t, req{method: "PUT", path: "/v2/" + repo + "/referrers/" + sd.String()}), 405, "UNSUPPORTED")
}
