package crash

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// hookLog is a webhook receiver that can hold the first delivery of one
// event type until released, so a test can kill moat while a delivery is
// in flight, and that counts what it answered 200 to, per event id.
type hookLog struct {
	srv      *httptest.Server
	mu       sync.Mutex
	answered map[string]int // CloudEvents id -> deliveries answered 200
	subjects map[string]string
	holdType string
	held     chan struct{} // closed when the held delivery arrived
	release  chan struct{} // closed to let it go
}

func newHookLog(t *testing.T, holdType string) *hookLog {
	h := &hookLog{answered: map[string]int{}, subjects: map[string]string{}, holdType: holdType,
		held: make(chan struct{}), release: make(chan struct{})}
	var once sync.Once
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ ID, Type, Subject string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &ev)
		if ev.Type == h.holdType {
			first := false
			once.Do(func() { first = true })
			if first {
				close(h.held)
				<-h.release
				return // the sender died meanwhile: this answer reaches nobody
			}
		}
		h.mu.Lock()
		h.answered[ev.ID]++
		h.subjects[ev.ID] = ev.Subject
		h.mu.Unlock()
	}))
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		h.srv.Close()
	})
	return h
}

// delivered returns how often each event of subject was answered.
func (h *hookLog) delivered(subject string) map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for id, n := range h.answered {
		if h.subjects[id] == subject {
			out[id] = n
		}
	}
	return out
}

// bigImage is an image with one uncompressed layer of n random bytes: a
// scan reads and hashes it long enough to be killed in the middle.
func bigImage(t *testing.T, n int) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.WriteHeader(&tar.Header{Name: "data.bin", Mode: 0o644, Size: int64(n), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func scanStatus(t *testing.T, s *moatproc.Server, repo, ref string) string {
	t.Helper()
	var res struct{ Status string }
	s.API(t, "GET", fmt.Sprintf("/api/v1/repositories/%s/manifests/%s/scan?limit=1", repo, ref), nil, &res)
	return res.Status
}

// TestKillDuringScanAndDelivery: a scan killed mid-run (SIGKILL) is
// redone after the restart and completes; a webhook delivery killed in
// flight arrives after the restart. Deliveries are at least once: the
// one in flight may arrive twice, never more.
func TestKillDuringScanAndDelivery(t *testing.T) {
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		hooks := newHookLog(t, "dev.moat.scan.completed")
		cfg := filepath.Join(t.TempDir(), "moat.yaml")
		// Secrets and misconfigurations only: no advisory database needed.
		writeConfig(t, cfg, fmt.Sprintf(`version: 1
scanning:
  rules:
    - repositories: ["*"]
      scanners: [secret, config]
webhooks:
  - name: log
    url: %s
    secret: crash-test-secret-0123
    events: ["dev.moat.scan.*"]
`, hooks.srv.URL))
		s := startServer(t, db, moatproc.WithArgs("--config", cfg))
		auth := remote.WithAuth(&authn.Basic{Username: s.Robot.Username, Password: s.Robot.Password})
		push := func(repo string, img v1.Image) {
			ref, err := name.ParseReference(s.Addr+"/"+repo+":v1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img, auth); err != nil {
				t.Fatalf("push %s: %v", repo, err)
			}
		}

		// A scan killed in the middle. The admin's login is checked once
		// first, so that polling the status is quick from the start.
		s.API(t, "GET", "/api/v1/scanning/configuration", nil, nil)
		push("crash/big", bigImage(t, 256<<20))
		waitUntil(t, "the scan to start", 60*time.Second, 10*time.Millisecond, func() bool {
			return scanStatus(t, s, "crash/big", "v1") == "IN_PROGRESS"
		})
		s.Kill()
		s.Restart(t)
		waitUntil(t, "the interrupted scan to complete after the restart", 120*time.Second, 200*time.Millisecond, func() bool {
			return scanStatus(t, s, "crash/big", "v1") == "COMPLETE"
		})

		// A delivery killed in flight: the receiver holds the first
		// scan.completed until moat is dead.
		select {
		case <-hooks.held:
		case <-time.After(60 * time.Second):
			t.Fatal("no scan.completed delivery reached the receiver")
		}
		s.Kill()
		close(hooks.release)
		s.Restart(t)
		subject := subjectOf(t, s, "crash/big")
		waitUntil(t, "the held delivery to arrive after the restart", 150*time.Second, 200*time.Millisecond, func() bool {
			return len(hooks.delivered(subject)) > 0
		})
		for id, n := range hooks.delivered(subject) {
			if n > 2 {
				t.Errorf("event %s answered %d times; at least once allows the one in flight twice, no more", id, n)
			}
		}
	})
}

// subjectOf is the events' subject for repo's image: "repo@digest".
func subjectOf(t *testing.T, s *moatproc.Server, repo string) string {
	t.Helper()
	var res struct{ Digest string }
	s.API(t, "GET", "/api/v1/repositories/"+repo+"/manifests/v1/scan?limit=1", nil, &res)
	return repo + "@" + res.Digest
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, within, every time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", within, what)
		}
		time.Sleep(every)
	}
}
