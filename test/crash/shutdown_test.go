package crash

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/opencontainers/go-digest"
)

// TestGracefulShutdown sends SIGTERM while a chunk is still streaming: the
// server stops accepting connections, lets the chunk finish, and exits 0;
// after a restart the upload completes.
func TestGracefulShutdown(t *testing.T) {
	ctx := withTimeout(t, 2*time.Minute)
	srv := startServer(t, moatproc.WithEnv("MOAT_LOG_LEVEL=info"))
	client := newClient(srv, &http.Transport{})

	up := newResumable(t, client, srv, "shutdown/app", 2<<20)
	pr, pw := io.Pipe()
	result := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "PATCH", up.loc, pr)
		req.ContentLength = int64(len(up.data))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("0-%d", len(up.data)-1))
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("in-flight PATCH failed across SIGTERM: %v", err)
			result <- nil
			return
		}
		resp.Body.Close()
		result <- resp
	}()
	half := len(up.data) / 2
	if _, err := pw.Write(up.data[:half]); err != nil {
		t.Fatal(err)
	}
	// The written half may still sit in socket buffers before moat has
	// read the request; signal only once moat reports it transferring.
	waitUploadsInProgress(t, srv.Addr, 1)

	if err := srv.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes at once; the process stays up for the request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", srv.Addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections 10s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-srv.Exited():
		t.Fatalf("server exited with a request in flight:\n%s", srv.Log())
	default:
	}

	if _, err := pw.Write(up.data[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	resp := <-result
	if resp == nil {
		return
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("in-flight PATCH: %s", resp.Status)
	}
	select {
	case <-srv.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not exit after draining:\n%s", srv.Log())
	}
	if code := srv.ExitCode(); code != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", code, srv.Log())
	}
	if !strings.Contains(srv.Log(), "shutting down") {
		t.Errorf("no shutdown line in the log:\n%s", srv.Log())
	}

	// The chunk that finished during the drain is durable.
	srv.Restart(t)
	d := digest.FromBytes(up.data)
	resp, err := do(ctx, client, "PUT", withDigest(up.loc, d), nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish upload after restart: %v %v\n%s", resp, err, srv.Log())
	}
	w := &walker{t: t, ctx: ctx, c: client, srv: srv, verified: map[string]bool{}}
	w.verifyBlob("shutdown/app", d, int64(len(up.data)))
	if w.blobs != 1 {
		t.Fatal("blob not verified")
	}
}

// waitUploadsInProgress polls /metrics until moat_uploads_in_progress is n.
func waitUploadsInProgress(t *testing.T, addr string, n int) {
	t.Helper()
	want := fmt.Sprintf("\nmoat_uploads_in_progress %d\n", n)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("moat_uploads_in_progress never reached %d", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
