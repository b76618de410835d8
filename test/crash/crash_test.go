package crash

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

const (
	pushers       = 20
	minAcked      = 15 // pushes acknowledged before the kill
	ociManifest   = "application/vnd.oci.image.manifest.v1+json"
	ociIndex      = "application/vnd.oci.image.index.v1+json"
	dockerManifst = "application/vnd.docker.distribution.manifest.v2+json"
	dockerList    = "application/vnd.docker.distribution.manifest.list.v2+json"
	ociLayer      = "application/vnd.oci.image.layer.v1.tar"
	ociConfig     = "application/vnd.oci.image.config.v1+json"
)

func TestCrash(t *testing.T) { moatproc.OnEachDatabase(t, runCrash) }

// blobRef is a blob some push tried to store in a repository.
type blobRef struct {
	repo string
	d    digest.Digest
	size int64
}

// ack is a push whose manifest PUT the server acknowledged.
type ack struct {
	repo, tag string
	manifest  digest.Digest
}

// ledger records what the pushers attempted and what the server confirmed.
type ledger struct {
	mu       sync.Mutex
	attempts []blobRef
	acks     []ack
	blobsOK  atomic.Int64 // blob uploads the server confirmed
}

func (l *ledger) attempt(b ...blobRef) {
	l.mu.Lock()
	l.attempts = append(l.attempts, b...)
	l.mu.Unlock()
}
func (l *ledger) ack(a ack)  { l.mu.Lock(); l.acks = append(l.acks, a); l.mu.Unlock() }
func (l *ledger) acked() int { l.mu.Lock(); defer l.mu.Unlock(); return len(l.acks) }

