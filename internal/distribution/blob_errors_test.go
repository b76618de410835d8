package distribution_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/blob/fs"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/registry"
)

// TestBlobUploadErrors sends bad uploads. Each gets the spec's error and
// leaves no blob and no upload session behind.
func TestBlobUploadErrors(t *testing.T) {
	const repo = "bad/uploads"
	content := randomBytes(t, 2048)
	good := digest.FromBytes(content)
	wrong := digest.FromString("something else")
	tests := []struct {
		name   string
		run    func(t *testing.T, e *testEnv) *responseLike
		status int
		code   string
	}{
		{"monolithic wrong digest", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=" + wrong.String(), body: content}))
		}, 400, "DIGEST_INVALID"},
		{"monolithic malformed digest", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=sha256:xyz", body: content}))
		}, 400, "DIGEST_INVALID"},
		{"monolithic unsupported algorithm", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=md5:d41d8cd98f00b204e9800998ecf8427e", body: content}))
		}, 400, "DIGEST_INVALID"},
		{"monolithic truncated body", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?digest=" + good.String(),
				body: content[:1000], contentLength: int64(len(content))}))
		}, 400, "SIZE_INVALID"},
		{"invalid repository name", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/Bad_Name/blobs/uploads/?digest=" + good.String(), body: content}))
		}, 400, "NAME_INVALID"},
		{"invalid repository name on start", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/a/-b/blobs/uploads/"}))
		}, 400, "NAME_INVALID"},
		{"POST+PUT wrong digest removes the session", func(t *testing.T, e *testEnv) *responseLike {
			loc := e.uploadLocation(t, repo)
			w := wrap(e.do(t, req{method: "PUT", path: loc + "?digest=" + wrong.String(), body: content}))
			expect(t, e.do(t, req{method: "GET", path: loc}), 404, "BLOB_UPLOAD_UNKNOWN")
			return w
		}, 400, "DIGEST_INVALID"},
		{"chunked wrong sha512 digest", func(t *testing.T, e *testEnv) *responseLike {
			loc := e.uploadLocation(t, repo)
			expect(t, e.do(t, req{method: "PATCH", path: loc, body: content}), 202, "")
			return wrap(e.do(t, req{method: "PUT", path: loc + "?digest=" + digest.SHA512.FromString("x").String()}))
		}, 400, "DIGEST_INVALID"},
		{"PUT without digest", func(t *testing.T, e *testEnv) *responseLike {
			loc := e.uploadLocation(t, repo)
			w := wrap(e.do(t, req{method: "PUT", path: loc, body: content}))
			expect(t, e.do(t, req{method: "DELETE", path: loc}), 204, "")
			return w
		}, 400, "DIGEST_INVALID"},
		{"PATCH unknown session", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "PATCH", path: "/v2/" + repo + "/blobs/uploads/NOSUCHSESSION", body: content}))
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"PUT unknown session", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "PUT", path: "/v2/" + repo + "/blobs/uploads/NOSUCHSESSION?digest=" + good.String(), body: content}))
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"GET unknown session", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "GET", path: "/v2/" + repo + "/blobs/uploads/NOSUCHSESSION"}))
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"hostile session ID", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "PATCH", path: "/v2/" + repo + "/blobs/uploads/..%2F..%2Fetc", body: content}))
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"session of another repository", func(t *testing.T, e *testEnv) *responseLike {
			loc := e.uploadLocation(t, "other/repo")
			id := loc[strings.LastIndex(loc, "/")+1:]
			w := wrap(e.do(t, req{method: "PATCH", path: "/v2/" + repo + "/blobs/uploads/" + id, body: content}))
			expect(t, e.do(t, req{method: "DELETE", path: loc}), 204, "")
			return w
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"cancelled session is gone", func(t *testing.T, e *testEnv) *responseLike {
			loc := e.uploadLocation(t, repo)
			expect(t, e.do(t, req{method: "PATCH", path: loc, body: content[:100]}), 202, "")
			expect(t, e.do(t, req{method: "DELETE", path: loc}), 204, "")
			return wrap(e.do(t, req{method: "PUT", path: loc + "?digest=" + good.String(), body: content[100:]}))
		}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"Content-Range disagrees with Content-Length", func(t *testing.T, e *testEnv) *responseLike {
			loc := e.uploadLocation(t, repo)
			w := wrap(e.do(t, req{method: "PATCH", path: loc, header: hdr("Content-Range", "0-99"), body: content[:50]}))
			expect(t, e.do(t, req{method: "DELETE", path: loc}), 204, "")
			return w
		}, 400, "SIZE_INVALID"},
		{"malformed Content-Range", func(t *testing.T, e *testEnv) *responseLike {
			loc := e.uploadLocation(t, repo)
			w := wrap(e.do(t, req{method: "PATCH", path: loc, header: hdr("Content-Range", "oops"), body: content[:50]}))
			expect(t, e.do(t, req{method: "DELETE", path: loc}), 204, "")
			return w
		}, 416, "RANGE_INVALID"},
		{"mount with malformed digest", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?mount=sha256:nope&from=x/y"}))
		}, 400, "DIGEST_INVALID"},
		{"mount from invalid repository", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "POST", path: "/v2/" + repo + "/blobs/uploads/?mount=" + good.String() + "&from=BAD"}))
		}, 400, "NAME_INVALID"},
		{"blob method not allowed", func(t *testing.T, e *testEnv) *responseLike {
			return wrap(e.do(t, req{method: "PUT", path: "/v2/" + repo + "/blobs/" + good.String(), body: content}))
		}, 405, "UNSUPPORTED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestHandler(t)
			w := tc.run(t, e)
			if w.code != tc.status || !strings.Contains(w.body, `"code":"`+tc.code+`"`) {
				t.Fatalf("got %d %s, want %d %s", w.code, w.body, tc.status, tc.code)
			}
			e.assertNoBlob(t, good)
			e.assertNoBlob(t, wrong)
			e.assertNoUploads(t)
		})
	}
}

