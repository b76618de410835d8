// Command signgate measures what the signature gate adds to a warm
// manifest GET: it starts moat (built with `go build ./cmd/moat`) with a
// signing rule and a signature gate on "signed/*", pushes one small image
// to signed/app (which the registry signs) and the same image to open/app
// (no gate), then times sequential manifest GETs of each, alternating in
// batches, and prints the latency percentiles side by side.
//
//	go build -o /tmp/moat ./cmd/moat
//	go run ./bench/signgate -moat /tmp/moat -n 20000
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/moat-dev/moat/bench/internal/moatserve"
	"github.com/opencontainers/go-digest"
)

func main() {
	var (
		moat  = flag.String("moat", "", "the moat binary")
		n     = flag.Int("n", 20000, "GETs per repository")
		batch = flag.Int("batch", 500, "GETs per repository before switching")
	)
	flag.Parse()
	if *moat == "" {
		log.Fatal("-moat is required")
	}
	work, err := os.MkdirTemp("", "moat-bench-signgate-")
	check(err)
	defer os.RemoveAll(work)
	base, stop, err := moatserve.Start(*moat, work, `version: 1
signing:
  rules:
    - repositories: ["signed/*"]
  requireSignature:
    - repositories: ["signed/*"]
      trustPolicy: moat
`, []string{"MOAT_LOG_LEVEL=warn"}, os.Stderr)
	check(err)
	defer stop()

	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	manifest := pushImage(c, base, "signed/app")
	pushImage(c, base, "open/app")
	waitSigned(c, base, "signed/app")
	get := func(repo string) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, base+"/v2/"+repo+"/manifests/v1", nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
		start := time.Now()
		resp, err := c.Do(req)
		check(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			log.Fatalf("GET %s: %d", repo, resp.StatusCode)
		}
		return time.Since(start)
	}
	for range 200 { // warm both paths and the verdict cache
		get("signed/app")
		get("open/app")
	}
	var gated, open []time.Duration
	for len(gated) < *n {
		for range *batch {
			gated = append(gated, get("signed/app"))
		}
		for range *batch {
			open = append(open, get("open/app"))
		}
	}
	fmt.Printf("\nsignature gate: %d warm manifest GETs per repository (%d-byte manifest), sequential, keep-alive\n\n", len(gated), len(manifest))
	fmt.Printf("%-12s %14s %14s %12s\n", "", "gated (moat)", "no gate", "added")
	for _, p := range []float64{50, 90, 99, 99.9} {
		g, o := pct(gated, p), pct(open, p)
		fmt.Printf("p%-11v %12.3fms %12.3fms %10.3fms\n", p, ms(g), ms(o), ms(g-o))
	}
}

// pushImage pushes a small image (a config and one layer) to repo:v1 and
// returns its manifest.
func pushImage(c *http.Client, base, repo string) []byte {
	layer := []byte("a layer of the signature gate benchmark")
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + digest.FromBytes(layer).String() + `"]}}`)
	for _, b := range [][]byte{layer, cfg} {
		resp, err := c.Post(base+"/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), "application/octet-stream", bytes.NewReader(b))
		check(err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			log.Fatalf("push blob to %s: %d", repo, resp.StatusCode)
		}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest.FromBytes(cfg), "size": len(cfg)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest.FromBytes(layer), "size": len(layer)}},
	})
	req, _ := http.NewRequest(http.MethodPut, base+"/v2/"+repo+"/manifests/v1", bytes.NewReader(m))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := c.Do(req)
	check(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		log.Fatalf("push manifest to %s: %d", repo, resp.StatusCode)
	}
	return m
}

func waitSigned(c *http.Client, base, repo string) {
	for range 300 {
		resp, err := c.Get(base + "/api/v1/repositories/" + repo + "/manifests/v1/signatures")
		check(err)
		var s struct{ Status string }
		json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		if s.Status == "COMPLETE" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatalf("%s was not signed within 30 s", repo)
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
