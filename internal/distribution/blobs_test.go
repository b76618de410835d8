package distribution_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestBase(t *testing.T) {
	e := newTestHandler(t)
	expect(t, e.do(t, req{method: "GET", path: "/v2/"}), http.StatusOK, "")
	expect(t, e.do(t, req{method: "HEAD", path: "/v2/"}), http.StatusOK, "")
	expect(t, e.do(t, req{method: "GET", path: "/v2"}), http.StatusOK, "")
	w := e.do(t, req{method: "POST", path: "/v2/"})
	expect(t, w, http.StatusMethodNotAllowed, "UNSUPPORTED")
	if w.Header().Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	expect(t, e.do(t, req{method: "GET", path: "/v2/foo"}), http.StatusNotFound, "NOT_FOUND")
}

// TestBlobUploadFlows pushes a blob every way the spec allows and reads it
// back through GET and HEAD.
func TestBlobUploadFlows(t *testing.T) {
	content := randomBytes(t, 3000)
	sha256d := digest.FromBytes(content)
	sha512d := digest.SHA512.FromBytes(content)
	tests := []struct {
		name string
		d    digest.Digest
		push func(t *testing.T, e *testEnv, repo string, d digest.Digest, content []byte) *responseLike
	}{
		{"monolithic POST", sha256d, func(t *testing.T, e *testEnv, repo string, d digest.Digest, content []byte) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=" + d.String(), body: content}))
		}},
		{"POST then PUT", sha256d, func(t *testing.T, e *testEnv, repo string, d digest.Digest, content []byte) *responseLike {
			loc := e.uploadLocation(t, repo)
			return wrap(e.do(t, req{method: "PUT", path: loc + "?digest=" + d.String(), body: content}))
		}},
		{"streamed PATCH", sha256d, func(t *testing.T, e *testEnv, repo string, d digest.Digest, content []byte) *responseLike {
			loc := e.uploadLocation(t, repo)
			w := e.do(t, req{method: "PATCH", path: loc, body: content})
			expect(t, w, http.StatusAccepted, "")
			if got := w.Header().Get("Range"); got != "0-2999" {
				t.Errorf("Range = %q", got)
			}
			return wrap(e.do(t, req{method: "PUT", path: w.Header().Get("Location") + "?digest=" + d.String()}))
		}},
		{"chunked PATCH", sha256d, chunked},
		{"chunked sha512", sha512d, chunked},
		{"monolithic sha512", sha512d, func(t *testing.T, e *testEnv, repo string, d digest.Digest, content []byte) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=" + d.String(), body: content}))
		}},
		{"chunks with final PUT chunk", sha256d, func(t *testing.T, e *testEnv, repo string, d digest.Digest, content []byte) *responseLike {
			loc := e.uploadLocation(t, repo)
			w := e.do(t, req{method: "PATCH", path: loc, header: hdr("Content-Range", "0-999"), body: content[:1000]})
			expect(t, w, http.StatusAccepted, "")
			return wrap(e.do(t, req{method: "PUT", path: w.Header().Get("Location") + "?digest=" + d.String(),
				header: hdr("Content-Range", "1000-2999"), body: content[1000:]}))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestHandler(t)
			repo := "flows/repo"
			w := tc.push(t, e, repo, tc.d, content)
			if w.code != http.StatusCreated {
				t.Fatalf("status %d: %s", w.code, w.body)
			}
			if got := w.header.Get("Location"); got != "/v2/"+repo+"/blobs/"+tc.d.String() {
				t.Errorf("Location = %q", got)
			}
			if got := w.header.Get("Docker-Content-Digest"); got != tc.d.String() {
				t.Errorf("Docker-Content-Digest = %q", got)
			}
			g := e.do(t, req{method: "GET", path: "/v2/" + repo + "/blobs/" + tc.d.String()})
			expect(t, g, http.StatusOK, "")
			if !bytes.Equal(g.Body.Bytes(), content) {
				t.Error("GET returned different content")
			}
			if g.Header().Get("Content-Length") != strconv.Itoa(len(content)) || g.Header().Get("Docker-Content-Digest") != tc.d.String() {
				t.Errorf("GET headers %v", g.Header())
			}
			hd := e.do(t, req{method: "HEAD", path: "/v2/" + repo + "/blobs/" + tc.d.String()})
			expect(t, hd, http.StatusOK, "")
			if hd.Body.Len() != 0 || hd.Header().Get("Content-Length") != strconv.Itoa(len(content)) {
				t.Errorf("HEAD body %d bytes, headers %v", hd.Body.Len(), hd.Header())
			}
			e.assertNoUploads(t)
		})
	}
}

type responseLike struct {
	code   int
	header http.Header
	body   string
}

func wrap(w interface {
	Result() *http.Response
}) *responseLike {
	res := w.Result()
	b := new(bytes.Buffer)
	_, _ = b.ReadFrom(res.Body)
	return &responseLike{code: res.StatusCode, header: res.Header, body: b.String()}
}

func chunked(t *testing.T, e *testEnv, repo string, d digest.Digest, content []byte) *responseLike {
	loc := e.uploadLocation(t, repo)
	for start := 0; start < len(content); start += 1024 {
		end := min(start+1024, len(content)) - 1
		w := e.do(t, req{method: "PATCH", path: loc, header: hdr("Content-Range", fmt.Sprintf("%d-%d", start, end)), body: content[start : end+1]})
		expect(t, w, http.StatusAccepted, "")
		if got := w.Header().Get("Range"); got != fmt.Sprintf("0-%d", end) {
			t.Errorf("Range = %q after chunk ending at %d", got, end)
		}
		if w.Header().Get("Docker-Upload-UUID") == "" {
			t.Error("no Docker-Upload-UUID")
		}
		loc = w.Header().Get("Location")
		st := e.do(t, req{method: "GET", path: loc})
		expect(t, st, http.StatusNoContent, "")
		if got := st.Header().Get("Range"); got != fmt.Sprintf("0-%d", end) {
			t.Errorf("status Range = %q", got)
		}
	}
	return wrap(e.do(t, req{method: "PUT", path: loc + "?digest=" + d.String()}))
}
