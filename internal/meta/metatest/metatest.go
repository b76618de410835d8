package metatest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/meta"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) meta.Store

// Run runs the whole suite. Subtests run in parallel, each on its own
// store.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s meta.Store)
	}{
		{"BlobLifecycle", testBlobLifecycle},
		{"BlobInvalidInput", testBlobInvalidInput},
		{"ManifestRoundTrip", testManifestRoundTrip},
		{"ManifestMissingContent", testManifestMissingContent},
		{"ManifestInvalidInput", testManifestInvalidInput},
		{"ManifestRePut", testManifestRePut},
		{"Tags", testTags},
		{"DeleteManifest", testDeleteManifest},
		{"DeleteIndexChild", testDeleteIndexChild},
		{"ListTagsPagination", testListTagsPagination},
		{"ListRepositoriesPagination", testListRepositoriesPagination},
		{"Referrers", testReferrers},
		{"MarkPulled", testMarkPulled},
		{"FetchManifest", testFetchManifest},
		{"TagMutability", testTagMutability},
		{"Uploads", testUploads},
		{"StaleUploads", testStaleUploads},
		{"UploadLimitPerOwner", testUploadLimitPerOwner},
		{"GCCandidates", testGCCandidates},
		{"DeleteBlobIfUnreferenced", testDeleteBlobIfUnreferenced},
		{"TouchProtectsFromGC", testTouchProtectsFromGC},
		{"ExternalBlobsKept", testExternalBlobsKept},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentPushesDifferentRepos", testConcurrentPushesDifferentRepos},
		{"ConcurrentPushesSharedBlobs", testConcurrentPushesSharedBlobs},
		{"ConcurrentTagMoves", testConcurrentTagMoves},
		{"GCRacesPutManifest", testGCRacesPutManifest},
		{"GCRacesLinkBlob", testGCRacesLinkBlob},
		{"ConcurrentAdvanceUpload", testConcurrentAdvanceUpload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// blob returns a random, valid blob digest.
func blob(t *testing.T) digest.Digest {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return digest.FromBytes(b[:])
}

// putBlobs records n new blobs in repo and returns their digests.
func putBlobs(t *testing.T, s meta.Store, repo string, n int) []digest.Digest {
	t.Helper()
	ds := make([]digest.Digest, n)
	for i := range ds {
		ds[i] = blob(t)
		if err := s.PutBlob(t.Context(), repo, ds[i], int64(100+i)); err != nil {
			t.Fatalf("PutBlob(%s, %s): %v", repo, ds[i], err)
		}
	}
	return ds
}

// manifest builds a manifest whose content is unique JSON and whose digest
// and size match it.
func manifest(t *testing.T, repo string, blobs []digest.Digest, children ...digest.Digest) *meta.Manifest {
	t.Helper()
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		t.Fatal(err)
	}
	content, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"layers":        blobs,
		"manifests":     children,
		"nonce":         hex.EncodeToString(nonce[:]),
	})
	if err != nil {
		t.Fatal(err)
	}
	mediaType := "application/vnd.oci.image.manifest.v1+json"
	if len(children) > 0 {
		mediaType = "application/vnd.oci.image.index.v1+json"
	}
	return &meta.Manifest{
		Repository: repo,
		Digest:     digest.FromBytes(content),
		MediaType:  mediaType,
		Size:       int64(len(content)),
		Content:    content,
		Blobs:      blobs,
		Children:   children,
	}
}

// push puts a manifest over n fresh blobs, tagged if tag is not empty.
func push(t *testing.T, s meta.Store, repo, tag string, n int) *meta.Manifest {
	t.Helper()
	m := manifest(t, repo, putBlobs(t, s, repo, n))
	if _, err := s.PutManifest(t.Context(), m, tag); err != nil {
		t.Fatalf("PutManifest(%s:%s): %v", repo, tag, err)
	}
	return m
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// errOf drops the previous digest PutManifest returns.
func errOf(_ digest.Digest, err error) error { return err }

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// far is a GC cut-off later than anything the tests touch.
func far() time.Time { return time.Now().Add(time.Hour) }

// tick makes sure the wall clock moves past timestamps taken so far.
func tick() { time.Sleep(5 * time.Millisecond) }

func testBlobLifecycle(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := blob(t)
	ok, err := s.HasBlob(ctx, d)
	noErr(t, "HasBlob before put", err)
	if ok {
		t.Fatal("HasBlob before put = true")
	}
	noErr(t, "PutBlob", s.PutBlob(ctx, "a/one", d, 42))
	noErr(t, "PutBlob again (idempotent)", s.PutBlob(ctx, "a/one", d, 42))
	size, err := s.StatBlob(ctx, "a/one", d)
	noErr(t, "StatBlob", err)
	if size != 42 {
		t.Fatalf("StatBlob size = %d, want 42", size)
	}
	if ok, err := s.HasBlob(ctx, d); err != nil || !ok {
		t.Fatalf("HasBlob = %v, %v; want true", ok, err)
	}

	// Not readable through another repository until linked there.
	_, err = s.StatBlob(ctx, "b/two", d)
	wantErr(t, "StatBlob in unlinked repo", err, meta.ErrNotFound)
	noErr(t, "LinkBlob", s.LinkBlob(ctx, "b/two", d))
	noErr(t, "LinkBlob again (idempotent)", s.LinkBlob(ctx, "b/two", d))
	if size, err := s.StatBlob(ctx, "b/two", d); err != nil || size != 42 {
		t.Fatalf("StatBlob after link = %d, %v; want 42", size, err)
	}
	wantErr(t, "LinkBlob unknown blob", s.LinkBlob(ctx, "b/two", blob(t)), meta.ErrNotFound)
	wantErr(t, "LinkBlob unknown blob must not create repo", func() error {
		_, err := s.ListTags(ctx, "c/never", meta.Page{})
		if err == nil {
			return nil
		}
		return s.LinkBlob(ctx, "c/never", blob(t))
	}(), meta.ErrNotFound)
	if _, err := s.ListTags(ctx, "c/never", meta.Page{}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("failed LinkBlob created repository c/never (ListTags err %v)", err)
	}

	noErr(t, "UnlinkBlob", s.UnlinkBlob(ctx, "a/one", d))
	_, err = s.StatBlob(ctx, "a/one", d)
	wantErr(t, "StatBlob after unlink", err, meta.ErrNotFound)
	if size, err := s.StatBlob(ctx, "b/two", d); err != nil || size != 42 {
		t.Fatalf("StatBlob in other repo after unlink = %d, %v", size, err)
	}
	if ok, err := s.HasBlob(ctx, d); err != nil || !ok {
		t.Fatalf("HasBlob after unlink = %v, %v; want true (bytes stay until GC)", ok, err)
	}
	wantErr(t, "UnlinkBlob twice", s.UnlinkBlob(ctx, "a/one", d), meta.ErrNotFound)
	wantErr(t, "UnlinkBlob unknown repo", s.UnlinkBlob(ctx, "zzz", d), meta.ErrNotFound)

	repos, err := s.ListRepositories(ctx, meta.Page{})
	noErr(t, "ListRepositories", err)
	if want := []string{"a/one", "b/two"}; !slices.Equal(repos, want) {
		t.Fatalf("ListRepositories = %q, want %q", repos, want)
	}
	tags, err := s.ListTags(ctx, "a/one", meta.Page{})
	noErr(t, "ListTags of repo without tags", err)
	if len(tags) != 0 {
		t.Fatalf("ListTags = %q, want none", tags)
	}
}

func testBlobInvalidInput(t *testing.T, s meta.Store) {
	ctx := t.Context()
	d := blob(t)
	wantErr(t, "PutBlob bad digest", s.PutBlob(ctx, "r", "sha256:xyz", 1), meta.ErrInvalid)
	wantErr(t, "PutBlob empty digest", s.PutBlob(ctx, "r", "", 1), meta.ErrInvalid)
	wantErr(t, "PutBlob empty repo", s.PutBlob(ctx, "", d, 1), meta.ErrInvalid)
	wantErr(t, "PutBlob repo with NUL", s.PutBlob(ctx, "a\x00b", d, 1), meta.ErrInvalid)
	wantErr(t, "PutBlob negative size", s.PutBlob(ctx, "r", d, -1), meta.ErrInvalid)
	noErr(t, "PutBlob", s.PutBlob(ctx, "r", d, 10))
	wantErr(t, "PutBlob other size", s.PutBlob(ctx, "r2", d, 11), meta.ErrInvalid)
	if size, err := s.StatBlob(ctx, "r", d); err != nil || size != 10 {
		t.Fatalf("StatBlob after rejected put = %d, %v; want 10", size, err)
	}
	if _, err := s.StatBlob(ctx, "r2", d); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("rejected PutBlob linked the blob: %v", err)
	}
	wantErr(t, "LinkBlob bad digest", s.LinkBlob(ctx, "r", "md5:00"), meta.ErrInvalid)
	repos, err := s.ListRepositories(ctx, meta.Page{})
	noErr(t, "ListRepositories", err)
	if !slices.Equal(repos, []string{"r"}) {
		t.Fatalf("rejected input created repositories: %q", repos)
	}
}

