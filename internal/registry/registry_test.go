package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/blob/fs"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

var quiet = slog.New(slog.DiscardHandler)

type env struct {
	reg   *registry.Registry
	blobs *fs.Driver
	md    meta.Store
	clock *clock
}

// clock is a settable time source shared by registry and store.
type clock struct {
	mu   sync.Mutex
	now  time.Time
	tick time.Duration // added after every reading, so time moves on
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.now
	c.now = c.now.Add(c.tick)
	return t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// engine opens a fresh metadata store on one SQL engine.
type engine struct {
	name string
	open func(t testing.TB, now func() time.Time) meta.Store
}

var engines = []engine{
	{"sqlite", func(t testing.TB, now func() time.Time) meta.Store {
		return openStore(t, filepath.Join(t.TempDir(), "meta.db"), now)
	}},
	{"postgres", func(t testing.TB, now func() time.Time) meta.Store {
		return openStore(t, pgtest.NewDatabase(t), now)
	}},
}

func openStore(t testing.TB, dsn string, now func() time.Time) meta.Store {
	t.Helper()
	s, err := sqlstore.New(context.Background(), sqldbtest.Open(t, dsn), sqlstore.WithClock(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// forEachEngine runs fn against a registry on the real filesystem driver
// and each SQL engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) { fn(t, newEnv(t, eng)) })
	}
}

func newEnv(t testing.TB, eng engine, opts ...registry.Option) *env {
	t.Helper()
	blobs, err := fs.New(t.TempDir(), fs.WithoutSyncUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	md := eng.open(t, c.Now)
	reg, err := registry.New(blobs, md, append([]registry.Option{registry.WithClock(c.Now), registry.WithLogger(quiet)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, blobs: blobs, md: md, clock: c}
}

// replica is a second Registry over the same stores, as another server
// process would be.
func (e *env) replica(t *testing.T) *registry.Registry {
	t.Helper()
	r, err := registry.New(e.blobs, e.md, registry.WithClock(e.clock.Now), registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *env) push(t testing.TB, repo string, content []byte) digest.Digest {
	d := digest.FromBytes(content)
	if _, err := e.reg.PutBlob(context.Background(), repo, d, int64(len(content)), bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	return d
}

func imageManifest(t testing.TB, cfg, layer digest.Digest) []byte {
	m := v1.Manifest{
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: cfg, Size: 2},
		Layers:    []v1.Descriptor{{MediaType: v1.MediaTypeImageLayerGzip, Digest: layer, Size: 3}},
	}
	m.SchemaVersion = 2
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readBlob(t testing.TB, r *registry.Registry, repo string, d digest.Digest) []byte {
	rc, _, err := r.OpenBlob(context.Background(), repo, d, 0)
	if err != nil {
		t.Fatalf("open %s in %s: %v", d, repo, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewValidates(t *testing.T) {
	blobs, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	md := openStore(t, filepath.Join(t.TempDir(), "meta.db"), time.Now)
	if _, err := registry.New(nil, md); err == nil {
		t.Error("nil driver accepted")
	}
	if _, err := registry.New(blobs, nil); err == nil {
		t.Error("nil store accepted")
	}
	for _, o := range []registry.Option{registry.WithClock(nil), registry.WithLogger(nil), registry.WithUploadIDs(nil), registry.WithMaxPage(0)} {
		if _, err := registry.New(blobs, md, o); err == nil {
			t.Error("bad option accepted")
		}
	}
}

// TestChunksAcrossReplicas: consecutive chunks reach different registry
// instances; the persisted hash state carries over.
func TestChunksAcrossReplicas(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.reg, e.replica(t)
		content := randomBytes(t, 10000)
		up, err := a.StartUpload(ctx, "multi/replica")
		if err != nil {
			t.Fatal(err)
		}
		regs := []*registry.Registry{a, b, a, b}
		for i, r := range regs {
			chunk := content[i*2500 : (i+1)*2500]
			got, err := r.AppendUpload(ctx, "multi/replica", up.ID, registry.Chunk{Start: int64(i * 2500), Length: 2500, Body: bytes.NewReader(chunk)})
			if err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
			if got.Offset != int64((i+1)*2500) {
				t.Fatalf("offset %d after chunk %d", got.Offset, i)
			}
		}
		d := digest.FromBytes(content)
		size, err := b.FinishUpload(ctx, "multi/replica", up.ID, d, nil)
		if err != nil || size != 10000 {
			t.Fatalf("finish: %d, %v", size, err)
		}
		if !bytes.Equal(readBlob(t, a, "multi/replica", d), content) {
			t.Fatal("content differs")
		}
	})
}

func TestFinishSHA512AndMismatch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		content := randomBytes(t, 5000)
		d512 := digest.SHA512.FromBytes(content)
		up, _ := e.reg.StartUpload(ctx, "algo/repo")
		if _, err := e.reg.AppendUpload(ctx, "algo/repo", up.ID, registry.Chunk{Start: -1, Length: -1, Body: bytes.NewReader(content)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.FinishUpload(ctx, "algo/repo", up.ID, d512, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readBlob(t, e.reg, "algo/repo", d512), content) {
			t.Fatal("sha512 content differs")
		}

		up, _ = e.reg.StartUpload(ctx, "algo/repo")
		if _, err := e.reg.AppendUpload(ctx, "algo/repo", up.ID, registry.Chunk{Start: 0, Length: 10, Body: bytes.NewReader(content[:10])}); err != nil {
			t.Fatal(err)
		}
		wrong := digest.SHA512.FromString("other")
		_, err := e.reg.FinishUpload(ctx, "algo/repo", up.ID, wrong, nil)
		var mm *registry.DigestMismatchError
		if !errors.As(err, &mm) || !errors.Is(err, registry.ErrDigestInvalid) || mm.Expected != wrong || mm.Computed != digest.SHA512.FromBytes(content[:10]) {
			t.Fatalf("mismatch error = %v", err)
		}
		if _, err := e.reg.UploadStatus(ctx, "algo/repo", up.ID); !errors.Is(err, registry.ErrBlobUploadUnknown) {
			t.Errorf("session survived a digest mismatch: %v", err)
		}
		if ok, _ := e.md.HasBlob(ctx, wrong); ok {
			t.Error("mismatched blob recorded")
		}
	})
}

func TestRangeErrorReportsOffset(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		up, _ := e.reg.StartUpload(ctx, "r/e")
		if _, err := e.reg.AppendUpload(ctx, "r/e", up.ID, registry.Chunk{Start: 0, Length: 5, Body: bytes.NewReader([]byte("hello"))}); err != nil {
			t.Fatal(err)
		}
		_, err := e.reg.AppendUpload(ctx, "r/e", up.ID, registry.Chunk{Start: 7, Length: 1, Body: bytes.NewReader([]byte("x"))})
		var re *registry.RangeError
		if !errors.As(err, &re) || re.Offset != 5 || re.Start != 7 || !errors.Is(err, registry.ErrRangeInvalid) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestStorageAheadOfRecordCatchesUp reproduces a crash mid-chunk: bytes
// reached storage but their offset was never recorded. Status must report
// what is stored, a chunk at the stale offset must be refused with the true
// one, and the upload must finish with the right digest.
func TestStorageAheadOfRecordCatchesUp(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const repo = "crash/mid-chunk"
		content := randomBytes(t, 9000)
		up, _ := e.reg.StartUpload(ctx, repo)
		if _, err := e.reg.AppendUpload(ctx, repo, up.ID, registry.Chunk{Start: 0, Length: 3000, Body: bytes.NewReader(content[:3000])}); err != nil {
			t.Fatal(err)
		}
		// The part of the next chunk that arrived before the crash.
		if _, err := e.blobs.AppendUpload(ctx, up.ID, 3000, bytes.NewReader(content[3000:4500])); err != nil {
			t.Fatal(err)
		}

		_, err := e.reg.AppendUpload(ctx, repo, up.ID, registry.Chunk{Start: 3000, Length: 3000, Body: bytes.NewReader(content[3000:6000])})
		var re *registry.RangeError
		if !errors.As(err, &re) || re.Offset != 4500 {
			t.Fatalf("chunk at stale offset: %v", err)
		}
		st, err := e.reg.UploadStatus(ctx, repo, up.ID)
		if err != nil || st.Offset != 4500 {
			t.Fatalf("status = %+v, %v; want offset 4500", st, err)
		}
		if _, err := e.reg.AppendUpload(ctx, repo, up.ID, registry.Chunk{Start: 4500, Length: 4500, Body: bytes.NewReader(content[4500:])}); err != nil {
			t.Fatal(err)
		}
		d := digest.FromBytes(content)
		if _, err := e.reg.FinishUpload(ctx, repo, up.ID, d, nil); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readBlob(t, e.reg, repo, d), content) {
			t.Fatal("content differs")
		}
	})
}

// TestStatusCatchesUpFreshSession covers a crash during the first chunk:
// the record says 0 and storage holds bytes.
func TestStatusCatchesUpFreshSession(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		content := randomBytes(t, 2000)
		up, _ := e.reg.StartUpload(ctx, "crash/first")
		if _, err := e.blobs.AppendUpload(ctx, up.ID, 0, bytes.NewReader(content[:700])); err != nil {
			t.Fatal(err)
		}
		st, err := e.reg.UploadStatus(ctx, "crash/first", up.ID)
		if err != nil || st.Offset != 700 {
			t.Fatalf("status = %+v, %v; want offset 700", st, err)
		}
		d := digest.FromBytes(content)
		if _, err := e.reg.FinishUpload(ctx, "crash/first", up.ID, d, &registry.Chunk{Start: 700, Length: 1300, Body: bytes.NewReader(content[700:])}); err != nil {
			t.Fatal(err)
		}
	})
}

// blockingReader blocks its first Read until release is closed.
type blockingReader struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingReader) Read(p []byte) (int, error) {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return 0, io.EOF
}

func TestBusyUploadFailsFast(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		up, _ := e.reg.StartUpload(ctx, "busy/repo")
		br := &blockingReader{started: make(chan struct{}), release: make(chan struct{})}
		done := make(chan error)
		go func() {
			_, err := e.reg.AppendUpload(ctx, "busy/repo", up.ID, registry.Chunk{Start: -1, Length: -1, Body: br})
			done <- err
		}()
		<-br.started
		_, err := e.reg.AppendUpload(ctx, "busy/repo", up.ID, registry.Chunk{Start: -1, Length: -1, Body: bytes.NewReader([]byte("x"))})
		var be *registry.BusyError
		if !errors.As(err, &be) || !errors.Is(err, registry.ErrTooManyRequests) {
			t.Errorf("second append: %v", err)
		}
		close(br.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestManifestActorAndArtifactType(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := registry.WithActor(context.Background(), "alice")
		cfg, layer := e.push(t, "act/repo", []byte("{}")), e.push(t, "act/repo", []byte("abc"))
		body := imageManifest(t, cfg, layer)
		res, err := e.reg.PutManifest(ctx, registry.PutManifestRequest{Repository: "act/repo", Reference: "v1", ContentType: v1.MediaTypeImageManifest, Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		m, err := e.reg.GetManifest(ctx, "act/repo", "v1")
		if err != nil {
			t.Fatal(err)
		}
		if m.PushedBy != "alice" || m.Digest != res.Digest || m.ArtifactType != v1.MediaTypeImageConfig {
			t.Errorf("manifest pushed by %q, digest %s, artifact type %q", m.PushedBy, m.Digest, m.ArtifactType)
		}
		pulledAt := func() time.Time {
			stored, err := e.md.GetManifest(ctx, "act/repo", res.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return stored.PulledAt
		}
		first := pulledAt()
		if first.IsZero() {
			t.Fatal("pull not recorded")
		}
		// Pulls within a minute of the recorded one do not rewrite it.
		e.clock.Advance(30 * time.Second)
		if _, err := e.reg.GetManifest(ctx, "act/repo", "v1"); err != nil {
			t.Fatal(err)
		}
		if got := pulledAt(); !got.Equal(first) {
			t.Errorf("pull time rewritten after 30s: %v", got)
		}
		e.clock.Advance(time.Minute)
		if _, err := e.reg.GetManifest(ctx, "act/repo", "v1"); err != nil {
			t.Fatal(err)
		}
		if got := pulledAt(); !got.After(first) {
			t.Errorf("pull time not refreshed after 90s: %v", got)
		}
		if registry.Actor(context.Background()) != "" {
			t.Error("actor without WithActor")
		}
	})
}

func TestGarbageCollection(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const repo = "gc/repo"
		cfg, layer := e.push(t, repo, []byte("{}")), e.push(t, repo, []byte("abc"))
		orphan := e.push(t, repo, []byte("orphan bytes"))
		body := imageManifest(t, cfg, layer)
		if _, err := e.reg.PutManifest(ctx, registry.PutManifestRequest{Repository: repo, Reference: "v1", ContentType: v1.MediaTypeImageManifest, Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		// Within the grace period nothing goes.
		st, err := e.reg.CollectGarbage(ctx, time.Hour)
		if err != nil || st.Deleted != 0 {
			t.Fatalf("within grace: %+v, %v", st, err)
		}
		e.clock.Advance(2 * time.Hour)
		st, err = e.reg.CollectGarbage(ctx, time.Hour)
		if err != nil || st.Deleted != 1 || st.Bytes != int64(len("orphan bytes")) {
			t.Fatalf("after grace: %+v, %v", st, err)
		}
		if _, err := e.blobs.Stat(ctx, orphan); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("orphan bytes still stored: %v", err)
		}
		if _, err := e.reg.StatBlob(ctx, repo, orphan); !errors.Is(err, registry.ErrBlobUnknown) {
			t.Errorf("orphan still visible: %v", err)
		}
		for _, d := range []digest.Digest{cfg, layer} {
			readBlob(t, e.reg, repo, d)
		}
		// Deleting the manifest makes its blobs collectable.
		if err := e.reg.DeleteManifest(ctx, repo, digest.FromBytes(body).String()); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Hour)
		if st, err = e.reg.CollectGarbage(ctx, time.Hour); err != nil || st.Deleted != 2 {
			t.Fatalf("after manifest delete: %+v, %v", st, err)
		}
		if _, err := e.reg.CollectGarbage(ctx, -time.Second); err == nil {
			t.Error("negative grace accepted")
		}
	})
}

// Layers that need not be pushed (with urls, non-distributable, foreign)
// are kept by GC whenever a client did upload them, before or after the
// manifest: every blob the manifest names and the store holds stays
// pullable.
func TestGarbageCollectionKeepsExternalLayers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const repo = "gc/external"
		cfg := e.push(t, repo, []byte("{}"))
		withURLs := e.push(t, repo, []byte("layer with urls"))
		nondist := e.push(t, repo, []byte("non-distributable layer"))
		lateBytes := []byte("foreign layer uploaded after the manifest")
		late := digest.FromBytes(lateBytes)
		m := v1.Manifest{
			MediaType: v1.MediaTypeImageManifest,
			Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: cfg, Size: 2},
			Layers: []v1.Descriptor{
				{MediaType: v1.MediaTypeImageLayerGzip, Digest: withURLs, Size: 15, URLs: []string{"https://example.com/layer"}},
				{MediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Digest: nondist, Size: 23},
				{MediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Digest: late, Size: int64(len(lateBytes))},
			},
		}
		m.SchemaVersion = 2
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.reg.PutManifest(ctx, registry.PutManifestRequest{Repository: repo, Reference: "v1", ContentType: v1.MediaTypeImageManifest, Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		e.push(t, repo, lateBytes)
		e.clock.Advance(2 * time.Hour)
		if st, err := e.reg.CollectGarbage(ctx, time.Hour); err != nil || st.Deleted != 0 {
			t.Fatalf("GC past the grace period: %+v, %v; want nothing deleted", st, err)
		}
		for _, d := range []digest.Digest{cfg, withURLs, nondist, late} {
			readBlob(t, e.reg, repo, d)
		}
		if err := e.reg.DeleteManifest(ctx, repo, digest.FromBytes(body).String()); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Hour)
		if st, err := e.reg.CollectGarbage(ctx, time.Hour); err != nil || st.Deleted != 4 {
			t.Fatalf("GC after the manifest went: %+v, %v; want 4 deleted", st, err)
		}
	})
}

