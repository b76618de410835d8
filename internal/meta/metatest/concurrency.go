package metatest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/meta"
)

// parallel runs fn(i) for i in [0, n) at once, released together, and
// returns every error.
func parallel(n int, fn func(i int) error) []error {
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrentPushesDifferentRepos(t *testing.T, s meta.Store) {
	ctx := t.Context()
	const repos, pushes = 8, 15
	errs := parallel(repos, func(i int) error {
		repo := fmt.Sprintf("team/repo-%d", i)
		for j := range pushes {
			ds := []digest.Digest{blob(t), blob(t)}
			for _, d := range ds {
				if err := s.PutBlob(ctx, repo, d, 1); err != nil {
					return err
				}
			}
			if _, err := s.PutManifest(ctx, manifest(t, repo, ds), fmt.Sprintf("t%02d", j)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		noErr(t, "concurrent push", err)
	}
	names, err := s.ListRepositories(ctx, meta.Page{})
	noErr(t, "ListRepositories", err)
	if len(names) != repos {
		t.Fatalf("ListRepositories = %q, want %d repositories", names, repos)
	}
	for _, name := range names {
		tags, err := s.ListTags(ctx, name, meta.Page{})
		noErr(t, "ListTags", err)
		if len(tags) != pushes {
			t.Fatalf("%s has %d tags, want %d", name, len(tags), pushes)
		}
	}
}

// Pushes sharing base layers, listing them in different orders, must not
// deadlock or fail.
func testConcurrentPushesSharedBlobs(t *testing.T, s meta.Store) {
	ctx := t.Context()
	base := putBlobs(t, s, "app", 6)
	const workers, pushes = 8, 10
	errs := parallel(workers, func(i int) error {
		for j := range pushes {
			own := blob(t)
			if err := s.PutBlob(ctx, "app", own, 1); err != nil {
				return err
			}
			layers := slices.Clone(base)
			if (i+j)%2 == 1 {
				slices.Reverse(layers)
			}
			layers = append(layers, own)
			if _, err := s.PutManifest(ctx, manifest(t, "app", layers), ""); err != nil {
				return err
			}
			// Re-putting shared blobs at the same time touches them too.
			if err := s.PutBlob(ctx, "app", base[j%len(base)], 100+int64(j%len(base))); err != nil {
				return err
			}
		}
		return nil
	})
	for _, err := range errs {
		noErr(t, "concurrent push with shared blobs", err)
	}
}

func testConcurrentTagMoves(t *testing.T, s meta.Store) {
	ctx := t.Context()
	const workers = 8
	ms := make([]*meta.Manifest, workers)
	for i := range ms {
		ms[i] = push(t, s, "app", "", 1)
	}
	var (
		mu sync.Mutex
		// Every put moves the tag from one digest to the next, so the
		// moves reported must form one chain from "" to the final digest:
		// each digest is left as often as it is reached, except the last.
		reached = map[digest.Digest]int{}
		left    = map[digest.Digest]int{}
	)
	errs := parallel(workers, func(i int) error {
		for range 10 {
			prev, err := s.PutManifest(ctx, ms[i], "latest")
			if err != nil {
				return err
			}
			mu.Lock()
			reached[ms[i].Digest]++
			left[prev]++
			mu.Unlock()
		}
		return nil
	})
	for _, err := range errs {
		noErr(t, "concurrent tag move", err)
	}
	d, err := s.ResolveTag(ctx, "app", "latest")
	noErr(t, "ResolveTag", err)
	if !slices.ContainsFunc(ms, func(m *meta.Manifest) bool { return m.Digest == d }) {
		t.Fatalf("latest points to unknown %s", d)
	}
	if left[""] != 1 {
		t.Errorf("%d puts saw the tag absent, want 1", left[""])
	}
	for _, m := range ms {
		want := left[m.Digest]
		if m.Digest == d {
			want++
		}
		if reached[m.Digest] != want {
			t.Errorf("%s: reached %d times, left %d times (final %v): previous digests are not one chain",
				m.Digest, reached[m.Digest], left[m.Digest], m.Digest == d)
		}
	}
}

// Garbage collection racing a push of a manifest that references the
// collected blob: the push wins and the blob stays, or the collection wins
// and the push fails with a MissingError. Never a stored manifest whose
// blob record is gone.
func testGCRacesPutManifest(t *testing.T, s meta.Store) {
	ctx := t.Context()
	const rounds = 30
	var pushWins, gcWins atomic.Int32
	for round := range rounds {
		shared := putBlobs(t, s, "app", 2)
		m := manifest(t, "app", shared)
		var deleted [2]bool
		errs := parallel(3, func(i int) error {
			if i == 2 {
				return errOf(s.PutManifest(ctx, m, ""))
			}
			var err error
			deleted[i], err = s.DeleteBlobIfUnreferenced(ctx, shared[i], far())
			return err
		})
		noErr(t, "DeleteBlobIfUnreferenced", errors.Join(errs[0], errs[1]))
		pushErr := errs[2]
		var missing *meta.MissingError
		switch {
		case pushErr == nil:
			pushWins.Add(1)
			if deleted[0] || deleted[1] {
				t.Fatalf("round %d: push succeeded and GC deleted a blob it references (%v)", round, deleted)
			}
			for _, d := range shared {
				if ok, err := s.HasBlob(ctx, d); err != nil || !ok {
					t.Fatalf("round %d: stored manifest references missing blob %s (%v)", round, d, err)
				}
			}
			got, err := s.GetManifest(ctx, "app", m.Digest)
			noErr(t, "GetManifest", err)
			if !slices.Equal(got.Blobs, shared) {
				t.Fatalf("round %d: stored blobs %v", round, got.Blobs)
			}
		case errors.As(pushErr, &missing):
			gcWins.Add(1)
			if !deleted[0] && !deleted[1] {
				t.Fatalf("round %d: push reported missing %v but GC deleted nothing", round, missing.Blobs)
			}
			// A blob reported missing was collected. The converse need not
			// hold: once the push fails and releases its locks, GC may
			// collect the other blob too.
			for i, d := range shared {
				if slices.Contains(missing.Blobs, d) && !deleted[i] {
					t.Fatalf("round %d: blob %s reported missing but not collected", round, d)
				}
			}
			if _, err := s.GetManifest(ctx, "app", m.Digest); !errors.Is(err, meta.ErrNotFound) {
				t.Fatalf("round %d: failed push stored the manifest (%v)", round, err)
			}
		default:
			t.Fatalf("round %d: PutManifest: %v", round, pushErr)
		}
	}
	t.Logf("push won %d rounds, GC won %d", pushWins.Load(), gcWins.Load())
}

// A cross-repository mount racing garbage collection either links a live
// blob or reports it not found.
func testGCRacesLinkBlob(t *testing.T, s meta.Store) {
	ctx := t.Context()
	for round := range 30 {
		d := putBlobs(t, s, "src", 1)[0]
		var deleted bool
		errs := parallel(2, func(i int) error {
			if i == 0 {
				return s.LinkBlob(ctx, "dst", d)
			}
			var err error
			deleted, err = s.DeleteBlobIfUnreferenced(ctx, d, far())
			return err
		})
		noErr(t, "DeleteBlobIfUnreferenced", errs[1])
		_, statErr := s.StatBlob(ctx, "dst", d)
		switch {
		case errs[0] == nil:
			// The link happened first; GC may have collected it afterwards
			// (the blob is unreferenced), but then the link went with it.
			if deleted != errors.Is(statErr, meta.ErrNotFound) {
				t.Fatalf("round %d: linked, deleted=%v, stat err %v", round, deleted, statErr)
			}
		case errors.Is(errs[0], meta.ErrNotFound):
			if !deleted {
				t.Fatalf("round %d: LinkBlob found nothing but GC deleted nothing", round)
			}
		default:
			t.Fatalf("round %d: LinkBlob: %v", round, errs[0])
		}
	}
}

func testConcurrentAdvanceUpload(t *testing.T, s meta.Store) {
	ctx := t.Context()
	noErr(t, "CreateUpload", s.CreateUpload(ctx, &meta.Upload{ID: "up", Repository: "app"}, 0))
	const workers = 8
	errs := parallel(workers, func(i int) error {
		return s.AdvanceUpload(ctx, &meta.Upload{ID: "up", Offset: int64(100 + i), HashState: []byte{byte(i)}}, 0)
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("workers %d and %d both advanced from offset 0", winner, i)
			}
			winner = i
		case !errors.Is(err, meta.ErrConflict):
			t.Fatalf("worker %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no worker advanced the upload")
	}
	u, err := s.GetUpload(ctx, "up")
	noErr(t, "GetUpload", err)
	if u.Offset != int64(100+winner) || len(u.HashState) != 1 || u.HashState[0] != byte(winner) {
		t.Fatalf("upload = offset %d state %v, want the winner's %d", u.Offset, u.HashState, winner)
	}

	// Workers appending one byte at a time, each retrying on conflict,
	// account for every byte exactly once.
	const appends = 10
	errs = parallel(workers, func(int) error {
		for done := 0; done < appends; {
			cur, err := s.GetUpload(ctx, "up")
			if err != nil {
				return err
			}
			err = s.AdvanceUpload(ctx, &meta.Upload{ID: "up", Offset: cur.Offset + 1}, cur.Offset)
			if errors.Is(err, meta.ErrConflict) {
				continue
			}
			if err != nil {
				return err
			}
			done++
		}
		return nil
	})
	for _, err := range errs {
		noErr(t, "appending worker", err)
	}
	u, err = s.GetUpload(ctx, "up")
	noErr(t, "GetUpload", err)
	if want := int64(100+winner) + workers*appends; u.Offset != want {
		t.Fatalf("offset after appends = %d, want %d", u.Offset, want)
	}
}