func testManifestRoundTrip(t *testing.T, s meta.Store) {
	ctx := t.Context()
	blobs := putBlobs(t, s, "app", 3)
	subject := digest.FromString("subject")
	m := manifest(t, "app", []digest.Digest{blobs[2], blobs[0], blobs[1], blobs[0]})
	m.ArtifactType = "application/vnd.example.sbom"
	m.Subject = subject
	m.Annotations = map[string]string{"org.opencontainers.image.created": "2024-01-02T03:04:05Z", "k": "ü"}
	m.PushedBy = "alice"
	m.PushedAt = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	noErr(t, "PutManifest", errOf(s.PutManifest(ctx, m, "v1")))

	got, err := s.GetManifest(ctx, "app", m.Digest)
	noErr(t, "GetManifest", err)
	if got.Repository != "app" || got.Digest != m.Digest || got.MediaType != m.MediaType ||
		got.ArtifactType != m.ArtifactType || got.Size != m.Size || string(got.Content) != string(m.Content) ||
		got.Subject != subject || got.PushedBy != "alice" {
		t.Fatalf("GetManifest = %+v, want %+v", got, m)
	}
	if !got.PushedAt.Equal(m.PushedAt) {
		t.Fatalf("PushedAt = %v, want %v", got.PushedAt, m.PushedAt)
	}
	if !got.PulledAt.IsZero() {
		t.Fatalf("PulledAt = %v, want zero", got.PulledAt)
	}
	if len(got.Annotations) != 2 || got.Annotations["k"] != "ü" {
		t.Fatalf("Annotations = %v", got.Annotations)
	}
	if want := []digest.Digest{blobs[2], blobs[0], blobs[1]}; !slices.Equal(got.Blobs, want) {
		t.Fatalf("Blobs = %v, want %v (put order, no repeats)", got.Blobs, want)
	}
	if len(got.Children) != 0 {
		t.Fatalf("Children = %v", got.Children)
	}

	// A zero PushedAt means now.
	before := time.Now().Add(-time.Second)
	m2 := manifest(t, "app", blobs[:1])
	noErr(t, "PutManifest without time", errOf(s.PutManifest(ctx, m2, "")))
	got2, err := s.GetManifest(ctx, "app", m2.Digest)
	noErr(t, "GetManifest", err)
	if got2.PushedAt.Before(before) || got2.PushedAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("PushedAt = %v, want about now", got2.PushedAt)
	}
	if got2.Subject != "" || got2.Annotations != nil || got2.ArtifactType != "" {
		t.Fatalf("empty fields came back as %q %v %q", got2.Subject, got2.Annotations, got2.ArtifactType)
	}

	// An index over both manifests, and a manifest without blobs at all.
	idx := manifest(t, "app", nil, m.Digest, m2.Digest)
	noErr(t, "PutManifest index", errOf(s.PutManifest(ctx, idx, "multi")))
	gotIdx, err := s.GetManifest(ctx, "app", idx.Digest)
	noErr(t, "GetManifest index", err)
	if want := []digest.Digest{m.Digest, m2.Digest}; !slices.Equal(gotIdx.Children, want) {
		t.Fatalf("Children = %v, want %v", gotIdx.Children, want)
	}

	_, err = s.GetManifest(ctx, "app", digest.FromString("nope"))
	wantErr(t, "GetManifest unknown digest", err, meta.ErrNotFound)
	_, err = s.GetManifest(ctx, "other", m.Digest)
	wantErr(t, "GetManifest other repo", err, meta.ErrNotFound)
}