func TestPurgeUploads(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		old, _ := e.reg.StartUpload(ctx, "purge/repo")
		if _, err := e.reg.AppendUpload(ctx, "purge/repo", old.ID, registry.Chunk{Start: -1, Length: -1, Body: bytes.NewReader([]byte("data"))}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(48 * time.Hour)
		fresh, _ := e.reg.StartUpload(ctx, "purge/repo")
		n, err := e.reg.PurgeUploads(ctx, 24*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("purged %d, %v", n, err)
		}
		if _, err := e.reg.UploadStatus(ctx, "purge/repo", old.ID); !errors.Is(err, registry.ErrBlobUploadUnknown) {
			t.Errorf("old session: %v", err)
		}
		if _, err := e.blobs.UploadSize(ctx, old.ID); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("old session bytes: %v", err)
		}
		if _, err := e.reg.UploadStatus(ctx, "purge/repo", fresh.ID); err != nil {
			t.Errorf("fresh session: %v", err)
		}
	})
}

// TestParallelPushes pushes images to many repositories at once while
// garbage collection runs with no grace period. Every manifest that was
// stored must keep all its blobs readable.
func TestParallelPushes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		e.clock.tick = time.Microsecond // zero grace then means "anything not touched just now"
		ctx := context.Background()
		const workers, images = 8, 6
		var collected, lost int
		var lostMu sync.Mutex
		var wg sync.WaitGroup
		stop := make(chan struct{})
		gcDone := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stop:
					gcDone <- nil
					return
				default:
				}
				st, err := e.reg.CollectGarbage(ctx, 0)
				if err != nil {
					gcDone <- err
					return
				}
				collected += st.Deleted
			}
		}()
		type stored struct {
			repo  string
			blobs map[digest.Digest][]byte
		}
		results := make(chan stored, workers*images)
		errs := make(chan error, workers*images)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				repo := fmt.Sprintf("par/repo%d", w)
				shared := []byte("shared base layer") // same digest in every repository
				for i := range images {
					cfg := []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))
					contents := map[digest.Digest][]byte{digest.FromBytes(cfg): cfg, digest.FromBytes(shared): shared}
					for d, c := range contents {
						if _, err := e.reg.PutBlob(ctx, repo, d, int64(len(c)), bytes.NewReader(c)); err != nil {
							errs <- err
							return
						}
					}
					body := imageManifest(t, digest.FromBytes(cfg), digest.FromBytes(shared))
					_, err := e.reg.PutManifest(ctx, registry.PutManifestRequest{Repository: repo, Reference: fmt.Sprintf("t%d", i), ContentType: v1.MediaTypeImageManifest, Body: bytes.NewReader(body)})
					if errors.Is(err, registry.ErrManifestBlobUnknown) {
						lostMu.Lock()
						lost++
						lostMu.Unlock()
						continue // collected between blob push and manifest push: allowed with zero grace
					}
					if err != nil {
						errs <- err
						return
					}
					results <- stored{repo: repo, blobs: contents}
				}
			}()
		}
		wg.Wait()
		close(stop)
		if err := <-gcDone; err != nil {
			t.Fatal(err)
		}
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		close(results)
		n := 0
		for s := range results {
			n++
			for d, c := range s.blobs {
				if got := readBlob(t, e.reg, s.repo, d); !bytes.Equal(got, c) {
					t.Errorf("%s %s: content differs", s.repo, d)
				}
			}
		}
		if n == 0 {
			t.Fatal("no manifest was stored")
		}
		t.Logf("%d manifests stored, %d refused after their blobs were collected, %d blobs collected meanwhile", n, lost, collected)
		// A final collection must not touch referenced blobs either.
		if _, err := e.reg.CollectGarbage(ctx, 0); err != nil {
			t.Fatal(err)
		}
	})
}

