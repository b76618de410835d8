package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// robot is a robot account's credentials.
type robot struct{ Username, Secret string }

// teamARobot creates robot ci-a through the management API with a policy
// allowing pull, push and tag listing on team-a/* only.
func teamARobot(t *testing.T, s *moatproc.Server) robot {
	t.Helper()
	var r robot
	s.API(t, "POST", "/api/v1/robots", map[string]string{"name": "ci-a", "description": "team-a CI"}, &r)
	doc := json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Sid":"TeamA","Effect":"Allow",
		"Action":["registry:Pull","registry:Push","registry:ListTags"],"Resource":"repository/team-a/*"}]}`)
	s.API(t, "PUT", "/api/v1/policies/team-a-ci", map[string]any{"kind": "identity", "document": doc}, nil)
	s.API(t, "PUT", "/api/v1/policies/team-a-ci/attachments/robot/ci-a", nil, nil)
	if r.Username != "robot+ci-a" || r.Secret == "" {
		t.Fatalf("robot %+v", r)
	}
	return r
}

// TestClients: skopeo, crane, oras and podman log in through the token
// flow and push and pull; the team-a robot works in team-a/* and is
// refused in team-b/*, anonymous callers are refused everywhere.
func TestClients(t *testing.T) {
	s := startServer(t)

	// Anonymous: the API base challenges with the token endpoint.
	resp, err := http.Get(s.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := fmt.Sprintf(`Bearer realm="%s/auth/token",service="moat"`, s.URL)
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Fatalf("GET /v2/: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}

	rb := teamARobot(t, s)
	robotCreds := rb.Username + ":" + rb.Secret
	adminCreds := "admin:" + moatproc.AdminPassword
	layout := t.TempDir()
	imgDigest := writeLayout(t, layout, "v1")

	// team-b holds an image the robot may not read; admin puts it there.
	skopeo := moatproc.RequireTool(t, "skopeo")
	r := moatproc.NewRunner(t, "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))
	r.Run(skopeo, "copy", "--dest-creds", adminCreds, "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+s.Addr+"/team-b/base:v1")

	t.Run("skopeo", func(t *testing.T) {
		r := moatproc.NewRunner(t, "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))
		ref := "docker://" + s.Addr + "/team-a/skopeo:v1"
		r.Run(skopeo, "copy", "--preserve-digests", "--dest-creds", robotCreds, "--dest-tls-verify=false", "oci:"+layout+":v1", ref)
		out := t.TempDir()
		r.Run(skopeo, "copy", "--preserve-digests", "--src-creds", robotCreds, "--src-tls-verify=false", ref, "oci:"+out+":v1")
		got := r.Run(skopeo, "inspect", "--format", "{{.Digest}}", "--creds", robotCreds, "--tls-verify=false", ref)
		if strings.TrimSpace(got) != imgDigest.String() {
			t.Errorf("digest through moat %s, want %s", got, imgDigest)
		}
		refused(t, r, skopeo, "copy", "--dest-creds", robotCreds, "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+s.Addr+"/team-b/skopeo:v1")
		refused(t, r, skopeo, "inspect", "--creds", robotCreds, "--tls-verify=false", "docker://"+s.Addr+"/team-b/base:v1")
		refused(t, r, skopeo, "inspect", "--no-creds", "--tls-verify=false", ref)
		refused(t, r, skopeo, "inspect", "--creds", rb.Username+":moat_rbt_wrong", "--tls-verify=false", ref)
	})

	t.Run("anonymous pull granted by a resource policy", func(t *testing.T) {
		r := moatproc.NewRunner(t, "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))
		ref := "docker://" + s.Addr + "/team-b/base:v1"
		refused(t, r, skopeo, "inspect", "--no-creds", "--tls-verify=false", ref)
		doc := json.RawMessage(`{"Version":"2026-01-01","Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*",
			"Action":"registry:Pull","Resource":"repository/team-b/base"}]}`)
		s.API(t, "PUT", "/api/v1/policies/public-base", map[string]any{"kind": "resource", "document": doc}, nil)
		s.API(t, "PUT", "/api/v1/policies/public-base/attachments/repository/team-b/base", nil, nil)
		got := r.Run(skopeo, "inspect", "--no-creds", "--format", "{{.Digest}}", "--tls-verify=false", ref)
		// skopeo also warns that listing tags is refused (not granted).
		if !strings.HasSuffix(strings.TrimSpace(got), "\n"+imgDigest.String()) && strings.TrimSpace(got) != imgDigest.String() {
			t.Errorf("anonymous inspect: %s", got)
		}
		// Reading is all the policy grants.
		refused(t, r, skopeo, "copy", "--dest-no-creds", "--dest-tls-verify=false", "oci:"+layout+":v1", ref)
		refused(t, r, skopeo, "inspect", "--no-creds", "--tls-verify=false", "docker://"+s.Addr+"/team-a/skopeo:v1")
		s.API(t, "DELETE", "/api/v1/policies/public-base", nil, nil)
	})

	craneCatalog := false // crane ran its refused catalog
	t.Run("crane", func(t *testing.T) {
		crane := moatproc.RequireTool(t, "crane")
		r := moatproc.NewRunner(t, "DOCKER_CONFIG="+t.TempDir())
		r.Run(crane, "auth", "login", s.Addr, "-u", rb.Username, "-p", rb.Secret)
		r.Run(crane, "push", "--insecure", layout, s.Addr+"/team-a/crane:v1")
		if got := strings.TrimSpace(r.Run(crane, "digest", "--insecure", s.Addr+"/team-a/crane:v1")); got != imgDigest.String() {
			t.Errorf("crane digest %s, want %s", got, imgDigest)
		}
		r.Run(crane, "copy", "--insecure", s.Addr+"/team-a/crane:v1", s.Addr+"/team-a/crane-copy:v1")
		if tags := r.Run(crane, "ls", "--insecure", s.Addr+"/team-a/crane-copy"); strings.TrimSpace(tags) != "v1" {
			t.Errorf("tags %q", tags)
		}
		refused(t, r, crane, "copy", "--insecure", s.Addr+"/team-a/crane:v1", s.Addr+"/team-b/crane:v1")
		// Copying team-b's image would mount its blobs; the robot cannot
		// read the source, so nothing is mounted or copied.
		refused(t, r, crane, "copy", "--insecure", s.Addr+"/team-b/base:v1", s.Addr+"/team-a/stolen:v1")
		refused(t, r, crane, "catalog", "--insecure", s.Addr)
		craneCatalog = true
		// Admin sees every repository.
		ar := moatproc.NewRunner(t, "DOCKER_CONFIG="+t.TempDir())
		ar.Run(crane, "auth", "login", s.Addr, "-u", "admin", "-p", moatproc.AdminPassword)
		cat := ar.Run(crane, "catalog", "--insecure", s.Addr)
		for _, repo := range []string{"team-a/crane", "team-a/crane-copy", "team-b/base"} {
			if !strings.Contains(cat, repo+"\n") {
				t.Errorf("admin catalog lacks %s:\n%s", repo, cat)
			}
		}
		if strings.Contains(cat, "team-a/stolen") {
			t.Errorf("refused copy created team-a/stolen:\n%s", cat)
		}
	})

	t.Run("oras", func(t *testing.T) {
		oras := moatproc.RequireTool(t, "oras")
		work := t.TempDir()
		cfg := filepath.Join(work, "config.json")
		r := moatproc.NewRunner(t, "HOME="+work)
		r.Run(oras, "login", "--plain-http", "--registry-config", cfg, "-u", rb.Username, "-p", rb.Secret, s.Addr)
		file := filepath.Join(work, "sbom.json")
		if err := os.WriteFile(file, []byte(`{"bomFormat":"CycloneDX"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		r.Dir = work
		push := func(repo string) []string {
			return []string{"push", "--plain-http", "--registry-config", cfg, "--artifact-type", "application/vnd.example.sbom", s.Addr + "/" + repo + ":v1", "sbom.json:application/json"}
		}
		r.Run(oras, push("team-a/artifact")...)
		dst := t.TempDir()
		r.Run(oras, "pull", "--plain-http", "--registry-config", cfg, "-o", dst, s.Addr+"/team-a/artifact:v1")
		if b, err := os.ReadFile(filepath.Join(dst, "sbom.json")); err != nil || string(b) != `{"bomFormat":"CycloneDX"}` {
			t.Errorf("pulled artifact %q %v", b, err)
		}
		refused(t, r, oras, push("team-b/artifact")...)
	})

	t.Run("podman", func(t *testing.T) {
		podman := moatproc.NewPodman(t, s)
		podman.Run("login", "--tls-verify=false", "-u", rb.Username, "-p", rb.Secret, s.Addr)
		src := s.Addr + "/team-a/skopeo-src:v1"
		// Seed with skopeo so this subtest stands alone.
		moatproc.NewRunner(t, "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "a.json")).Run(skopeo, "copy", "--dest-creds", robotCreds, "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+src)
		podman.Run("pull", "--tls-verify=false", src)
		pushed := s.Addr + "/team-a/podman:v1"
		podman.Run("tag", src, pushed)
		podman.Run("push", "--tls-verify=false", pushed)
		podman.Run("pull", "--tls-verify=false", pushed)
		denied := s.Addr + "/team-b/podman:v1"
		podman.Run("tag", src, denied)
		refused(t, podman.Runner, podman.Bin, podman.Args("push", "--tls-verify=false", denied)...)
		refused(t, podman.Runner, podman.Bin, podman.Args("pull", "--tls-verify=false", s.Addr+"/team-b/base:v1")...)
	})

	// The robot's pushes and refusals are in the audit log; the pushes
	// reach it through the events outbox, a moment after the push.
	type record struct {
		Actor, Action, Resource, Result string
		SourceIP                        string `json:"source_ip"`
	}
	var pushes, refusals struct{ Records []record }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		s.API(t, "GET", "/api/v1/audit?actor=robot:ci-a&action=registry:Push&result=success&limit=1000", nil, &pushes)
		if len(pushes.Records) >= 6 || time.Now().After(deadline) {
			break
		}
	}
	s.API(t, "GET", "/api/v1/audit?actor=robot:ci-a&result=denied&limit=1000", nil, &refusals)
	for _, rec := range pushes.Records {
		if !strings.HasPrefix(rec.Resource, "repository/team-a/") || rec.SourceIP != "127.0.0.1" {
			t.Errorf("audited push outside team-a, or without its address: %+v", rec)
		}
	}
	catalog := false
	for _, rec := range refusals.Records {
		switch {
		case rec.Action == "registry:ListRepositories" && rec.Resource == "registry":
			catalog = true // crane catalog
		case !strings.HasPrefix(rec.Resource, "repository/team-b/"):
			t.Errorf("audited refusal outside team-b: %+v", rec)
		}
	}
	if craneCatalog && !catalog {
		t.Error("the refused catalog is not audited")
	}
	// skopeo, crane (2), oras and podman (2) pushed into team-a.
	if len(pushes.Records) < 6 || len(refusals.Records) == 0 {
		t.Errorf("audited: %d robot pushes, %d refusals", len(pushes.Records), len(refusals.Records))
	}
	t.Logf("audit: %d robot pushes, %d refused robot requests", len(pushes.Records), len(refusals.Records))
}
