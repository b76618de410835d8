package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	godigest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// Paths of the real advisories and the fixture image the scanning tests
// use (see internal/scan/match/testdata and internal/scan/catalog/testdata).
const (
	matchData  = "../../internal/scan/match/testdata"
	fixtureSrc = "../../internal/scan/catalog/testdata/fixture-src"
	hookSecret = "e2e-webhook-secret-0123456789"
)

// scanResult is what GET .../scan answers.
type scanResult struct {
	Status        string
	Reason        string
	Digest        string
	VulnDBVersion string
	Summary       map[string]int
	Findings      []struct {
		ID               string
		Kind             string
		Severity         string
		ExploitAvailable bool
		FixedVersion     string
		FixAvailable     bool
		EPSS             *struct{ Score float64 }
		Package          *struct{ Name, Version, Type, PURL string }
	}
	Next string
}

func (r scanResult) finding(id string) (int, bool) {
	for i, f := range r.Findings {
		if f.ID == id {
			return i, true
		}
	}
	return -1, false
}

// scanOf reads every page of an image's scan, open or resolved findings.
func scanOf(t *testing.T, s *moatproc.Server, repo, ref string, resolved bool) scanResult {
	t.Helper()
	var all scanResult
	next := ""
	for {
		var page scanResult
		path := fmt.Sprintf("/api/v1/repositories/%s/manifests/%s/scan?limit=200&resolved=%v", repo, ref, resolved)
		if next != "" {
			path += "&next=" + next
		}
		s.API(t, "GET", path, nil, &page)
		findings := append(all.Findings, page.Findings...)
		all = page
		all.Findings = findings
		if page.Next == "" {
			return all
		}
		next = page.Next
	}
}