// TestChunkOutOfOrder: a chunk that skips ahead or rewinds gets 416 with
// the current Range and changes nothing; the upload then completes.
func TestChunkOutOfOrder(t *testing.T) {
	e := newTestHandler(t)
	const repo = "chunks/ooo"
	content := randomBytes(t, 3000)
	d := digest.FromBytes(content)
	loc := e.uploadLocation(t, repo)

	w := e.do(t, req{method: "PATCH", path: loc, header: hdr("Content-Range", "1000-1999"), body: content[1000:2000]})
	expect(t, w, 416, "RANGE_INVALID")
	if w.Header().Get("Range") != "0-0" || w.Header().Get("Location") != loc {
		t.Errorf("416 headers: %v", w.Header())
	}
	expect(t, e.do(t, req{method: "PATCH", path: loc, header: hdr("Content-Range", "0-999"), body: content[:1000]}), 202, "")
	w = e.do(t, req{method: "PATCH", path: loc, header: hdr("Content-Range", "0-999"), body: content[:1000]})
	expect(t, w, 416, "RANGE_INVALID")
	if got := w.Header().Get("Range"); got != "0-999" {
		t.Errorf("Range after rewind = %q", got)
	}
	st := e.do(t, req{method: "GET", path: loc})
	expect(t, st, 204, "")
	if got := st.Header().Get("Range"); got != "0-999" {
		t.Errorf("status Range = %q", got)
	}
	w = e.do(t, req{method: "PUT", path: loc + "?digest=" + d.String(), header: hdr("Content-Range", "1000-2999"), body: content[1000:]})
	expect(t, w, 201, "")
	g := e.do(t, req{method: "GET", path: "/v2/" + repo + "/blobs/" + d.String()})
	if !bytes.Equal(g.Body.Bytes(), content) {
		t.Fatal("content differs after recovering from out-of-order chunks")
	}
	e.assertNoUploads(t)
}

