// Command scanpush measures what scan on push costs the client and how
// soon the scan is done: it starts moat (built with `go build ./cmd/moat`)
// with two scanning rules, "scan/*" continuous and "manual/*" manual,
// pushes the same image with skopeo to a fresh repository under each,
// alternating which goes first, and prints the client's push wall time
// side by side, with the time from the end of each scanned push until its
// scan is COMPLETE through the findings API. The next push waits for the
// scan, so a scan never competes with the push being timed.
//
// Two phases: whole images (every layer new to the registry, so each push
// uploads everything and each scan reads every layer), then builds on one
// base (the base layers mounted and cached; one small new layer).
//
//	go build -o /tmp/moat ./cmd/moat
//	go run ./bench/scanpush -moat /tmp/moat -image ../shared/data/images/app-oci.tar:app \
//	    -advisories ../shared/data/advisories -context ../shared/data
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moat-dev/moat/bench/internal/moatserve"
)

func main() {
	var (
		moat       = flag.String("moat", "", "the moat binary")
		image      = flag.String("image", "../shared/data/images/app-oci.tar:app", "an oci-archive path and tag to push")
		advisories = flag.String("advisories", "../shared/data/advisories", "advisory tree for the scanning database")
		contextDir = flag.String("context", "../shared/data", "a folder holding kev/, epss/ and eol/ (empty: none)")
		n          = flag.Int("n", 10, "iterations (each pushes twice)")
	)
	flag.Parse()
	if *moat == "" {
		log.Fatal("-moat is required")
	}
	work, err := os.MkdirTemp("", "moat-bench-scanpush-")
	check(err)
	if os.Getenv("KEEP") == "" {
		defer os.RemoveAll(work)
	}

	vulndb := filepath.Join(work, "vulndb")
	imports := []string{"db", "import", "--db", vulndb, *advisories}
	if *contextDir != "" {
		for _, d := range []string{"kev", "epss", "eol"} {
			imports = append(imports, filepath.Join(*contextDir, d))
		}
	}
	run(*moat, imports...)
	logf, err := os.Create(filepath.Join(work, "moat.log"))
	check(err)
	url, stop, err := moatserve.Start(*moat, work, `version: 1
scanning:
  rules:
    - repositories: ["manual/*"]
      frequency: manual
    - repositories: ["*"]
      frequency: continuous
`, []string{"MOAT_SCANNING_DB=" + vulndb}, logf)
	check(err)
	defer stop()
	addr := strings.TrimPrefix(url, "http://")

	archive, tag, _ := strings.Cut(*image, ":")
	dir := filepath.Join(work, "layout")
	run("skopeo", "copy", "-q", "oci-archive:"+archive+":"+tag, "oci:"+dir+":base")
	p, err := layout.FromPath(dir)
	check(err)
	base := baseImage(p)

	// Phase 1, whole images: every layer of every push is new to the
	// registry (recompressed with a header of its own: the same files
	// under new digests), so each push uploads everything and each scan
	// reads every layer. Phase 2, builds on one base: the base layers are
	// in the registry (skopeo mounts them) and cached by the scanner; each
	// build adds one small layer.
	m := &measure{base: "http://" + addr, dir: dir}
	for i := range *n {
		m.iteration(i, func(arm string) string {
			return addImage(p, wholeImage(base, fmt.Sprint(arm, i)), fmt.Sprintf("whole-%s-%d", arm, i))
		})
	}
	whole := m.take()
	// The base, pushed and scanned once, as the builds' base would be.
	addImage(p, base, "base")
	run("skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:"+dir+":base", "docker://"+addr+"/scan/base:v1")
	waitComplete(m.base, "scan/base")
	for i := range *n {
		img := build(base, i)
		m.iteration(*n+i, func(arm string) string { return addImage(p, img, fmt.Sprintf("build-%d", i)) })
	}
	builds := m.take()
	// One scan per scanned push: the manual arm's pushes scanned nothing.
	if got, want := scansCompleted("http://"+addr), 2**n+1; got != want {
		log.Fatalf("%d scans completed, want %d", got, want)
	}

	fmt.Printf("\nscan on push: %s pushed by skopeo, %d times per arm and phase, alternating which arm goes first\n", *image, *n)
	for _, ph := range []struct {
		name string
		r    result
	}{{"whole images (every layer new)", whole}, {"builds on one base (+1 small layer)", builds}} {
		r := ph.r
		fmt.Printf("\n%-40s %14s %14s %9s\n", ph.name, "scan on push", "manual", "overhead")
		fmt.Printf("%-40s %13.0fms %13.0fms %8.1f%%\n", "  client push wall time, median", ms(median(r.scanned)), ms(median(r.manual)),
			100*(ms(median(r.scanned))/ms(median(r.manual))-1))
		fmt.Printf("%-40s %13.0fms %13.0fms %8.1f%%\n", "  client push wall time, mean", ms(mean(r.scanned)), ms(mean(r.manual)),
			100*(ms(mean(r.scanned))/ms(mean(r.manual))-1))
		fmt.Printf("%-40s %13.0fms\n", "  scan COMPLETE after the push, median", ms(median(r.complete)))
		fmt.Printf("%-40s %13.0fms\n", "  scan COMPLETE after the push, slowest", ms(slices.Max(r.complete)))
	}
}

