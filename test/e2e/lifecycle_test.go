package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestLifecycle: a policy keeping the 2 newest v* images, protecting what
// runs, previewed and run through the moat CLI: the preview names what
// would expire and why, the run expires exactly that, the rest pulls.
func TestLifecycle(t *testing.T) {
	crane := moatproc.RequireTool(t, "crane")
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) { testLifecycle(t, crane, moatproc.Start(t, db)) })
}

func testLifecycle(t *testing.T, crane string, s *moatproc.Server) {
	r := craneLogin(t, crane, s)
	rnd := seededRand(t, "lifecycle")
	ref := s.Addr + "/lc/app"
	digests := map[string]string{}
	for i := 1; i <= 5; i++ {
		layout := filepath.Join(t.TempDir(), "img")
		writeLayout(t, layout, "v1", newImage(t, rnd, linuxAMD64, 1, 1024))
		tag := fmt.Sprint("v", i)
		r.Run(crane, "push", "--insecure", layout, ref+":"+tag)
		digests[tag] = strings.TrimSpace(r.Run(crane, "digest", "--insecure", ref+":"+tag))
	}
	// v2 carries referrers (an SBOM attached here, the registry's own),
	// which must go with it.
	oras := moatproc.RequireTool(t, "oras")
	sbomDir := t.TempDir()
	writeFile(t, filepath.Join(sbomDir, "sbom.json"), `{"bomFormat":"CycloneDX"}`)
	or := moatproc.NewRunner(t)
	or.Dir = sbomDir
	or.Run(oras, "attach", "--plain-http", "-u", s.Robot.Username, "-p", s.Robot.Password, "--artifact-type", "application/vnd.cyclonedx+json",
		ref+"@"+digests["v2"], "sbom.json:application/json")
	var referrers struct{ Manifests []struct{ Digest string } }
	s.API(t, "GET", "/v2/lc/app/referrers/"+digests["v2"], nil, &referrers)
	if len(referrers.Manifests) == 0 {
		t.Fatalf("referrers of v2: %+v", referrers)
	}
	// v1 runs as an ECS task.
	s.API(t, "POST", "/api/v1/inventory/ecs", map[string]any{"clusterArn": "c", "taskArn": "t1", "lastStatus": "RUNNING",
		"containers": []map[string]string{{"name": "app", "image": ref + "@" + digests["v1"]}}}, nil)

	policyFile := filepath.Join(t.TempDir(), "policy.json")
	writeFile(t, policyFile, `{"rules":[{"rulePriority":1,"description":"keep the 2 newest releases",
		"selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":2},
		"action":{"type":"expire"}}],"protect":{"running":true}}`)
	bin := moatproc.Binary(t)
	cli := moatproc.NewRunner(t, "MOAT_USERNAME="+s.Admin.Username, "MOAT_PASSWORD="+s.Admin.Password)
	lc := func(args ...string) string {
		t.Helper()
		return cli.Run(bin, append([]string{"lifecycle", "--insecure", "--registry", s.Addr}, args...)...)
	}
	lc("put", "lc/app", "--file", policyFile)
	if got := lc("get", "lc/app"); !strings.Contains(got, "keep the 2 newest releases") {
		t.Fatalf("lifecycle get: %s", got)
	}
	// A policy ECR would refuse is refused, with ECR's reason.
	bad := filepath.Join(t.TempDir(), "bad.json")
	writeFile(t, bad, `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}},
		{"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`)
	if _, err := cli.Try(bin, "lifecycle", "--insecure", "--registry", s.Addr, "put", "lc/app", "--file", bad); err == nil || !strings.Contains(err.Error(), "INVALID") {
		t.Errorf("a policy with tagStatus any first: %v", err)
	}

	preview := lc("preview", "lc/app")
	t.Logf("preview:\n%s", preview)
	for tag, want := range map[string]string{"v1": "keep", "v2": "expire", "v3": "expire", "v4": "keep", "v5": "keep"} {
		line := lineWith(preview, digests[tag][:19])
		if !strings.Contains(line, " "+want+" ") {
			t.Errorf("%s: %q, want %s", tag, line, want)
		}
	}
	if !strings.Contains(lineWith(preview, digests["v1"][:19]), "running") {
		t.Errorf("v1 is kept for another reason than running:\n%s", preview)
	}
	// The preview changed nothing; the run expires v2 and v3.
	r.Run(crane, "digest", "--insecure", ref+":v2")
	run := lc("run", "lc/app")
	if strings.Count(run, "expire") != 2 {
		t.Errorf("run:\n%s", run)
	}
	for _, m := range referrers.Manifests {
		if _, err := r.Try(crane, "manifest", "--insecure", ref+"@"+m.Digest); err == nil {
			t.Errorf("referrer %s of an expired image stays", m.Digest)
		}
	}
	var repos struct {
		Repositories []struct {
			Name            string
			ImageCount      int
			SizeBytes       int64
			LastPushedAt    *time.Time
			LifecyclePolicy bool
		}
	}
	s.API(t, "GET", "/api/v1/repositories", nil, &repos)
	if len(repos.Repositories) != 1 || repos.Repositories[0].Name != "lc/app" || repos.Repositories[0].ImageCount != 3 ||
		repos.Repositories[0].SizeBytes == 0 || repos.Repositories[0].LastPushedAt == nil || !repos.Repositories[0].LifecyclePolicy {
		t.Errorf("repositories: %+v", repos)
	}
	for tag, gone := range map[string]bool{"v1": false, "v2": true, "v3": true, "v4": false, "v5": false} {
		_, err := r.Try(crane, "manifest", "--insecure", ref+"@"+digests[tag])
		if (err != nil) != gone {
			t.Errorf("%s after the run: %v, want gone=%v", tag, err, gone)
		}
	}
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