// waitFor polls until ok or the deadline, failing the test with what
// last came back.
func waitFor(t *testing.T, what string, within time.Duration, ok func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < within {
		done, state := ok()
		if done {
			return time.Since(start)
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s; last: %s", what, within, last)
	return 0
}

// receiver is a webhook endpoint that checks each delivery's signature.
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	got []cloudEvent
	bad int
	// hold makes the receiver answer 503 to events of this type while
	// set, as a receiver that is down does.
	hold string
}

type cloudEvent struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	Subject     string          `json:"subject"`
	Data        json.RawMessage `json:"data"`
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mac := hmac.New(sha256.New, []byte(hookSecret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		var ev cloudEvent
		err := json.Unmarshal(body, &ev)
		r.mu.Lock()
		defer r.mu.Unlock()
		if !hmac.Equal([]byte(req.Header.Get("X-Moat-Signature")), []byte(want)) || err != nil || ev.SpecVersion != "1.0" ||
			req.Header.Get("Content-Type") != "application/cloudevents+json" {
			r.bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.hold != "" && ev.Type == r.hold {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.got = append(r.got, ev)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// events returns the delivered events of typ whose data satisfies match
// (nil: all).
func (r *receiver) events(typ string, match func(data map[string]any) bool) []cloudEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cloudEvent
	for _, e := range r.got {
		var data map[string]any
		_ = json.Unmarshal(e.Data, &data)
		if e.Type == typ && (match == nil || match(data)) {
			out = append(out, e)
		}
	}
	return out
}

func findingIs(id string) func(map[string]any) bool {
	return func(d map[string]any) bool {
		f, _ := d["finding"].(map[string]any)
		return f != nil && f["id"] == id
	}
}

// blobBytesRead is moat_blob_read_bytes_total from /metrics.
func blobBytesRead(t *testing.T, s *moatproc.Server) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "moat_blob_read_bytes_total") {
			fields := strings.Fields(line)
			v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			total += v
		}
	}
	return total
}

// TestScanning is the registry checking every image: a push is scanned
// within seconds, the findings API and the image_scans view answer, a
// webhook hears of it, an advisory import re-matches the stored
// inventory without reading a layer, a withdrawn advisory resolves its
// finding, and a pull gate refuses a critical image to all but an
// exempt robot.
func TestScanning(t *testing.T) {
	skopeo := moatproc.RequireTool(t, "skopeo")
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		r := moatproc.NewRunner(t)
		bin := moatproc.Binary(t)
		vulndb := filepath.Join(t.TempDir(), "vulndb")
		// Everything but the npm advisories, which come later.
		r.Run(bin, "db", "import", "--db", vulndb, matchData+"/advisories/osv", matchData+"/advisories/debian",
			matchData+"/epss", matchData+"/eol", "testdata/kev")

		hooks := newReceiver(t)
		cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
		writeFile(t, cfgFile, fmt.Sprintf(`version: 1
scanning:
  rules:
    - repositories: ["gated/*"]
      frequency: continuous
      preventPull: {severity: critical}
    - repositories: ["*"]
      frequency: continuous
  compliance: {maxSeverity: high, kev: deny}
webhooks:
  - name: receiver
    url: %s
    secret: %s
    events: ["dev.moat.image.pushed", "dev.moat.scan.*", "dev.moat.finding.*"]
    repositories: ["team-a/*", "gated/*"]
`, hooks.srv.URL, hookSecret))
		s := moatproc.Start(t, db, moatproc.WithArgs("--config", cfgFile), moatproc.WithEnv("MOAT_SCANNING_DB="+vulndb))

		layout := fixtureLayout(t)
		push := func(repo string) {
			r.Run(skopeo, "copy", "--dest-tls-verify=false", "--dest-creds="+s.Robot.Pair(), "oci:"+layout+":fixture", "docker://"+s.Addr+"/"+repo+":v1")
		}

		// Scan on push.
		push("team-a/app")
		var res scanResult
		took := waitFor(t, "scan of team-a/app", 30*time.Second, func() (bool, string) {
			res = scanOf(t, s, "team-a/app", "v1", false)
			return res.Status == "COMPLETE", res.Status + " " + res.Reason
		})
		t.Logf("scan COMPLETE %s after the push, %d findings", took.Round(time.Millisecond), len(res.Findings))
		i, ok := res.finding("CVE-2023-43804")
		if !ok {
			t.Fatalf("urllib3 CVE-2023-43804 not found in %d findings", len(res.Findings))
		}
		if f := res.Findings[i]; !f.ExploitAvailable || f.FixedVersion != "1.26.17" || !f.FixAvailable || f.EPSS == nil || f.EPSS.Score <= 0 ||
			f.Severity != "HIGH" || f.Package == nil || f.Package.Name != "urllib3" {
			t.Errorf("CVE-2023-43804 = %+v", f)
		}
		if _, ok := res.finding("EOL-debian-12"); !ok {
			t.Error("no end-of-life finding for Debian 12")
		}
		if _, ok := res.finding("CVE-2021-44906"); ok {
			t.Fatal("an npm finding before the npm advisories were imported")
		}
		if res.Summary["KEV"] != 1 || res.VulnDBVersion == "" {
			t.Errorf("summary %v, vulndb %q", res.Summary, res.VulnDBVersion)
		}
		digest := res.Digest

		// The view, through each engine's own command-line client.
		query := fmt.Sprintf("SELECT is_compliant FROM image_scans WHERE image_digest = '%s'", digest)
		if s.Database == "" {
			sqlite := moatproc.RequireTool(t, "sqlite3")
			if got := strings.TrimSpace(r.Run(sqlite, filepath.Join(s.DataDir, "moat.db"), query)); got != "0" {
				t.Errorf("sqlite3 %q = %q, want 0 (a KEV finding)", query, got)
			}
		} else {
			psql := moatproc.RequireTool(t, "psql")
			if got := strings.TrimSpace(r.Run(psql, s.Database, "-tAc", query)); got != "f" {
				t.Errorf("psql %q = %q, want f (a KEV finding)", query, got)
			}
		}

		// The webhook heard of the push and the scan.
		waitFor(t, "webhook deliveries", 30*time.Second, func() (bool, string) {
			pushed := hooks.events("dev.moat.image.pushed", func(d map[string]any) bool { return d["digest"] == digest })
			done := hooks.events("dev.moat.scan.completed", func(d map[string]any) bool { return d["digest"] == digest })
			return len(pushed) > 0 && len(done) > 0, fmt.Sprintf("%d pushed, %d completed", len(pushed), len(done))
		})
		if ev := hooks.events("dev.moat.scan.completed", nil)[0]; !strings.Contains(string(ev.Data), `"findingSeverityCounts"`) {
			t.Errorf("scan.completed carries no severity counts: %s", ev.Data)
		}

		// An image whose layer does not match its config's diff_id fails
		// at once, saying why, rather than being retried for minutes.
		crane := moatproc.RequireTool(t, "crane")
		bad := newImage(t, seededRand(t, "bad diff_id"), linuxAMD64, 1, 4096)
		breakDiffIDs(t, bad)
		badLayout := filepath.Join(t.TempDir(), "bad")
		writeLayout(t, badLayout, "v1", bad)
		craneLogin(t, crane, s).Run(crane, "push", "--insecure", badLayout, s.Addr+"/team-a/bad:v1")
		waitFor(t, "FAILED scan of an image with a wrong diff_id", 10*time.Second, func() (bool, string) {
			res := scanOf(t, s, "team-a/bad", "v1", false)
			return res.Status == "FAILED" && strings.Contains(res.Reason, "diff_id"), res.Status + " " + res.Reason
		})

		// Continuous: the npm advisories arrive while moat runs.
		readBefore := blobBytesRead(t, s)
		r.Run(bin, "db", "import", "--db", vulndb, matchData+"/advisories/ghsa-subset/npm")
		took = waitFor(t, "new findings after the npm import", 30*time.Second, func() (bool, string) {
			res = scanOf(t, s, "team-a/app", "v1", false)
			_, ok := res.finding("CVE-2021-44906")
			return ok && len(hooks.events("dev.moat.finding.new", findingIs("CVE-2021-44906"))) > 0, fmt.Sprintf("%d findings", len(res.Findings))
		})
		t.Logf("npm findings and their finding.new events %s after the import", took.Round(time.Millisecond))
		if after := blobBytesRead(t, s); after != readBefore {
			t.Errorf("the rescan read %.0f bytes of blobs; it must only re-match the stored inventory", after-readBefore)
		}

		// Withdrawing the minimist advisory resolves its findings.
		withdrawn := filepath.Join(t.TempDir(), "npm")
		copyDir(t, matchData+"/advisories/ghsa-subset/npm", withdrawn)
		withdraw(t, filepath.Join(withdrawn, "GHSA-xvch-5gv4-984h.json"))
		r.Run(bin, "db", "import", "--db", vulndb, withdrawn)
		waitFor(t, "finding resolved after the withdrawal", 30*time.Second, func() (bool, string) {
			res = scanOf(t, s, "team-a/app", "v1", false)
			_, open := res.finding("CVE-2021-44906")
			resolved := scanOf(t, s, "team-a/app", "v1", true)
			_, gone := resolved.finding("CVE-2021-44906")
			return !open && gone && len(hooks.events("dev.moat.finding.resolved", findingIs("CVE-2021-44906"))) > 0, ""
		})
		if after := blobBytesRead(t, s); after != readBefore {
			t.Errorf("rescans read %.0f bytes of blobs", after-readBefore)
		}
		if hooks.bad > 0 {
			t.Errorf("%d deliveries with a bad signature or body", hooks.bad)
		}

		// Pull gate: a critical image is refused, with its CVEs named,
		// to all but a robot exempt by policy.
		push("gated/app")
		waitFor(t, "scan of gated/app", 30*time.Second, func() (bool, string) {
			res = scanOf(t, s, "gated/app", "v1", false)
			return res.Status == "COMPLETE", res.Status
		})
		podman := moatproc.NewPodman(t, s)
		podman.Run("login", "-u", s.Robot.Username, "-p", s.Robot.Password, s.Addr)
		_, err := podman.Runner.Try(podman.Bin, podman.Args("pull", s.Addr+"/gated/app:v1")...)
		if err == nil || !strings.Contains(err.Error(), "CVE-2021-23369") || !strings.Contains(err.Error(), "critical") {
			t.Fatalf("podman pull of a critical image under preventPull: %v", err)
		}
		t.Logf("podman pull refused: %v", err)
		exempt := exemptRobot(t, s)
		podman.Run("login", "-u", exempt.Username, "-p", exempt.Password, s.Addr)
		podman.Run("pull", s.Addr+"/gated/app:v1")
	})
}