func testManifestMissingContent(t *testing.T, s meta.Store) {
	ctx := t.Context()
	have := putBlobs(t, s, "app", 2)
	elsewhere := putBlobs(t, s, "other", 1)[0] // recorded, not linked to app
	unknown := blob(t)
	child := push(t, s, "app", "", 1)
	otherChild := push(t, s, "other", "", 1)

	m := manifest(t, "app", []digest.Digest{have[0], unknown, elsewhere, have[1]})
	_, err := s.PutManifest(ctx, m, "latest")
	var missing *meta.MissingError
	if !errors.As(err, &missing) {
		t.Fatalf("PutManifest with unknown blobs: got %v, want *meta.MissingError", err)
	}
	wantErr(t, "MissingError", err, meta.ErrBlobUnknown)
	if want := []digest.Digest{unknown, elsewhere}; !slices.Equal(missing.Blobs, want) {
		t.Fatalf("MissingError.Blobs = %v, want %v", missing.Blobs, want)
	}
	if len(missing.Manifests) != 0 {
		t.Fatalf("MissingError.Manifests = %v, want none", missing.Manifests)
	}

	idx := manifest(t, "app", nil, child.Digest, otherChild.Digest, digest.FromString("x"))
	_, err = s.PutManifest(ctx, idx, "latest")
	if !errors.As(err, &missing) {
		t.Fatalf("PutManifest with unknown children: got %v, want *meta.MissingError", err)
	}
	if want := []digest.Digest{otherChild.Digest, digest.FromString("x")}; !slices.Equal(missing.Manifests, want) || len(missing.Blobs) != 0 {
		t.Fatalf("MissingError = %+v, want Manifests %v", missing, want)
	}

	// Nothing of the failed pushes was stored.
	for _, d := range []digest.Digest{m.Digest, idx.Digest} {
		_, err := s.GetManifest(ctx, "app", d)
		wantErr(t, "GetManifest of rejected manifest", err, meta.ErrNotFound)
	}
	_, err = s.ResolveTag(ctx, "app", "latest")
	wantErr(t, "ResolveTag after rejected push", err, meta.ErrNotFound)

	// An unlinked blob is missing too, though still recorded.
	noErr(t, "UnlinkBlob", s.UnlinkBlob(ctx, "app", have[1]))
	_, err = s.PutManifest(ctx, manifest(t, "app", have), "")
	if !errors.As(err, &missing) || !slices.Equal(missing.Blobs, have[1:]) {
		t.Fatalf("PutManifest over unlinked blob: got %v (%+v), want missing %v", err, missing, have[1:])
	}
	// A manifest in a repository that does not exist yet lacks everything.
	_, err = s.PutManifest(ctx, manifest(t, "new/repo", have[:1]), "x")
	if !errors.As(err, &missing) || !slices.Equal(missing.Blobs, have[:1]) {
		t.Fatalf("PutManifest in new repo: got %v", err)
	}
	if _, err := s.ListTags(ctx, "new/repo", meta.Page{}); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("rejected push created repository new/repo: ListTags err %v", err)
	}
}

func testManifestInvalidInput(t *testing.T, s meta.Store) {
	ctx := t.Context()
	blobs := putBlobs(t, s, "app", 1)
	cases := map[string]func(m *meta.Manifest) string{
		"bad digest":        func(m *meta.Manifest) string { m.Digest = "sha256:abc"; return "" },
		"digest mismatch":   func(m *meta.Manifest) string { m.Digest = digest.FromString("other"); return "" },
		"size mismatch":     func(m *meta.Manifest) string { m.Size++; return "" },
		"content altered":   func(m *meta.Manifest) string { m.Content = append([]byte(" "), m.Content[1:]...); return "" },
		"empty repository":  func(m *meta.Manifest) string { m.Repository = ""; return "" },
		"bad blob digest":   func(m *meta.Manifest) string { m.Blobs = append(m.Blobs, "sha256:zz"); return "" },
		"bad child digest":  func(m *meta.Manifest) string { m.Children = []digest.Digest{"nope"}; return "" },
		"bad subject":       func(m *meta.Manifest) string { m.Subject = "sha256:"; return "" },
		"tag not text":      func(m *meta.Manifest) string { return "v\xff" },
		"tag with NUL byte": func(m *meta.Manifest) string { return "v\x00" },
	}
	for name, mutate := range cases {
		m := manifest(t, "app", blobs)
		tag := mutate(m)
		wantErr(t, "PutManifest "+name, errOf(s.PutManifest(ctx, m, tag)), meta.ErrInvalid)
	}
	tags, err := s.ListTags(ctx, "app", meta.Page{})
	noErr(t, "ListTags", err)
	if len(tags) != 0 {
		t.Fatalf("rejected manifests left tags %q", tags)
	}
}

func testManifestRePut(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := manifest(t, "app", putBlobs(t, s, "app", 2))
	m.PushedAt = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	m.PushedBy = "alice"
	noErr(t, "PutManifest", errOf(s.PutManifest(ctx, m, "v1")))
	m2 := *m
	m2.PushedAt = time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	m2.PushedBy = "bob"
	noErr(t, "PutManifest same digest", errOf(s.PutManifest(ctx, &m2, "v2")))
	noErr(t, "PutManifest same digest, no tag", errOf(s.PutManifest(ctx, &m2, "")))
	for _, tag := range []string{"v1", "v2"} {
		d, err := s.ResolveTag(ctx, "app", tag)
		if err != nil || d != m.Digest {
			t.Fatalf("ResolveTag(%s) = %s, %v; want %s", tag, d, err, m.Digest)
		}
	}
	got, err := s.GetManifest(ctx, "app", m.Digest)
	noErr(t, "GetManifest", err)
	if !got.PushedAt.Equal(m2.PushedAt) || got.PushedBy != "bob" || !slices.Equal(got.Blobs, m.Blobs) {
		t.Fatalf("after re-put: pushed %v by %q, blobs %v", got.PushedAt, got.PushedBy, got.Blobs)
	}
}

func testTags(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m1 := push(t, s, "app", "latest", 1)
	d, err := s.ResolveTag(ctx, "app", "latest")
	if err != nil || d != m1.Digest {
		t.Fatalf("ResolveTag = %s, %v; want %s", d, err, m1.Digest)
	}
	m2 := manifest(t, "app", putBlobs(t, s, "app", 1))
	if prev, err := s.PutManifest(ctx, m2, "latest"); err != nil || prev != m1.Digest {
		t.Fatalf("moving latest: previous %q, %v; want %s", prev, err, m1.Digest)
	}
	if d, err := s.ResolveTag(ctx, "app", "latest"); err != nil || d != m2.Digest {
		t.Fatalf("ResolveTag after move = %s, %v; want %s", d, err, m2.Digest)
	}
	if prev, err := s.PutManifest(ctx, m2, "latest"); err != nil || prev != m2.Digest {
		t.Fatalf("re-put on latest: previous %q, %v; want %s (unchanged)", prev, err, m2.Digest)
	}
	if prev, err := s.PutManifest(ctx, m2, ""); err != nil || prev != "" {
		t.Fatalf("put without a tag: previous %q, %v; want none", prev, err)
	}
	_, err = s.ResolveTag(ctx, "app", "LATEST")
	wantErr(t, "ResolveTag is case sensitive", err, meta.ErrNotFound)
	_, err = s.ResolveTag(ctx, "nope", "latest")
	wantErr(t, "ResolveTag unknown repo", err, meta.ErrNotFound)
	_, err = s.ResolveTag(ctx, "app", "v9")
	wantErr(t, "ResolveTag unknown tag", err, meta.ErrNotFound)

	noErr(t, "DeleteTag", s.DeleteTag(ctx, "app", "latest"))
	_, err = s.ResolveTag(ctx, "app", "latest")
	wantErr(t, "ResolveTag after DeleteTag", err, meta.ErrNotFound)
	if _, err := s.GetManifest(ctx, "app", m2.Digest); err != nil {
		t.Fatalf("DeleteTag removed the manifest: %v", err)
	}
	wantErr(t, "DeleteTag twice", s.DeleteTag(ctx, "app", "latest"), meta.ErrNotFound)
	wantErr(t, "DeleteTag unknown repo", s.DeleteTag(ctx, "nope", "latest"), meta.ErrNotFound)

	// The same tag name in two repositories is two tags.
	m3 := push(t, s, "other", "latest", 1)
	if prev, err := s.PutManifest(ctx, m2, "latest"); err != nil || prev != "" {
		t.Fatalf("re-creating a deleted tag: previous %q, %v; want none", prev, err)
	}
	if d, _ := s.ResolveTag(ctx, "other", "latest"); d != m3.Digest {
		t.Fatalf("tag in other repo = %s, want %s", d, m3.Digest)
	}
	if d, _ := s.ResolveTag(ctx, "app", "latest"); d != m2.Digest {
		t.Fatalf("tag in app = %s, want %s", d, m2.Digest)
	}
}

func testDeleteManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := push(t, s, "app", "v1", 2)
	noErr(t, "tag v2", errOf(s.PutManifest(ctx, m, "v2")))
	keep := push(t, s, "app", "keep", 1)
	noErr(t, "DeleteManifest", s.DeleteManifest(ctx, "app", m.Digest))
	_, err := s.GetManifest(ctx, "app", m.Digest)
	wantErr(t, "GetManifest after delete", err, meta.ErrNotFound)
	for _, tag := range []string{"v1", "v2"} {
		_, err := s.ResolveTag(ctx, "app", tag)
		wantErr(t, "ResolveTag "+tag+" after delete", err, meta.ErrNotFound)
	}
	tags, err := s.ListTags(ctx, "app", meta.Page{})
	noErr(t, "ListTags", err)
	if !slices.Equal(tags, []string{"keep"}) {
		t.Fatalf("ListTags = %q, want [keep]", tags)
	}
	wantErr(t, "DeleteManifest twice", s.DeleteManifest(ctx, "app", m.Digest), meta.ErrNotFound)
	wantErr(t, "DeleteManifest unknown repo", s.DeleteManifest(ctx, "zzz", keep.Digest), meta.ErrNotFound)
	// The blobs stay linked, and are now unreferenced.
	for _, b := range m.Blobs {
		if _, err := s.StatBlob(ctx, "app", b); err != nil {
			t.Fatalf("StatBlob after manifest delete: %v", err)
		}
	}
	cands, err := s.GCCandidates(ctx, far(), 0)
	noErr(t, "GCCandidates", err)
	for _, b := range m.Blobs {
		if !slices.Contains(cands, b) {
			t.Fatalf("blob %s of deleted manifest is no GC candidate (%v)", b, cands)
		}
	}
	if slices.Contains(cands, keep.Blobs[0]) {
		t.Fatal("blob of a live manifest is a GC candidate")
	}
	// The same manifest can be pushed again.
	noErr(t, "PutManifest after delete", errOf(s.PutManifest(ctx, m, "v1")))
	if d, err := s.ResolveTag(ctx, "app", "v1"); err != nil || d != m.Digest {
		t.Fatalf("ResolveTag after re-push = %s, %v", d, err)
	}
}

// Deleting a manifest an index lists is allowed (the spec permits it); the
// index keeps its reference.
func testDeleteIndexChild(t *testing.T, s meta.Store) {
	ctx := t.Context()
	a := push(t, s, "app", "", 1)
	b := push(t, s, "app", "", 1)
	idx := manifest(t, "app", nil, a.Digest, b.Digest)
	noErr(t, "PutManifest index", errOf(s.PutManifest(ctx, idx, "multi")))
	noErr(t, "DeleteManifest child", s.DeleteManifest(ctx, "app", a.Digest))
	got, err := s.GetManifest(ctx, "app", idx.Digest)
	noErr(t, "GetManifest index", err)
	if !slices.Equal(got.Children, []digest.Digest{a.Digest, b.Digest}) {
		t.Fatalf("index children = %v", got.Children)
	}
	// Re-putting the index now needs the child back.
	_, err = s.PutManifest(ctx, idx, "multi")
	var missing *meta.MissingError
	if !errors.As(err, &missing) || !slices.Equal(missing.Manifests, []digest.Digest{a.Digest}) {
		t.Fatalf("re-put index without child: %v", err)
	}
}

func testListTagsPagination(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := push(t, s, "app", "", 1)
	// Byte-wise order, whatever the database's locale says.
	want := []string{"1.0", "A", "B", "Latest", "_x", "a", "a-b", "a.b", "a_b", "b", "v1.10", "v1.9"}
	for _, i := range []int{5, 0, 11, 3, 8, 1, 10, 2, 9, 4, 7, 6} {
		noErr(t, "tag", errOf(s.PutManifest(ctx, m, want[i])))
	}
	pageTest(t, want, func(p meta.Page) ([]string, error) { return s.ListTags(ctx, "app", p) })

	_, err := s.ListTags(ctx, "missing", meta.Page{})
	wantErr(t, "ListTags unknown repo", err, meta.ErrNotFound)
	noErr(t, "PutBlob", s.PutBlob(ctx, "empty", blob(t), 1))
	tags, err := s.ListTags(ctx, "empty", meta.Page{N: 10})
	noErr(t, "ListTags repo without tags", err)
	if len(tags) != 0 {
		t.Fatalf("ListTags = %q, want empty", tags)
	}
}

func testListRepositoriesPagination(t *testing.T, s meta.Store) {
	ctx := t.Context()
	repos, err := s.ListRepositories(ctx, meta.Page{N: 5})
	noErr(t, "ListRepositories on empty store", err)
	if len(repos) != 0 {
		t.Fatalf("ListRepositories = %q, want empty", repos)
	}
	want := []string{"Z", "a", "a-b", "a.b", "a/b", "a/b/c", "a_b", "ab", "b/a"}
	for _, i := range []int{3, 8, 0, 6, 1, 7, 2, 5, 4} {
		noErr(t, "PutBlob", s.PutBlob(ctx, want[i], blob(t), 1))
	}
	pageTest(t, want, func(p meta.Page) ([]string, error) { return s.ListRepositories(ctx, p) })
}

// pageTest checks N/Last paging over a list whose full order is want.
func pageTest(t *testing.T, want []string, list func(meta.Page) ([]string, error)) {
	t.Helper()
	for _, n := range []int{0, -1} {
		got, err := list(meta.Page{N: n})
		noErr(t, "list all", err)
		if !slices.Equal(got, want) {
			t.Fatalf("list N=%d = %q, want %q", n, got, want)
		}
	}
	for _, n := range []int{1, 2, 5, len(want), len(want) + 1} {
		var all []string
		last := ""
		for range len(want) + 2 {
			page, err := list(meta.Page{N: n, Last: last})
			noErr(t, "list page", err)
			if len(page) > n {
				t.Fatalf("page of N=%d has %d items", n, len(page))
			}
			all = append(all, page...)
			if len(page) < n {
				break
			}
			last = page[len(page)-1]
		}
		if !slices.Equal(all, want) {
			t.Fatalf("pages of %d = %q, want %q", n, all, want)
		}
	}
	// Last need not exist: listing resumes after where it would sort.
	got, err := list(meta.Page{N: 2, Last: want[2] + "\x01"})
	noErr(t, "list after absent Last", err)
	if !slices.Equal(got, want[3:5]) {
		t.Fatalf("list after %q = %q, want %q", want[2]+"\x01", got, want[3:5])
	}
	got, err = list(meta.Page{N: 3, Last: want[len(want)-1]})
	noErr(t, "list after the end", err)
	if len(got) != 0 {
		t.Fatalf("list after last item = %q, want empty", got)
	}
	got, err = list(meta.Page{Last: "~"})
	noErr(t, "list after everything", err)
	if len(got) != 0 {
		t.Fatalf("list after ~ = %q, want empty", got)
	}
}