// cancellingReader delivers n bytes, then cancels the request context and
// fails, as a client disconnecting mid-chunk does.
type cancellingReader struct {
	data   []byte
	cancel context.CancelFunc
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		c.cancel()
		return 0, context.Canceled
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// TestDisconnectMidChunkIsResumable: bytes that arrived before the client
// dropped are recorded, so the session resumes where storage ends.
func TestDisconnectMidChunkIsResumable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e *env) {
		content := randomBytes(t, 4000)
		up, err := e.reg.StartUpload(context.Background(), "drop/repo")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		_, err = e.reg.AppendUpload(ctx, "drop/repo", up.ID, registry.Chunk{Start: 0, Length: 4000, Body: &cancellingReader{data: content[:1500], cancel: cancel}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("append: %v", err)
		}
		st, err := e.reg.UploadStatus(context.Background(), "drop/repo", up.ID)
		if err != nil || st.Offset != 1500 {
			t.Fatalf("status after drop: %+v, %v", st, err)
		}
		d := digest.FromBytes(content)
		if _, err := e.reg.FinishUpload(context.Background(), "drop/repo", up.ID, d, &registry.Chunk{Start: 1500, Length: 2500, Body: bytes.NewReader(content[1500:])}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(readBlob(t, e.reg, "drop/repo", d), content) {
			t.Fatal("resumed content differs")
		}
	})
}