func runCrash(t *testing.T, db moatproc.Option) {
	ctx := withTimeout(t, 90*time.Second)
	began := time.Now()
	srv := startServer(t, db)
	client := newClient(srv, &http.Transport{MaxIdleConnsPerHost: 64})

	// Two chunked sessions that the kill interrupts: one between chunks,
	// one with a chunk still streaming.
	between := newResumable(t, client, srv, "crash/resume-between", 3<<20)
	between.patch(t, ctx, 0, 1<<20)
	midChunk := newResumable(t, client, srv, "crash/resume-mid", 3<<20)
	midChunk.patch(t, ctx, 0, 1<<20)
	endStream := midChunk.streamPatch(ctx, 1<<20, 512<<10)

	led := &ledger{}
	pushCtx, stopPushing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := fmt.Sprintf("crash/p%02d", i)
			for n := 0; pushCtx.Err() == nil; n++ {
				tag := fmt.Sprintf("t%d", n)
				if i%2 == 0 {
					pushWithGGCR(pushCtx, led, srv, repo, tag)
				} else {
					pushChunked(pushCtx, client, led, srv, repo, tag)
				}
			}
		}()
	}

	deadline := time.Now().Add(2 * time.Minute)
	for led.acked() < minAcked {
		if time.Now().After(deadline) {
			stopPushing()
			wg.Wait()
			t.Fatalf("only %d pushes acknowledged in 2 minutes:\n%s", led.acked(), srv.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Kill while the pushers are mid-flight.
	srv.Kill()
	killedAt := led.acked()
	t.Logf("killed after %s", time.Since(began))
	stopPushing()
	wg.Wait()
	t.Logf("pushers stopped after %s", time.Since(began))
	if err := endStream(); err == nil {
		t.Fatal("the streaming chunk completed although the server was killed during it")
	}
	t.Logf("killed with %d pushes acknowledged, %d blob uploads confirmed, %d blob uploads attempted",
		killedAt, led.blobsOK.Load(), len(led.attempts))

	srv.Restart(t)
	t.Logf("restarted after %s", time.Since(began))

	w := &walker{t: t, ctx: ctx, c: client, srv: srv, verified: map[string]bool{}}
	w.walkCatalog()
	if w.blobs == 0 || w.manifests < killedAt {
		t.Fatalf("walk verified %d manifests and %d blobs; want at least %d manifests", w.manifests, w.blobs, killedAt)
	}
	t.Logf("after restart: %d repositories, %d manifests, %d blobs verified", w.repos, w.manifests, w.blobs)

	// Every push acknowledged before the kill survived it.
	for _, a := range led.acks {
		got := w.resolve(a.repo, a.tag)
		if got != a.manifest {
			t.Errorf("acknowledged push %s:%s = %s after restart, want %s", a.repo, a.tag, got, a.manifest)
		}
	}

	// No attempted blob is visible unless it is whole.
	interrupted := 0
	for _, b := range led.attempts {
		switch w.headBlob(b.repo, b.d) {
		case http.StatusNotFound:
			interrupted++
		case http.StatusOK:
			w.verifyBlob(b.repo, b.d, b.size)
		default:
			t.Errorf("HEAD %s@%s: unexpected status", b.repo, b.d)
		}
	}
	t.Logf("%d attempted blobs absent after the kill (interrupted before commit)", interrupted)
	if interrupted == 0 {
		t.Error("the kill interrupted no blob upload, so partial visibility was not tested")
	}

	// The audit log, appended to by pushes up to the kill, still verifies.
	verifyAuditLog(t, srv)

	t.Run("resume between chunks", func(t *testing.T) {
		between.resume(t, ctx, 1<<20)
	})
	t.Run("resume mid-chunk", func(t *testing.T) {
		// The kill cut a chunk short: the registry may keep the part that
		// arrived or drop it, but must report an offset it can continue from.
		midChunk.resume(t, ctx, -1)
	})
	t.Run("push after restart", func(t *testing.T) {
		if err := pushWithGGCR(ctx, &ledger{}, srv, "crash/after", "v1"); err != nil {
			t.Fatalf("push after restart: %v\n%s", err, srv.Log())
		}
	})
}

// verifyAuditLog runs `moat audit verify` on the server's database.
func verifyAuditLog(t *testing.T, srv *moatproc.Server) {
	t.Helper()
	out, err := exec.Command(moatproc.Binary(t), append([]string{"audit", "verify"}, srv.StoreArgs()...)...).CombinedOutput()
	if err != nil {
		t.Errorf("moat audit verify after the kill: %v\n%s", err, out)
		return
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// pushWithGGCR pushes a random multi-layer image with go-containerregistry.
func pushWithGGCR(ctx context.Context, led *ledger, srv *moatproc.Server, repo, tag string) error {
	img, err := random.Image(int64(64<<10+mrand.IntN(448<<10)), int64(2+mrand.IntN(3)))
	if err != nil {
		return err
	}
	ref, err := name.ParseReference(srv.Addr+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var refs []blobRef
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		refs = append(refs, blobRef{repo, digest.Digest(d.String()), size})
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	refs = append(refs, blobRef{repo, digest.Digest(cfgName.String()), int64(len(cfg))})
	led.attempt(refs...)
	if err := remote.Write(ref, img, remote.WithContext(ctx),
		remote.WithAuth(&authn.Basic{Username: srv.Robot.Username, Password: srv.Robot.Password})); err != nil {
		return err
	}
	md, err := img.Digest()
	if err != nil {
		return err
	}
	led.blobsOK.Add(int64(len(refs)))
	led.ack(ack{repo, tag, digest.Digest(md.String())})
	return nil
}

type descriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
}

// pushChunked uploads 2-4 random layers in chunks of 64-256 KiB, a config
// monolithically, then the manifest, over plain HTTP.
func pushChunked(ctx context.Context, c *http.Client, led *ledger, srv *moatproc.Server, repo, tag string) error {
	m := manifest{SchemaVersion: 2, MediaType: ociManifest}
	for range 2 + mrand.IntN(3) {
		data := randomBytes(128<<10 + mrand.IntN(896<<10))
		d := digest.FromBytes(data)
		led.attempt(blobRef{repo, d, int64(len(data))})
		if err := uploadChunks(ctx, c, srv, repo, data, 64<<10+mrand.IntN(192<<10)); err != nil {
			return err
		}
		led.blobsOK.Add(1)
		m.Layers = append(m.Layers, descriptor{ociLayer, d, int64(len(data))})
	}
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"created":%q}`,
		time.Now().UTC().Format(time.RFC3339Nano)))
	cd := digest.FromBytes(cfg)
	led.attempt(blobRef{repo, cd, int64(len(cfg))})
	resp, err := do(ctx, c, "POST", srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+cd.String(), bytes.NewReader(cfg),
		"Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("monolithic config upload: %s", resp.Status)
	}
	led.blobsOK.Add(1)
	m.Config = &descriptor{ociConfig, cd, int64(len(cfg))}
	body, _ := json.Marshal(m)
	resp, err = do(ctx, c, "PUT", srv.URL+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(body), "Content-Type", ociManifest)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("manifest put: %s", resp.Status)
	}
	led.ack(ack{repo, tag, digest.FromBytes(body)})
	return nil
}

// do sends a request and drains and closes the response body.
func do(ctx context.Context, c *http.Client, method, u string, body io.Reader, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, nil
}

// location resolves an upload Location header against the server.
func location(srv *moatproc.Server, resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", errors.New("no Location header")
	}
	base, _ := url.Parse(srv.URL + "/")
	u, err := base.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func withDigest(loc string, d digest.Digest) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + url.QueryEscape(d.String())
}

func uploadChunks(ctx context.Context, c *http.Client, srv *moatproc.Server, repo string, data []byte, chunk int) error {
	resp, err := do(ctx, c, "POST", srv.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("start upload: %s", resp.Status)
	}
	loc, err := location(srv, resp)
	if err != nil {
		return err
	}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		resp, err := do(ctx, c, "PATCH", loc, bytes.NewReader(data[off:end]),
			"Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("%d-%d", off, end-1))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("patch %d-%d: %s", off, end-1, resp.Status)
		}
		if loc, err = location(srv, resp); err != nil {
			return err
		}
	}
	resp, err = do(ctx, c, "PUT", withDigest(loc, digest.FromBytes(data)), nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("finish upload: %s", resp.Status)
	}
	return nil
}

// resumable is a chunked upload session that outlives a server.
type resumable struct {
	c    *http.Client
	srv  *moatproc.Server
	repo string
	data []byte
	loc  string
}

func newResumable(t *testing.T, c *http.Client, srv *moatproc.Server, repo string, size int) *resumable {
	t.Helper()
	r := &resumable{c: c, srv: srv, repo: repo, data: randomBytes(size)}
	resp, err := do(context.Background(), c, "POST", srv.URL+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload in %s: %v %v", repo, resp, err)
	}
	if r.loc, err = location(srv, resp); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *resumable) patch(t *testing.T, ctx context.Context, from, to int) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "PATCH", r.loc, bytes.NewReader(r.data[from:to]))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", from, to-1))
	resp, err := r.c.Do(req)
	if err != nil {
		t.Fatalf("%s: patch %d-%d: %v", r.repo, from, to-1, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != fmt.Sprintf("0-%d", to-1) {
		t.Fatalf("%s: patch %d-%d: %s, Range %q: %s", r.repo, from, to-1, resp.Status, resp.Header.Get("Range"), body)
	}
	if r.loc, err = location(r.srv, resp); err != nil {
		t.Fatal(err)
	}
}

// streamPatch starts a PATCH of the rest of the data from offset from,
// sends only sent bytes of it and then stalls, so the server can be killed
// mid-chunk. Calling the returned function ends the stalled body and
// returns the PATCH's outcome.
func (r *resumable) streamPatch(ctx context.Context, from, sent int) func() error {
	pr, pw := io.Pipe()
	out := make(chan error, 1)
	arrived := make(chan struct{})
	go func() {
		if _, err := pw.Write(r.data[from : from+sent]); err == nil {
			close(arrived)
		}
	}()
	go func() {
		req, err := http.NewRequestWithContext(ctx, "PATCH", r.loc, pr)
		if err != nil {
			out <- err
			return
		}
		req.ContentLength = int64(len(r.data) - from)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", from, len(r.data)-1))
		resp, err := r.c.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("unexpected response %s", resp.Status)
			if resp.StatusCode == http.StatusAccepted {
				err = nil
			}
		}
		out <- err
	}()
	// The pipe write returns once the transport has taken the bytes.
	<-arrived
	time.Sleep(200 * time.Millisecond) // let the server write them to the session
	return func() error {
		// The transport keeps reading the body after the connection
		// dies; end it so the request returns.
		pw.CloseWithError(errors.New("client gave up"))
		return <-out
	}
}

// resume asks the restarted server where the session stands, uploads the
// rest from there, finishes it and verifies the blob. want is the expected
// offset, or -1 to accept anything the server durably holds.
func (r *resumable) resume(t *testing.T, ctx context.Context, want int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.loc, nil)
	resp, err := r.c.Do(req)
	if err != nil {
		t.Fatalf("%s: upload status: %v", r.repo, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("%s: upload status after restart: %s", r.repo, resp.Status)
	}
	rng := resp.Header.Get("Range")
	var start, end int
	if _, err := fmt.Sscanf(rng, "%d-%d", &start, &end); err != nil || start != 0 {
		t.Fatalf("%s: upload status Range %q", r.repo, rng)
	}
	offset := end + 1
	if want >= 0 && offset != want {
		t.Fatalf("%s: resumed at %d, want %d", r.repo, offset, want)
	}
	if offset < 1<<20 || offset > len(r.data) {
		t.Fatalf("%s: resumed at %d, outside what was sent", r.repo, offset)
	}
	if loc, err := location(r.srv, resp); err == nil {
		r.loc = loc
	}
	if offset < len(r.data) {
		r.patch(t, ctx, offset, len(r.data))
	}
	d := digest.FromBytes(r.data)
	resp, err = do(ctx, r.c, "PUT", withDigest(r.loc, d), nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("%s: finish resumed upload: %v %v", r.repo, resp, err)
	}
	w := &walker{t: t, ctx: ctx, c: r.c, srv: r.srv, verified: map[string]bool{}}
	w.verifyBlob(r.repo, d, int64(len(r.data)))
}

// walker reads everything the registry serves and verifies it.
type walker struct {
	t                       *testing.T
	ctx                     context.Context
	c                       *http.Client
	srv                     *moatproc.Server
	verified                map[string]bool
	repos, manifests, blobs int
}

func (w *walker) get(path string, hdr ...string) (*http.Response, []byte) {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.ctx, "GET", w.srv.URL+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := w.c.Do(req)
	if err != nil {
		w.srv.KillWithDump()
		w.t.Fatalf("GET %s: %v\nserver output:\n%s", path, err, w.srv.Log())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		w.t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

// nextLink follows a Link: <...>; rel="next" header.
func nextLink(resp *http.Response) string {
	l := resp.Header.Get("Link")
	if l == "" {
		return ""
	}
	i, j := strings.IndexByte(l, '<'), strings.IndexByte(l, '>')
	if i < 0 || j < i {
		return ""
	}
	return l[i+1 : j]
}

func (w *walker) walkCatalog() {
	path := "/v2/_catalog?n=7" // small pages exercise pagination
	for path != "" {
		resp, body := w.get(path)
		if resp.StatusCode != http.StatusOK {
			w.t.Fatalf("catalog: %s %s", resp.Status, body)
		}
		var cat struct{ Repositories []string }
		if err := json.Unmarshal(body, &cat); err != nil {
			w.t.Fatalf("catalog body %q: %v", body, err)
		}
		for _, repo := range cat.Repositories {
			w.walkRepo(repo)
		}
		path = nextLink(resp)
	}
}

func (w *walker) walkRepo(repo string) {
	w.repos++
	resp, body := w.get("/v2/" + repo + "/tags/list")
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("tags of %s: %s %s", repo, resp.Status, body)
	}
	var tags struct{ Tags []string }
	if err := json.Unmarshal(body, &tags); err != nil {
		w.t.Fatalf("tags body %q: %v", body, err)
	}
	for _, tag := range tags.Tags {
		w.verifyManifest(repo, tag)
	}
}

var acceptAll = strings.Join([]string{ociManifest, ociIndex, dockerManifst, dockerList}, ", ")

func (w *walker) resolve(repo, tag string) digest.Digest {
	w.t.Helper()
	resp, body := w.get("/v2/"+repo+"/manifests/"+tag, "Accept", acceptAll)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return digest.FromBytes(body)
}

// verifyManifest checks a manifest's bytes against its digest, then
// everything it references.
func (w *walker) verifyManifest(repo, ref string) {
	w.t.Helper()
	resp, body := w.get("/v2/"+repo+"/manifests/"+ref, "Accept", acceptAll)
	if resp.StatusCode != http.StatusOK {
		w.t.Errorf("manifest %s:%s listed but not served: %s", repo, ref, resp.Status)
		return
	}
	w.manifests++
	d := digest.FromBytes(body)
	if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
		w.t.Errorf("manifest %s:%s: Docker-Content-Digest %s, body hashes to %s", repo, ref, got, d)
	}
	if dg, err := digest.Parse(ref); err == nil && dg != d {
		w.t.Errorf("manifest %s@%s: body hashes to %s", repo, ref, d)
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		w.t.Errorf("manifest %s:%s: %v", repo, ref, err)
		return
	}
	if m.Config != nil {
		w.verifyBlob(repo, m.Config.Digest, m.Config.Size)
	}
	for _, l := range m.Layers {
		w.verifyBlob(repo, l.Digest, l.Size)
	}
	for _, c := range m.Manifests {
		w.verifyManifest(repo, c.Digest.String())
	}
}

func (w *walker) headBlob(repo string, d digest.Digest) int {
	req, _ := http.NewRequestWithContext(w.ctx, "HEAD", w.srv.URL+"/v2/"+repo+"/blobs/"+d.String(), nil)
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatalf("HEAD %s@%s: %v", repo, d, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// verifyBlob streams a blob and checks its length and digest.
func (w *walker) verifyBlob(repo string, d digest.Digest, size int64) {
	w.t.Helper()
	key := repo + "@" + d.String()
	if w.verified[key] {
		return
	}
	w.verified[key] = true
	req, _ := http.NewRequestWithContext(w.ctx, "GET", w.srv.URL+"/v2/"+repo+"/blobs/"+d.String(), nil)
	resp, err := w.c.Do(req)
	if err != nil {
		w.t.Fatalf("GET blob %s: %v", key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.t.Errorf("blob %s referenced but not served: %s", key, resp.Status)
		return
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.FormatInt(size, 10) {
		w.t.Errorf("blob %s: Content-Length %s, want %d", key, cl, size)
	}
	v := d.Verifier()
	n, err := io.Copy(v, resp.Body)
	if err != nil {
		w.t.Errorf("blob %s: read after %d bytes: %v", key, n, err)
		return
	}
	if n != size || !v.Verified() {
		w.t.Errorf("blob %s: served %d bytes (want %d) that do not verify against the digest", key, n, size)
		return
	}
	w.blobs++
}