func testReferrers(t *testing.T, s meta.Store) {
	ctx := t.Context()
	subject := push(t, s, "app", "v1", 1)
	var want []meta.Descriptor
	for i, at := range []string{"application/vnd.example.sbom", "application/vnd.example.sig", "application/vnd.example.sbom"} {
		r := manifest(t, "app", putBlobs(t, s, "app", 1))
		r.Subject = subject.Digest
		r.ArtifactType = at
		r.Annotations = map[string]string{"n": fmt.Sprint(i)}
		noErr(t, "PutManifest referrer", errOf(s.PutManifest(ctx, r, "")))
		want = append(want, meta.Descriptor{MediaType: r.MediaType, ArtifactType: at, Digest: r.Digest, Size: r.Size, Annotations: r.Annotations})
	}
	slices.SortFunc(want, func(a, b meta.Descriptor) int {
		return cmpString(string(a.Digest), string(b.Digest))
	})
	// Same subject in another repository is not listed here.
	other := manifest(t, "other", putBlobs(t, s, "other", 1))
	other.Subject = subject.Digest
	noErr(t, "PutManifest other referrer", errOf(s.PutManifest(ctx, other, "")))

	got, err := s.Referrers(ctx, "app", subject.Digest, "")
	noErr(t, "Referrers", err)
	checkDescriptors(t, got, want)

	got, err = s.Referrers(ctx, "app", subject.Digest, "application/vnd.example.sbom")
	noErr(t, "Referrers filtered", err)
	var sboms []meta.Descriptor
	for _, d := range want {
		if d.ArtifactType == "application/vnd.example.sbom" {
			sboms = append(sboms, d)
		}
	}
	checkDescriptors(t, got, sboms)

	for name, call := range map[string]func() ([]meta.Descriptor, error){
		"unknown subject": func() ([]meta.Descriptor, error) { return s.Referrers(ctx, "app", digest.FromString("x"), "") },
		"unknown repo":    func() ([]meta.Descriptor, error) { return s.Referrers(ctx, "nope", subject.Digest, "") },
		"unknown type":    func() ([]meta.Descriptor, error) { return s.Referrers(ctx, "app", subject.Digest, "text/plain") },
	} {
		got, err := call()
		noErr(t, "Referrers "+name, err)
		if len(got) != 0 {
			t.Fatalf("Referrers %s = %v, want none", name, got)
		}
	}

	// A referrer may arrive before its subject, and outlives it.
	orphanSubject := digest.FromString("not pushed yet")
	r := manifest(t, "app", putBlobs(t, s, "app", 1))
	r.Subject = orphanSubject
	noErr(t, "PutManifest referrer before subject", errOf(s.PutManifest(ctx, r, "")))
	got, err = s.Referrers(ctx, "app", orphanSubject, "")
	noErr(t, "Referrers of absent subject", err)
	if len(got) != 1 || got[0].Digest != r.Digest {
		t.Fatalf("Referrers of absent subject = %v", got)
	}
	noErr(t, "DeleteManifest subject", s.DeleteManifest(ctx, "app", subject.Digest))
	got, err = s.Referrers(ctx, "app", subject.Digest, "")
	noErr(t, "Referrers after subject delete", err)
	checkDescriptors(t, got, want)
	// Deleting a referrer removes it from the list.
	noErr(t, "DeleteManifest referrer", s.DeleteManifest(ctx, "app", want[0].Digest))
	got, err = s.Referrers(ctx, "app", subject.Digest, "")
	noErr(t, "Referrers after referrer delete", err)
	checkDescriptors(t, got, want[1:])
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func checkDescriptors(t *testing.T, got, want []meta.Descriptor) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d descriptors %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.MediaType != w.MediaType || g.ArtifactType != w.ArtifactType || g.Digest != w.Digest || g.Size != w.Size ||
			len(g.Annotations) != len(w.Annotations) || g.Annotations["n"] != w.Annotations["n"] {
			t.Fatalf("descriptor %d = %+v, want %+v", i, g, w)
		}
	}
}

func testMarkPulled(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := push(t, s, "app", "", 1)
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	noErr(t, "MarkPulled", s.MarkPulled(ctx, "app", m.Digest, at))
	got, err := s.GetManifest(ctx, "app", m.Digest)
	noErr(t, "GetManifest", err)
	if !got.PulledAt.Equal(at) {
		t.Fatalf("PulledAt = %v, want %v", got.PulledAt, at)
	}
	noErr(t, "MarkPulled earlier", s.MarkPulled(ctx, "app", m.Digest, at.Add(-time.Hour)))
	if got, _ := s.GetManifest(ctx, "app", m.Digest); !got.PulledAt.Equal(at) {
		t.Fatalf("PulledAt moved back to %v", got.PulledAt)
	}
	later := at.Add(time.Minute)
	noErr(t, "MarkPulled later", s.MarkPulled(ctx, "app", m.Digest, later))
	if got, _ := s.GetManifest(ctx, "app", m.Digest); !got.PulledAt.Equal(later) {
		t.Fatalf("PulledAt = %v, want %v", got.PulledAt, later)
	}
	wantErr(t, "MarkPulled unknown manifest", s.MarkPulled(ctx, "app", digest.FromString("x"), at), meta.ErrNotFound)
	wantErr(t, "MarkPulled unknown repo", s.MarkPulled(ctx, "zzz", m.Digest, at), meta.ErrNotFound)
}

func testFetchManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := push(t, s, "app", "v1", 2)
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	noErr(t, "MarkPulled", s.MarkPulled(ctx, "app", m.Digest, at))
	full, err := s.GetManifest(ctx, "app", m.Digest)
	noErr(t, "GetManifest", err)
	for _, by := range []struct {
		tag string
		d   digest.Digest
	}{{"v1", ""}, {"", m.Digest}} {
		got, err := s.FetchManifest(ctx, "app", by.tag, by.d)
		noErr(t, "FetchManifest", err)
		if got.Digest != m.Digest || got.MediaType != full.MediaType || string(got.Content) != string(full.Content) ||
			got.Size != full.Size || !got.PushedAt.Equal(full.PushedAt) || !got.PulledAt.Equal(at) || len(got.Blobs) != 0 {
			t.Fatalf("FetchManifest(%q, %q) = %+v, want %+v without references", by.tag, by.d, got, full)
		}
	}
	wantErr(t, "FetchManifest unknown tag", errOnly(s.FetchManifest(ctx, "app", "v2", "")), meta.ErrNotFound)
	wantErr(t, "FetchManifest unknown digest", errOnly(s.FetchManifest(ctx, "app", "", digest.FromString("x"))), meta.ErrNotFound)
	wantErr(t, "FetchManifest unknown repo", errOnly(s.FetchManifest(ctx, "zzz", "v1", "")), meta.ErrNotFound)
	noErr(t, "DeleteManifest", s.DeleteManifest(ctx, "app", m.Digest))
	wantErr(t, "FetchManifest deleted", errOnly(s.FetchManifest(ctx, "app", "", m.Digest)), meta.ErrNotFound)
}

