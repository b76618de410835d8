// Command registry-bench measures one OCI registry over the distribution
// API: blob push and pull throughput, small-manifest GET rate and latency
// under concurrent clients, and the server's peak resident memory. run.sh
// runs it against moat and CNCF Distribution on the same machine and prints
// the results side by side (-table).
//
// It is a hand-run benchmark, not a test: it talks only to the URL it is
// given (a loopback address), and every phase is bounded in count or time.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

const manifestType = "application/vnd.oci.image.manifest.v1+json"

// Result is what one run measures; run.sh stores it as JSON.
type Result struct {
	Name          string  `json:"name"`
	PushMBps      float64 `json:"push_mbps"`
	PullMBps      float64 `json:"pull_mbps"`
	ManifestRPS   float64 `json:"manifest_rps"`
	ManifestP50ms float64 `json:"manifest_p50_ms"`
	ManifestP99ms float64 `json:"manifest_p99_ms"`
	ManifestErrs  int64   `json:"manifest_errors"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
}

func main() {
	var (
		base        = flag.String("url", "", "registry base URL, e.g. http://127.0.0.1:5000")
		name        = flag.String("name", "", "label for the results")
		out         = flag.String("out", "", "write the result as JSON to this file (default stdout)")
		pid         = flag.Int("pid", 0, "server process ID whose peak RSS (VmHWM) to report")
		blobs       = flag.Int("blobs", 16, "number of blobs to push and pull")
		blobMiB     = flag.Int("blob-mib", 64, "size of each blob in MiB")
		blobWorkers = flag.Int("blob-workers", 4, "concurrent blob transfers")
		manifests   = flag.Int("manifests", 100, "number of small manifests to push for the GET phase")
		clients     = flag.Int("clients", 32, "concurrent clients in the manifest GET phase")
		duration    = flag.Duration("duration", 10*time.Second, "length of the manifest GET phase")
		table       = flag.Bool("table", false, "print the result files given as arguments side by side and exit")
		user        = flag.String("user", "", "log in through the registry's token endpoint as this user (with -pass)")
		pass        = flag.String("pass", "", "password of -user")
	)
	flag.Parse()
	if *table {
		if err := printTable(os.Stdout, flag.Args()); err != nil {
			fail(err)
		}
		return
	}
	if *base == "" || *name == "" {
		fail(errors.New("-url and -name are required"))
	}
	b := &bench{base: strings.TrimRight(*base, "/"), c: &http.Client{Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true,
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if *user != "" {
		tok, err := b.login(ctx, *user, *pass, "bench/blobs", "bench/small")
		if err != nil {
			fail(fmt.Errorf("login: %w", err))
		}
		b.authz = "Bearer " + tok
	}

	res := Result{Name: *name}
	var err error
	data := newBlobSet(*blobs, *blobMiB<<20)
	if res.PushMBps, err = b.pushBlobs(ctx, data, *blobWorkers); err != nil {
		fail(fmt.Errorf("push: %w", err))
	}
	if res.PullMBps, err = b.pullBlobs(ctx, data, *blobWorkers); err != nil {
		fail(fmt.Errorf("pull: %w", err))
	}
	tags, err := b.pushSmallImages(ctx, *manifests)
	if err != nil {
		fail(fmt.Errorf("small images: %w", err))
	}
	lat, errs := b.getManifests(ctx, tags, *clients, *duration)
	res.ManifestErrs = errs
	if len(lat) > 0 {
		slices.Sort(lat)
		res.ManifestRPS = float64(len(lat)) / duration.Seconds()
		res.ManifestP50ms = ms(lat[len(lat)/2])
		res.ManifestP99ms = ms(lat[len(lat)*99/100])
	}
	if *pid > 0 {
		if res.PeakRSSMiB, err = peakRSS(*pid); err != nil {
			fail(err)
		}
	}
	enc, _ := json.MarshalIndent(res, "", "  ")
	if *out == "" {
		fmt.Println(string(enc))
		return
	}
	if err := os.WriteFile(*out, append(enc, '\n'), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "registry-bench:", err)
	os.Exit(1)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type bench struct {
	base string
	c    *http.Client
	// authz is the Authorization header of every request, when logged in.
	authz string
}

// blobSet is n distinct blobs of size bytes sharing one random buffer: each
// blob is an 8-byte index followed by the buffer, so 1 GiB of distinct
// content costs 64 MiB of memory.
type blobSet struct {
	shared  []byte
	digests []string
}

func newBlobSet(n, size int) *blobSet {
	r := rand.New(rand.NewChaCha8([32]byte{'m', 'o', 'a', 't'}))
	s := &blobSet{shared: make([]byte, size-8)}
	for i := 0; i < len(s.shared); i += 8 {
		binary.LittleEndian.PutUint64(s.shared[i:], r.Uint64())
	}
	base := sha256.New()
	for i := range n {
		h := base
		h.Reset()
		h.Write(s.header(i))
		h.Write(s.shared)
		s.digests = append(s.digests, "sha256:"+hex.EncodeToString(h.Sum(nil)))
	}
	return s
}

func (s *blobSet) header(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
func (s *blobSet) size() int64         { return int64(len(s.shared) + 8) }
func (s *blobSet) reader(i int) io.Reader {
	return io.MultiReader(bytes.NewReader(s.header(i)), bytes.NewReader(s.shared))
}

// parallel runs fn for 0..n-1 on workers goroutines, stopping at the first
// error.
func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func (b *bench) do(ctx context.Context, method, u string, body io.Reader, size int64, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if b.authz != "" {
		req.Header.Set("Authorization", b.authz)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// login follows the registry token flow once: /v2/ names the token
// endpoint in its Bearer challenge, which issues one token for pushing and
// pulling every repository the benchmark uses (it lasts minutes, longer
// than a run).
func (b *bench) login(ctx context.Context, user, pass string, repos ...string) (string, error) {
	resp, err := b.do(ctx, "GET", b.base+"/v2/", nil, 0)
	if err != nil {
		return "", err
	}
	drain(resp)
	params := map[string]string{}
	scheme, rest, _ := strings.Cut(resp.Header.Get("WWW-Authenticate"), " ")
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		params[k] = strings.Trim(v, `"`)
	}
	if resp.StatusCode != http.StatusUnauthorized || !strings.EqualFold(scheme, "Bearer") || params["realm"] == "" {
		return "", fmt.Errorf("/v2/ answered %s without a Bearer challenge", resp.Status)
	}
	q := url.Values{"service": {params["service"]}}
	for _, r := range repos {
		q.Add("scope", "repository:"+r+":pull,push")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", params["realm"]+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(user, pass)
	tr, err := b.c.Do(req)
	if err != nil {
		return "", err
	}
	defer drain(tr)
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(tr.Body).Decode(&body); err != nil || tr.StatusCode != http.StatusOK || body.Token == "" {
		return "", fmt.Errorf("token endpoint: %s %v", tr.Status, err)
	}
	return body.Token, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func (b *bench) resolve(loc string) (string, error) {
	bu, _ := url.Parse(b.base + "/")
	u, err := bu.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// upload stores one blob the way container engines do: POST to open a
// session, one streamed PATCH with the content, PUT with the digest.
func (b *bench) upload(ctx context.Context, repo string, body io.Reader, size int64, dgst string) error {
	resp, err := b.do(ctx, "POST", b.base+"/v2/"+repo+"/blobs/uploads/", nil, 0)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST upload: %s", resp.Status)
	}
	loc, err := b.resolve(resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	resp, err = b.do(ctx, "PATCH", loc, body, size, "Content-Type", "application/octet-stream")
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("PATCH upload: %s", resp.Status)
	}
	if loc, err = b.resolve(resp.Header.Get("Location")); err != nil {
		return err
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, err = b.do(ctx, "PUT", loc+sep+"digest="+url.QueryEscape(dgst), nil, 0)
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT upload: %s", resp.Status)
	}
	return nil
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / (1 << 20) / d.Seconds() }

func (b *bench) pushBlobs(ctx context.Context, s *blobSet, workers int) (float64, error) {
	start := time.Now()
	err := parallel(len(s.digests), workers, func(i int) error {
		return b.upload(ctx, "bench/blobs", s.reader(i), s.size(), s.digests[i])
	})
	return mbps(s.size()*int64(len(s.digests)), time.Since(start)), err
}

func (b *bench) pullBlobs(ctx context.Context, s *blobSet, workers int) (float64, error) {
	start := time.Now()
	err := parallel(len(s.digests), workers, func(i int) error {
		resp, err := b.do(ctx, "GET", b.base+"/v2/bench/blobs/blobs/"+s.digests[i], nil, 0)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET blob: %s", resp.Status)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil && n != s.size() {
			err = fmt.Errorf("GET blob: %d bytes, want %d", n, s.size())
		}
		return err
	})
	return mbps(s.size()*int64(len(s.digests)), time.Since(start)), err
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// pushSmallImages pushes n single-layer images (one shared config, a tiny
// distinct layer each) to bench/small with tags t0..t(n-1).
func (b *bench) pushSmallImages(ctx context.Context, n int) ([]string, error) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	if err := b.upload(ctx, "bench/small", bytes.NewReader(cfg), int64(len(cfg)), sha(cfg)); err != nil {
		return nil, err
	}
	tags := make([]string, n)
	err := parallel(n, 8, func(i int) error {
		layer := []byte("layer " + strconv.Itoa(i))
		if err := b.upload(ctx, "bench/small", bytes.NewReader(layer), int64(len(layer)), sha(layer)); err != nil {
			return err
		}
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}],`+
			`"annotations":{"org.opencontainers.image.title":"bench %d"}}`,
			manifestType, sha(cfg), len(cfg), sha(layer), len(layer), i)
		tags[i] = "t" + strconv.Itoa(i)
		resp, err := b.do(ctx, "PUT", b.base+"/v2/bench/small/manifests/"+tags[i], strings.NewReader(m), int64(len(m)),
			"Content-Type", manifestType)
		if err != nil {
			return err
		}
		drain(resp)
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("PUT manifest: %s", resp.Status)
		}
		return nil
	})
	return tags, err
}

// getManifests runs clients goroutines fetching manifests by tag for d,
// after a one-second warm-up, and returns every latency measured.
func (b *bench) getManifests(ctx context.Context, tags []string, clients int, d time.Duration) ([]time.Duration, int64) {
	var errs atomic.Int64
	per := make([][]time.Duration, clients)
	warmEnd := time.Now().Add(time.Second)
	end := warmEnd.Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 1))
			for {
				now := time.Now()
				if now.After(end) || ctx.Err() != nil {
					return
				}
				tag := tags[r.IntN(len(tags))]
				resp, err := b.do(ctx, "GET", b.base+"/v2/bench/small/manifests/"+tag, nil, 0, "Accept", manifestType)
				if err != nil {
					errs.Add(1)
					continue
				}
				drain(resp)
				took := time.Since(now)
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
					continue
				}
				if now.After(warmEnd) && now.Add(took).Before(end) {
					per[c] = append(per[c], took)
				}
			}
		}()
	}
	wg.Wait()
	var all []time.Duration
	for _, p := range per {
		all = append(all, p...)
	}
	return all, errs.Load()
}

// peakRSS reads the process's high-water resident set size.
func peakRSS(pid int) (float64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("VmHWM not found in /proc status")
}

func printTable(w io.Writer, files []string) error {
	var rs []Result
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		rs = append(rs, r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(label string, f func(Result) string) {
		fmt.Fprint(tw, label+"\t")
		for _, r := range rs {
			fmt.Fprint(tw, f(r)+"\t")
		}
		fmt.Fprintln(tw)
	}
	row("", func(r Result) string { return r.Name })
	row("blob push MB/s", func(r Result) string { return fmt.Sprintf("%.0f", r.PushMBps) })
	row("blob pull MB/s", func(r Result) string { return fmt.Sprintf("%.0f", r.PullMBps) })
	row("manifest GET req/s", func(r Result) string { return fmt.Sprintf("%.0f", r.ManifestRPS) })
	row("manifest GET p50 ms", func(r Result) string { return fmt.Sprintf("%.2f", r.ManifestP50ms) })
	row("manifest GET p99 ms", func(r Result) string { return fmt.Sprintf("%.2f", r.ManifestP99ms) })
	row("manifest GET errors", func(r Result) string { return strconv.FormatInt(r.ManifestErrs, 10) })
	row("peak RSS MiB", func(r Result) string { return fmt.Sprintf("%.0f", r.PeakRSSMiB) })
	return tw.Flush()
}