// measure pushes to both arms and keeps the times.
type measure struct {
	base, dir string
	cur       result
}

type result struct{ scanned, manual, complete []time.Duration }

// iteration pushes image(arm) to a fresh repository of each arm, the scan
// arm first on even iterations, and waits for the scan.
func (m *measure) iteration(i int, image func(arm string) string) {
	arms := []string{"scan", "manual"}
	if i%2 == 1 {
		slices.Reverse(arms)
	}
	for _, arm := range arms {
		ref := image(arm)
		repo := fmt.Sprintf("%s/app-%d", arm, i)
		start := time.Now()
		run("skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:"+m.dir+":"+ref, "docker://"+m.base[len("http://"):]+"/"+repo+":v1")
		took := time.Since(start)
		if arm == "manual" {
			m.cur.manual = append(m.cur.manual, took)
			continue
		}
		m.cur.scanned = append(m.cur.scanned, took)
		m.cur.complete = append(m.cur.complete, waitComplete(m.base, repo))
	}
}

func (m *measure) take() result {
	r := m.cur
	m.cur = result{}
	return r
}

func baseImage(p layout.Path) v1.Image {
	idx, err := p.ImageIndex()
	check(err)
	im, err := idx.IndexManifest()
	check(err)
	img, err := idx.Image(im.Manifests[0].Digest)
	check(err)
	return img
}

// addImage writes img into the layout under ref and returns ref.
func addImage(p layout.Path, img v1.Image, ref string) string {
	check(p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})))
	return ref
}

// wholeImage is base with every layer recompressed under a gzip header
// naming salt: the same files, new layer digests.
func wholeImage(base v1.Image, salt string) v1.Image {
	cfg, err := base.ConfigFile()
	check(err)
	cfg = cfg.DeepCopy()
	cfg.RootFS.DiffIDs, cfg.History = nil, nil
	img, err := mutate.ConfigFile(empty.Image, cfg)
	check(err)
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	layers, err := base.Layers()
	check(err)
	for _, l := range layers {
		rc, err := l.Uncompressed()
		check(err)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Comment = salt
		_, err = io.Copy(zw, rc)
		check(err)
		check(zw.Close())
		check(rc.Close())
		b := buf.Bytes()
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
			tarball.WithMediaType(types.OCILayer))
		check(err)
		img, err = mutate.AppendLayers(img, layer)
		check(err)
	}
	return img
}

// build is base plus a layer holding one file unique to build i.
func build(base v1.Image, i int) v1.Image {
	content := fileTar(fmt.Sprintf("etc/bench-build-%d", i), time.Now().String())
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil },
		tarball.WithMediaType(types.OCILayer))
	check(err)
	img, err := mutate.AppendLayers(base, layer)
	check(err)
	return img
}

// fileTar is a tar archive holding one file.
func fileTar(name, content string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	check(tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
	_, err := tw.Write([]byte(content))
	check(err)
	check(tw.Close())
	return buf.Bytes()
}

// waitComplete polls repo's scan until it is COMPLETE and returns how long
// that took.
func waitComplete(base, repo string) time.Duration {
	start := time.Now()
	for time.Since(start) < time.Minute {
		switch st := status(base, repo); st {
		case "COMPLETE":
			return time.Since(start)
		case "FAILED", "UNSUPPORTED":
			log.Fatalf("scan of %s: %s", repo, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	log.Fatalf("scan of %s not complete within a minute", repo)
	return 0
}

func status(base, repo string) string {
	resp, err := http.Get(base + "/api/v1/repositories/" + repo + "/manifests/v1/scan?limit=1")
	check(err)
	defer resp.Body.Close()
	var s struct{ Status string }
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprint(resp.StatusCode)
	}
	check(json.NewDecoder(resp.Body).Decode(&s))
	return s.Status
}

// scansCompleted reads moat_scans_total{status="COMPLETE"} from /metrics.
func scansCompleted(base string) int {
	resp, err := http.Get(base + "/metrics")
	check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	check(err)
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, `moat_scans_total{status="COMPLETE"} `); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			check(err)
			return n
		}
	}
	return 0
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