func errOnly(_ *meta.Manifest, err error) error { return err }

func testTagMutability(t *testing.T, s meta.Store) {
	ctx := t.Context()
	one := push(t, s, "app", "v1", 1)
	noErr(t, "SetTagMutability", s.SetTagMutability(ctx, "app", meta.TagMutability{Mode: meta.ImmutableWithExclusion, Exclusions: []string{"dev-*"}}))
	two := manifest(t, "app", putBlobs(t, s, "app", 2))
	var immutable *meta.TagImmutableError
	if err := errOf(s.PutManifest(ctx, two, "v1")); !errors.As(err, &immutable) || immutable.Current != one.Digest.String() {
		t.Fatalf("moving an immutable tag: %v", err)
	}
	if d, err := s.ResolveTag(ctx, "app", "v1"); err != nil || d != one.Digest {
		t.Fatalf("v1 moved to %s (%v)", d, err)
	}
	noErr(t, "the same image again", errOf(s.PutManifest(ctx, one, "v1")))
	noErr(t, "a new tag", errOf(s.PutManifest(ctx, two, "v2")))
	noErr(t, "an excluded tag", errOf(s.PutManifest(ctx, one, "dev-1")))
	noErr(t, "an excluded tag moves", errOf(s.PutManifest(ctx, two, "dev-1")))
	fixed, err := s.FixedTags(ctx, "app", "", two.Digest)
	noErr(t, "FixedTags", err)
	if strings.Join(fixed, ",") != "v2" {
		t.Errorf("fixed tags of the second image: %v", fixed)
	}
	if fixed, _ := s.FixedTags(ctx, "app", "dev-1", ""); len(fixed) != 0 {
		t.Errorf("an excluded tag is fixed: %v", fixed)
	}
	own, eff, err := s.TagMutability(ctx, "app")
	noErr(t, "TagMutability", err)
	if own.Mode != meta.ImmutableWithExclusion || eff.Mode != meta.ImmutableWithExclusion || len(own.Exclusions) != 1 {
		t.Errorf("settings: %+v %+v", own, eff)
	}
	noErr(t, "SetTagMutability new repository", s.SetTagMutability(ctx, "fresh", meta.TagMutability{Mode: meta.Immutable}))
	if _, eff, err := s.TagMutability(ctx, "fresh"); err != nil || eff.Mode != meta.Immutable {
		t.Errorf("a repository created by its settings: %+v %v", eff, err)
	}
	for _, bad := range []meta.TagMutability{{Mode: "FROZEN"}, {Mode: meta.Immutable, Exclusions: []string{"x"}},
		{Mode: meta.ImmutableWithExclusion}, {Mode: meta.ImmutableWithExclusion, Exclusions: []string{"a", "b", "c", "d", "e", "f"}}} {
		wantErr(t, "bad setting", s.SetTagMutability(ctx, "app", bad), meta.ErrInvalid)
	}
	noErr(t, "back to the default", s.SetTagMutability(ctx, "app", meta.TagMutability{}))
	noErr(t, "a mutable tag moves", errOf(s.PutManifest(ctx, two, "v1")))
}

func testUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	u := &meta.Upload{ID: "u-1", Repository: "app", StartedAt: start, UpdatedAt: start}
	noErr(t, "CreateUpload", s.CreateUpload(ctx, u, 0))
	wantErr(t, "CreateUpload duplicate id", s.CreateUpload(ctx, &meta.Upload{ID: "u-1", Repository: "x"}, 0), meta.ErrConflict)
	wantErr(t, "CreateUpload empty id", s.CreateUpload(ctx, &meta.Upload{Repository: "x"}, 0), meta.ErrInvalid)
	wantErr(t, "CreateUpload empty repo", s.CreateUpload(ctx, &meta.Upload{ID: "u-2"}, 0), meta.ErrInvalid)

	got, err := s.GetUpload(ctx, "u-1")
	noErr(t, "GetUpload", err)
	if got.ID != "u-1" || got.Repository != "app" || got.Offset != 0 || len(got.HashState) != 0 ||
		!got.StartedAt.Equal(start) || !got.UpdatedAt.Equal(start) {
		t.Fatalf("GetUpload = %+v", got)
	}
	_, err = s.GetUpload(ctx, "nope")
	wantErr(t, "GetUpload unknown", err, meta.ErrNotFound)

	state := []byte{0, 1, 2, 0xff, 0}
	next := &meta.Upload{ID: "u-1", Offset: 1024, HashState: state}
	noErr(t, "AdvanceUpload", s.AdvanceUpload(ctx, next, 0))
	got, err = s.GetUpload(ctx, "u-1")
	noErr(t, "GetUpload", err)
	if got.Offset != 1024 || string(got.HashState) != string(state) || !got.StartedAt.Equal(start) || !got.UpdatedAt.After(start) {
		t.Fatalf("after advance: %+v", got)
	}
	if !next.UpdatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("AdvanceUpload set UpdatedAt %v, stored %v", next.UpdatedAt, got.UpdatedAt)
	}
	wantErr(t, "AdvanceUpload from stale offset",
		s.AdvanceUpload(ctx, &meta.Upload{ID: "u-1", Offset: 2048}, 0), meta.ErrConflict)
	wantErr(t, "AdvanceUpload backwards",
		s.AdvanceUpload(ctx, &meta.Upload{ID: "u-1", Offset: 10}, 1024), meta.ErrInvalid)
	wantErr(t, "AdvanceUpload unknown",
		s.AdvanceUpload(ctx, &meta.Upload{ID: "nope", Offset: 10}, 0), meta.ErrNotFound)
	if got, _ := s.GetUpload(ctx, "u-1"); got.Offset != 1024 {
		t.Fatalf("failed advances changed offset to %d", got.Offset)
	}

	noErr(t, "DeleteUpload", s.DeleteUpload(ctx, "u-1"))
	_, err = s.GetUpload(ctx, "u-1")
	wantErr(t, "GetUpload after delete", err, meta.ErrNotFound)
	wantErr(t, "DeleteUpload twice", s.DeleteUpload(ctx, "u-1"), meta.ErrNotFound)

	// The stored hash state resumes hashing where it stopped, as it would
	// on another replica.
	data := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef-tail")
	h := sha256.New()
	h.Write(data[:64])
	st, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	noErr(t, "marshal sha256 state", err)
	noErr(t, "CreateUpload", s.CreateUpload(ctx, &meta.Upload{ID: "u-h", Repository: "app"}, 0))
	noErr(t, "AdvanceUpload", s.AdvanceUpload(ctx, &meta.Upload{ID: "u-h", Offset: 64, HashState: st}, 0))
	got, err = s.GetUpload(ctx, "u-h")
	noErr(t, "GetUpload", err)
	resumed := sha256.New()
	noErr(t, "unmarshal sha256 state", resumed.(encoding.BinaryUnmarshaler).UnmarshalBinary(got.HashState))
	resumed.Write(data[got.Offset:])
	if d := digest.NewDigest(digest.SHA256, resumed); d != digest.FromBytes(data) {
		t.Fatalf("resumed hash %s, want %s", d, digest.FromBytes(data))
	}

	// Zero times are filled in.
	before := time.Now().Add(-time.Second)
	z := &meta.Upload{ID: "u-3", Repository: "app"}
	noErr(t, "CreateUpload without times", s.CreateUpload(ctx, z, 0))
	got, err = s.GetUpload(ctx, "u-3")
	noErr(t, "GetUpload", err)
	if got.StartedAt.Before(before) || got.UpdatedAt.Before(before) {
		t.Fatalf("zero times stored as %v / %v", got.StartedAt, got.UpdatedAt)
	}
}

