package crash

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestAbandonedUploadPurged checks the background purge that `moat serve`
// runs: a session idle longer than the TTL disappears, its status turns
// 404, and its bytes are gone from storage.
func TestAbandonedUploadPurged(t *testing.T) {
	ctx := withTimeout(t, time.Minute)
	srv := startServer(t, moatproc.WithEnv("MOAT_UPLOADS_TTL=1s", "MOAT_UPLOADS_PURGE_INTERVAL=100ms"))
	client := newClient(srv, &http.Transport{})

	abandoned := newResumable(t, client, srv, "purge/app", 256<<10)
	abandoned.patch(t, ctx, 0, 128<<10)
	uploads := filepath.Join(srv.DataDir, "blobs", "uploads")
	if n := countEntries(t, uploads); n != 1 {
		t.Fatalf("%d upload sessions on disk before the purge, want 1", n)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := do(ctx, client, "GET", abandoned.loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload status still %s 20s after a 1s TTL:\n%s", resp.Status, srv.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := countEntries(t, uploads); n != 0 {
		t.Errorf("%d upload sessions left on disk after the purge", n)
	}
}

func countEntries(t *testing.T, dir string) int {
	t.Helper()
	entries, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}