// TestTruncatedChunkKeepsProgress: the bytes of a truncated chunk that did
// arrive are kept, and the client resumes from the reported Range.
func TestTruncatedChunkKeepsProgress(t *testing.T) {
	e := newTestHandler(t)
	const repo = "chunks/truncated"
	content := randomBytes(t, 2000)
	loc := e.uploadLocation(t, repo)
	w := e.do(t, req{method: "PATCH", path: loc, header: hdr("Content-Range", "0-1999"), body: content[:700], contentLength: 2000})
	expect(t, w, 400, "SIZE_INVALID")
	st := e.do(t, req{method: "GET", path: loc})
	expect(t, st, 204, "")
	if got := st.Header().Get("Range"); got != "0-699" {
		t.Fatalf("Range after truncated chunk = %q", got)
	}
	d := digest.FromBytes(content)
	expect(t, e.do(t, req{method: "PUT", path: loc + "?digest=" + d.String(), header: hdr("Content-Range", "700-1999"), body: content[700:]}), 201, "")
	g := e.do(t, req{method: "GET", path: "/v2/" + repo + "/blobs/" + d.String()})
	if !bytes.Equal(g.Body.Bytes(), content) {
		t.Fatal("content differs after resuming")
	}
}

func TestBlobRangeRequests(t *testing.T) {
	e := newTestHandler(t)
	const repo = "ranges/repo"
	content := randomBytes(t, 2048)
	d := e.pushBlob(t, repo, content)
	path := "/v2/" + repo + "/blobs/" + d.String()
	tests := []struct {
		rng        string
		status     int
		start, end int // inclusive, for 206 and 200
		cr         string
	}{
		{"bytes=500-1499", 206, 500, 1499, "bytes 500-1499/2048"},
		{"bytes=500-", 206, 500, 2047, "bytes 500-2047/2048"},
		{"bytes=-500", 206, 1548, 2047, "bytes 1548-2047/2048"},
		{"bytes=2000-5000", 206, 2000, 2047, "bytes 2000-2047/2048"},
		{"bytes=-5000", 206, 0, 2047, "bytes 0-2047/2048"},
		{"bytes=500-0", 416, 0, 0, "bytes */2048"},
		{"bytes=5000-10000", 416, 0, 0, "bytes */2048"},
		{"bytes=2048-", 416, 0, 0, "bytes */2048"},
		{"bytes=-0", 416, 0, 0, "bytes */2048"},
		{"bytes=0-1,5-6", 200, 0, 2047, ""},
		{"items=0-5", 200, 0, 2047, ""},
		{"", 200, 0, 2047, ""},
	}
	for _, tc := range tests {
		t.Run(tc.rng, func(t *testing.T) {
			for _, method := range []string{"GET", "HEAD"} {
				w := e.do(t, req{method: method, path: path, header: hdr("Range", tc.rng)})
				if w.Code != tc.status {
					t.Fatalf("%s status %d, want %d", method, w.Code, tc.status)
				}
				if got := w.Header().Get("Content-Range"); got != tc.cr {
					t.Errorf("%s Content-Range = %q, want %q", method, got, tc.cr)
				}
				if tc.status == 416 {
					continue
				}
				if got, want := w.Header().Get("Content-Length"), fmt.Sprint(tc.end-tc.start+1); got != want {
					t.Errorf("%s Content-Length = %s, want %s", method, got, want)
				}
				if method == "GET" && !bytes.Equal(w.Body.Bytes(), content[tc.start:tc.end+1]) {
					t.Errorf("GET body differs")
				}
			}
		})
	}
}