// Open sessions are capped per owner; anonymous sessions, other owners and
// a zero limit are not, and a finished session frees its place.
func testUploadLimitPerOwner(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for i := range 3 {
		noErr(t, "CreateUpload within limit", s.CreateUpload(ctx, &meta.Upload{ID: fmt.Sprintf("ci-%d", i), Repository: "app", Owner: "robot:ci"}, 3))
	}
	wantErr(t, "CreateUpload over limit", s.CreateUpload(ctx, &meta.Upload{ID: "ci-3", Repository: "app", Owner: "robot:ci"}, 3), meta.ErrLimit)
	if _, err := s.GetUpload(ctx, "ci-3"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("refused session was stored: %v", err)
	}
	got, err := s.GetUpload(ctx, "ci-0")
	noErr(t, "GetUpload", err)
	if got.Owner != "robot:ci" {
		t.Fatalf("Owner = %q", got.Owner)
	}
	noErr(t, "CreateUpload other owner", s.CreateUpload(ctx, &meta.Upload{ID: "other", Repository: "app", Owner: "user:alice"}, 3))
	noErr(t, "CreateUpload no limit", s.CreateUpload(ctx, &meta.Upload{ID: "ci-nolimit", Repository: "app", Owner: "robot:ci"}, 0))
	for i := range 5 {
		noErr(t, "CreateUpload anonymous", s.CreateUpload(ctx, &meta.Upload{ID: fmt.Sprintf("anon-%d", i), Repository: "app"}, 3))
	}
	noErr(t, "DeleteUpload", s.DeleteUpload(ctx, "ci-0"))
	noErr(t, "DeleteUpload", s.DeleteUpload(ctx, "ci-nolimit"))
	noErr(t, "CreateUpload after one finished", s.CreateUpload(ctx, &meta.Upload{ID: "ci-4", Repository: "app", Owner: "robot:ci"}, 3))

	// Concurrent starts of one owner never overshoot.
	errs := parallel(10, func(i int) error {
		return s.CreateUpload(ctx, &meta.Upload{ID: fmt.Sprintf("burst-%d", i), Repository: "app", Owner: "robot:burst"}, 4)
	})
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, meta.ErrLimit):
			t.Fatalf("concurrent CreateUpload: %v", err)
		}
	}
	if ok != 4 {
		t.Fatalf("%d of 10 concurrent sessions started under a limit of 4", ok)
	}
}

func testStaleUploads(t *testing.T, s meta.Store) {
	ctx := t.Context()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"c", "a", "d", "b"} {
		at := base.Add(time.Duration(i) * time.Minute)
		noErr(t, "CreateUpload", s.CreateUpload(ctx, &meta.Upload{ID: id, Repository: "app", StartedAt: at, UpdatedAt: at}, 0))
	}
	ids := func(us []meta.Upload) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	got, err := s.StaleUploads(ctx, base.Add(150*time.Second), 0)
	noErr(t, "StaleUploads", err)
	if want := []string{"c", "a", "d"}; !slices.Equal(ids(got), want) {
		t.Fatalf("StaleUploads = %v, want %v (least recently updated first)", ids(got), want)
	}
	got, err = s.StaleUploads(ctx, base.Add(time.Hour), 2)
	noErr(t, "StaleUploads limited", err)
	if want := []string{"c", "a"}; !slices.Equal(ids(got), want) {
		t.Fatalf("StaleUploads limit 2 = %v, want %v", ids(got), want)
	}
	got, err = s.StaleUploads(ctx, base, 0)
	noErr(t, "StaleUploads none", err)
	if len(got) != 0 {
		t.Fatalf("StaleUploads before all = %v", ids(got))
	}
	// Advancing refreshes: the session is no longer stale.
	noErr(t, "AdvanceUpload", s.AdvanceUpload(ctx, &meta.Upload{ID: "c", Offset: 1}, 0))
	got, err = s.StaleUploads(ctx, base.Add(time.Hour), 0)
	noErr(t, "StaleUploads", err)
	if want := []string{"a", "d", "b"}; !slices.Equal(ids(got), want) {
		t.Fatalf("StaleUploads after advance = %v, want %v", ids(got), want)
	}
	if got[0].Repository != "app" || !got[0].StartedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("StaleUploads row = %+v", got[0])
	}
}

func testGCCandidates(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := push(t, s, "app", "v1", 2)
	loose := putBlobs(t, s, "app", 3)
	cands, err := s.GCCandidates(ctx, far(), 0)
	noErr(t, "GCCandidates", err)
	slices.Sort(cands)
	want := slices.Clone(loose)
	slices.Sort(want)
	if !slices.Equal(cands, want) {
		t.Fatalf("GCCandidates = %v, want the unreferenced %v", cands, want)
	}
	cands, err = s.GCCandidates(ctx, far(), 2)
	noErr(t, "GCCandidates limited", err)
	if len(cands) != 2 {
		t.Fatalf("GCCandidates limit 2 returned %d", len(cands))
	}
	cands, err = s.GCCandidates(ctx, time.Now().Add(-time.Hour), 0)
	noErr(t, "GCCandidates old cut-off", err)
	if len(cands) != 0 {
		t.Fatalf("GCCandidates within grace period = %v, want none", cands)
	}
	// A blob referenced by a manifest in any repository is no candidate,
	// even if unlinked from its own.
	noErr(t, "UnlinkBlob", s.UnlinkBlob(ctx, "app", m.Blobs[0]))
	cands, err = s.GCCandidates(ctx, far(), 0)
	noErr(t, "GCCandidates", err)
	if slices.Contains(cands, m.Blobs[0]) {
		t.Fatal("referenced blob listed after unlink")
	}
}