// exemptRobot creates a robot that may pull gated/* past its pull gate.
func exemptRobot(t *testing.T, s *moatproc.Server) moatproc.Credentials {
	t.Helper()
	var rb struct{ Username, Secret string }
	s.API(t, "POST", "/api/v1/robots", map[string]string{"name": "exempt"}, &rb)
	doc := `{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":["registry:Pull","scan:BypassPullGate"],"Resource":"repository/gated/*"}]}`
	s.API(t, "PUT", "/api/v1/policies/exempt", map[string]any{"kind": "identity", "document": json.RawMessage(doc)}, nil)
	s.API(t, "PUT", "/api/v1/policies/exempt/attachments/robot/exempt", nil, nil)
	return moatproc.Credentials{Username: rb.Username, Password: rb.Secret}
}

// withdraw marks the OSV record at path withdrawn.
func withdraw(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec["withdrawn"] = "2026-01-01T00:00:00Z"
	out, _ := json.Marshal(rec)
	writeFile(t, path, string(out))
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// breakDiffIDs gives img a config whose first diff_id names other content.
func breakDiffIDs(t *testing.T, img *content) {
	t.Helper()
	var m ocispec.Manifest
	var cfg ocispec.Image
	if err := json.Unmarshal(img.RootBytes, &m); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(img.Blobs[m.Config.Digest], &cfg); err != nil {
		t.Fatal(err)
	}
	delete(img.Blobs, m.Config.Digest)
	cfg.RootFS.DiffIDs[0] = godigest.FromString("other content")
	b := mustJSON(t, cfg)
	m.Config.Digest, m.Config.Size = godigest.FromBytes(b), int64(len(b))
	img.Blobs[m.Config.Digest] = b
	img.RootBytes = mustJSON(t, m)
	img.Root.Digest, img.Root.Size = godigest.FromBytes(img.RootBytes), int64(len(img.RootBytes))
}

// fixtureLayout writes the multi-layer test image (Debian, Go, npm and
// loose files: findings in every ecosystem) as an OCI layout tagged
// "fixture" and returns its directory.
func fixtureLayout(t *testing.T) string {
	t.Helper()
	layout := filepath.Join(t.TempDir(), "fixture")
	layers, err := catalogtest.FixtureLayers(fixtureSrc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := catalogtest.WriteLayout(layout, "fixture", layers); err != nil {
		t.Fatal(err)
	}
	return layout
}