func TestBlobScopingAndDelete(t *testing.T) {
	e := newTestHandler(t)
	content := randomBytes(t, 100)
	d := e.pushBlob(t, "scope/a", content)
	tests := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"other repository cannot read", "GET", "/v2/scope/b/blobs/" + d.String(), 404, "BLOB_UNKNOWN"},
		{"other repository cannot HEAD", "HEAD", "/v2/scope/b/blobs/" + d.String(), 404, ""},
		{"other repository cannot delete", "DELETE", "/v2/scope/b/blobs/" + d.String(), 404, "BLOB_UNKNOWN"},
		{"unknown digest", "GET", "/v2/scope/a/blobs/" + digest.FromString("nope").String(), 404, "BLOB_UNKNOWN"},
		{"malformed digest", "GET", "/v2/scope/a/blobs/sha256:123", 400, "DIGEST_INVALID"},
		{"invalid name", "GET", "/v2/Scope/a/blobs/" + d.String(), 400, "NAME_INVALID"},
		{"owner reads", "GET", "/v2/scope/a/blobs/" + d.String(), 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, e.do(t, req{method: tc.method, path: tc.path}), tc.status, tc.code)
		})
	}
	// Mount into b from a, then delete from a: b still reads it.
	w := e.do(t, req{method: "POST", path: "/v2/scope/b/blobs/uploads/?mount=" + d.String() + "&from=scope/a"})
	expect(t, w, 201, "")
	if w.Header().Get("Location") != "/v2/scope/b/blobs/"+d.String() || w.Header().Get("Docker-Content-Digest") != d.String() {
		t.Errorf("mount headers %v", w.Header())
	}
	expect(t, e.do(t, req{method: "DELETE", path: "/v2/scope/a/blobs/" + d.String()}), 202, "")
	expect(t, e.do(t, req{method: "HEAD", path: "/v2/scope/a/blobs/" + d.String()}), 404, "")
	expect(t, e.do(t, req{method: "DELETE", path: "/v2/scope/a/blobs/" + d.String()}), 404, "BLOB_UNKNOWN")
	g := e.do(t, req{method: "GET", path: "/v2/scope/b/blobs/" + d.String()})
	expect(t, g, 200, "")
	if !bytes.Equal(g.Body.Bytes(), content) {
		t.Error("mounted content differs")
	}
	// A mount whose source lacks the blob falls back to a new session.
	w = e.do(t, req{method: "POST", path: "/v2/scope/c/blobs/uploads/?mount=" + d.String() + "&from=scope/a"})
	expect(t, w, 202, "")
	if !strings.HasPrefix(w.Header().Get("Location"), "/v2/scope/c/blobs/uploads/") {
		t.Errorf("fallback Location %q", w.Header().Get("Location"))
	}
	// Without a source, any repository holding the blob serves the mount.
	expect(t, e.do(t, req{method: "POST", path: "/v2/scope/d/blobs/uploads/?mount=" + d.String()}), 201, "")
}

// TestUploadSessionCapPerActor opens sessions as one identity until the
// cap: the next start is 429 TOOMANYREQUESTS saying why, others are not
// affected, and a cancelled session frees its place.
func TestUploadSessionCapPerActor(t *testing.T) {
	md := newStore(t)
	blobs, err := fs.New(t.TempDir(), fs.WithoutSyncUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(blobs, md, registry.WithLogger(slog.New(slog.DiscardHandler)), registry.WithMaxUploadsPerActor(2))
	if err != nil {
		t.Fatal(err)
	}
	h := distribution.New(reg)
	as := func(actor string) *testEnv {
		return &testEnv{reg: reg, md: md, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(registry.WithActor(r.Context(), actor)))
		})}
	}
	ci, other := as("robot:ci"), as("user:alice")
	start := func(e *testEnv) *httptest.ResponseRecorder {
		return e.do(t, req{method: "POST", path: "/v2/team-a/app/blobs/uploads/"})
	}
	var locations []string
	for range 2 {
		w := start(ci)
		if w.Code != http.StatusAccepted {
			t.Fatalf("start within cap: %d %s", w.Code, w.Body)
		}
		locations = append(locations, w.Header().Get("Location"))
	}
	w := start(ci)
	if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), `"TOOMANYREQUESTS"`) ||
		!strings.Contains(w.Body.String(), "too many open upload sessions") {
		t.Fatalf("start over cap: %d %s", w.Code, w.Body)
	}
	if w := start(other); w.Code != http.StatusAccepted {
		t.Fatalf("another identity: %d %s", w.Code, w.Body)
	}
	if w := ci.do(t, req{method: "DELETE", path: locations[0]}); w.Code != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", w.Code, w.Body)
	}
	if w := start(ci); w.Code != http.StatusAccepted {
		t.Fatalf("start after cancelling one: %d %s", w.Code, w.Body)
	}
}