// failingStore makes chosen metadata calls fail, to test how the registry
// handles a store outage between its steps.
type failingStore struct {
	meta.Store
	failPutBlob bool
}

var errOutage = errors.New("database unavailable")

func (f *failingStore) PutBlob(ctx context.Context, repo string, d digest.Digest, size int64) error {
	if f.failPutBlob {
		return errOutage
	}
	return f.Store.PutBlob(ctx, repo, d, size)
}

// TestRecordFailureEndsSession: when the blob record cannot be written,
// the error surfaces, the blob is not visible, the session is gone, and
// pushing again succeeds.
func TestRecordFailureEndsSession(t *testing.T) {
	e := newEnv(t, engines[0])
	flaky := &failingStore{Store: e.md, failPutBlob: true}
	reg, err := registry.New(e.blobs, flaky, registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	content := randomBytes(t, 100)
	d := digest.FromBytes(content)
	up, err := reg.StartUpload(ctx, "fail/repo")
	if err != nil {
		t.Fatal(err)
	}
	_, err = reg.FinishUpload(ctx, "fail/repo", up.ID, d, &registry.Chunk{Start: 0, Length: 100, Body: bytes.NewReader(content)})
	if !errors.Is(err, errOutage) {
		t.Fatalf("finish: %v", err)
	}
	if _, err := reg.StatBlob(ctx, "fail/repo", d); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Errorf("blob visible without a record: %v", err)
	}
	if _, err := reg.UploadStatus(ctx, "fail/repo", up.ID); !errors.Is(err, registry.ErrBlobUploadUnknown) {
		t.Errorf("spent session still open: %v", err)
	}
	flaky.failPutBlob = false
	if _, err := reg.PutBlob(ctx, "fail/repo", d, 100, bytes.NewReader(content)); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !bytes.Equal(readBlob(t, reg, "fail/repo", d), content) {
		t.Fatal("retried content differs")
	}
}