func testDeleteBlobIfUnreferenced(t *testing.T, s meta.Store) {
	ctx := t.Context()
	m := push(t, s, "app", "v1", 1)
	loose := putBlobs(t, s, "app", 1)[0]
	noErr(t, "LinkBlob", s.LinkBlob(ctx, "other", loose))

	ok, err := s.DeleteBlobIfUnreferenced(ctx, m.Blobs[0], far())
	noErr(t, "DeleteBlobIfUnreferenced referenced", err)
	if ok {
		t.Fatal("deleted a referenced blob")
	}
	ok, err = s.DeleteBlobIfUnreferenced(ctx, loose, time.Now().Add(-time.Hour))
	noErr(t, "DeleteBlobIfUnreferenced recent", err)
	if ok {
		t.Fatal("deleted a blob touched within the grace period")
	}
	ok, err = s.DeleteBlobIfUnreferenced(ctx, blob(t), far())
	noErr(t, "DeleteBlobIfUnreferenced unknown", err)
	if ok {
		t.Fatal("reported deleting an unknown blob")
	}
	ok, err = s.DeleteBlobIfUnreferenced(ctx, loose, far())
	noErr(t, "DeleteBlobIfUnreferenced", err)
	if !ok {
		t.Fatal("unreferenced old blob not deleted")
	}
	if has, _ := s.HasBlob(ctx, loose); has {
		t.Fatal("HasBlob after delete = true")
	}
	for _, repo := range []string{"app", "other"} {
		_, err := s.StatBlob(ctx, repo, loose)
		wantErr(t, "StatBlob after GC in "+repo, err, meta.ErrNotFound)
	}
	ok, err = s.DeleteBlobIfUnreferenced(ctx, loose, far())
	noErr(t, "DeleteBlobIfUnreferenced twice", err)
	if ok {
		t.Fatal("deleted twice")
	}
	wantErr(t, "LinkBlob after GC", s.LinkBlob(ctx, "app", loose), meta.ErrNotFound)
	// After its manifest goes, a blob can be collected.
	noErr(t, "DeleteManifest", s.DeleteManifest(ctx, "app", m.Digest))
	ok, err = s.DeleteBlobIfUnreferenced(ctx, m.Blobs[0], far())
	if err != nil || !ok {
		t.Fatalf("collect blob of deleted manifest = %v, %v", ok, err)
	}
	// It can be put again afterwards.
	noErr(t, "PutBlob after GC", s.PutBlob(ctx, "app", loose, 100))
}

// Layers a manifest need not have (non-distributable, or with urls) are
// kept by garbage collection whenever their bytes are stored, whether
// they were uploaded before the manifest or after it, and collected once
// the manifest goes.
func testExternalBlobsKept(t *testing.T, s meta.Store) {
	ctx := t.Context()
	ds := putBlobs(t, s, "app", 2)
	before, missing, late := ds[1], blob(t), blob(t)
	m := manifest(t, "app", ds[:1])
	m.External = []digest.Digest{before, missing, late}
	noErr(t, "PutManifest with absent external layers", errOf(s.PutManifest(ctx, m, "v1")))
	noErr(t, "PutBlob after the manifest", s.PutBlob(ctx, "app", late, 7))

	got, err := s.GetManifest(ctx, "app", m.Digest)
	noErr(t, "GetManifest", err)
	if !slices.Equal(got.External, m.External) || !slices.Equal(got.Blobs, m.Blobs) {
		t.Fatalf("GetManifest: Blobs %v External %v, want %v and %v", got.Blobs, got.External, m.Blobs, m.External)
	}
	cands, err := s.GCCandidates(ctx, far(), 0)
	noErr(t, "GCCandidates", err)
	if len(cands) != 0 {
		t.Fatalf("GCCandidates = %v, want none: every stored blob is referenced", cands)
	}
	for _, d := range []digest.Digest{before, late} {
		ok, err := s.DeleteBlobIfUnreferenced(ctx, d, far())
		noErr(t, "DeleteBlobIfUnreferenced", err)
		if ok {
			t.Fatalf("deleted external layer %s of a tagged manifest", d)
		}
	}
	noErr(t, "DeleteManifest", s.DeleteManifest(ctx, "app", m.Digest))
	cands, err = s.GCCandidates(ctx, far(), 0)
	noErr(t, "GCCandidates after delete", err)
	slices.Sort(cands)
	want := []digest.Digest{ds[0], before, late}
	slices.Sort(want)
	if !slices.Equal(cands, want) {
		t.Fatalf("GCCandidates after the manifest went = %v, want %v", cands, want)
	}
}

// Uploads, mounts and manifest pushes each refresh the touch time.
func testTouchProtectsFromGC(t *testing.T, s meta.Store) {
	ctx := t.Context()
	ds := putBlobs(t, s, "app", 3)
	tick()
	cutoff := time.Now()
	tick()
	noErr(t, "PutBlob again", s.PutBlob(ctx, "app", ds[0], 100))
	noErr(t, "LinkBlob", s.LinkBlob(ctx, "other", ds[1]))
	m := manifest(t, "app", ds[2:])
	noErr(t, "PutManifest", errOf(s.PutManifest(ctx, m, "")))
	noErr(t, "DeleteManifest", s.DeleteManifest(ctx, "app", m.Digest))
	cands, err := s.GCCandidates(ctx, cutoff, 0)
	noErr(t, "GCCandidates", err)
	if len(cands) != 0 {
		t.Fatalf("GCCandidates = %v, want none: all were touched after the cut-off", cands)
	}
	for _, d := range ds {
		ok, err := s.DeleteBlobIfUnreferenced(ctx, d, cutoff)
		noErr(t, "DeleteBlobIfUnreferenced", err)
		if ok {
			t.Fatalf("deleted blob %s touched after the cut-off", d)
		}
	}
	cands, err = s.GCCandidates(ctx, far(), 0)
	noErr(t, "GCCandidates", err)
	if len(cands) != 3 {
		t.Fatalf("GCCandidates later = %v, want all 3", cands)
	}
}

// A canceled context stops every call with its error and leaves the store
// usable.
func testCanceledContext(t *testing.T, s meta.Store) {
	m := push(t, s, "app", "v1", 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d := blob(t)
	calls := map[string]func() error{
		"PutBlob":     func() error { return s.PutBlob(ctx, "app", d, 1) },
		"PutManifest": func() error { return errOf(s.PutManifest(ctx, manifest(t, "app", m.Blobs), "v2")) },
		"GetManifest": func() error { _, err := s.GetManifest(ctx, "app", m.Digest); return err },
		"ListTags":    func() error { _, err := s.ListTags(ctx, "app", meta.Page{}); return err },
		"DeleteBlobIfUnreferenced": func() error {
			_, err := s.DeleteBlobIfUnreferenced(ctx, m.Blobs[0], far())
			return err
		},
		"AdvanceUpload": func() error { return s.AdvanceUpload(ctx, &meta.Upload{ID: "x", Offset: 1}, 0) },
	}
	for name, call := range calls {
		wantErr(t, name+" with canceled context", call(), context.Canceled)
	}
	if ok, err := s.HasBlob(t.Context(), d); err != nil || ok {
		t.Fatalf("canceled PutBlob stored the blob (%v, %v)", ok, err)
	}
	if _, err := s.ResolveTag(t.Context(), "app", "v2"); !errors.Is(err, meta.ErrNotFound) {
		t.Fatalf("canceled PutManifest set its tag: %v", err)
	}
	if got, err := s.ResolveTag(t.Context(), "app", "v1"); err != nil || got != m.Digest {
		t.Fatalf("store unusable after canceled calls: %s, %v", got, err)
	}
}