func TestPageLimitAndAnonymousMount(t *testing.T) {
	e := newEnv(t, engines[0], registry.WithMaxPage(2), registry.WithAnonymousMount(false))
	ctx := context.Background()
	cfg, layer := e.push(t, "page/repo", []byte("{}")), e.push(t, "page/repo", []byte("abc"))
	body := imageManifest(t, cfg, layer)
	for _, tag := range []string{"a", "b", "c"} {
		if _, err := e.reg.PutManifest(ctx, registry.PutManifestRequest{Repository: "page/repo", Reference: tag, ContentType: v1.MediaTypeImageManifest, Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	tags, more, err := e.reg.Tags(ctx, "page/repo", registry.Page{N: -1})
	if err != nil || len(tags) != 2 || !more {
		t.Errorf("unbounded request: %v, more=%v, %v", tags, more, err)
	}
	tags, more, err = e.reg.Tags(ctx, "page/repo", registry.Page{N: 100, Last: "b"})
	if err != nil || len(tags) != 1 || tags[0] != "c" || more {
		t.Errorf("last page: %v, more=%v, %v", tags, more, err)
	}
	if _, _, err := e.reg.Tags(ctx, "page/none", registry.Page{N: 0}); !errors.Is(err, registry.ErrNameUnknown) {
		t.Errorf("unknown repository with n=0: %v", err)
	}
	res, err := e.reg.MountBlob(ctx, "page/other", "", layer)
	if err != nil || res.Mounted || res.Upload == nil {
		t.Errorf("anonymous mount disabled: %+v, %v", res, err)
	}
	res, err = e.reg.MountBlob(ctx, "page/other", "page/repo", layer)
	if err != nil || !res.Mounted || res.Size != 3 {
		t.Errorf("mount from source: %+v, %v", res, err)
	}
}

// fullDisk is a blob driver whose appends fail after reading the body.
type fullDisk struct{ blob.Driver }

var errDiskFull = errors.New("write /srv/moat/uploads/x/data: no space left on device")

func (fullDisk) AppendUpload(_ context.Context, _ string, _ int64, r io.Reader) (int64, error) {
	_, _ = io.Copy(io.Discard, r)
	return 0, errDiskFull
}

// TestStorageFaultIsNotTheClients: a storage failure with a healthy body
// is an internal error, not BLOB_UPLOAD_INVALID; a broken body is.
func TestStorageFaultIsNotTheClients(t *testing.T) {
	e := newEnv(t, engines[0])
	ctx := context.Background()
	reg, err := registry.New(fullDisk{e.blobs}, e.md, registry.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	up, _ := reg.StartUpload(ctx, "disk/full")
	_, err = reg.AppendUpload(ctx, "disk/full", up.ID, registry.Chunk{Start: -1, Length: -1, Body: bytes.NewReader([]byte("data"))})
	if !errors.Is(err, errDiskFull) || errors.Is(err, registry.ErrBlobUploadInvalid) {
		t.Errorf("storage fault: %v", err)
	}
	up, _ = e.reg.StartUpload(ctx, "disk/full")
	_, err = e.reg.AppendUpload(ctx, "disk/full", up.ID, registry.Chunk{Start: -1, Length: -1, Body: io.MultiReader(bytes.NewReader([]byte("abc")), iotest.ErrReader(io.ErrUnexpectedEOF))})
	if !errors.Is(err, registry.ErrBlobUploadInvalid) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("broken body: %v", err)
	}
}
