package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestLifecycleGolden: 30 images with push and pull times set in the
// database (10 prod-N, 10 dev-N, 9 untagged and one scratch), a policy of
// three rules protecting what runs and what a trusted key signed: the
// preview expires exactly the golden set, the run removes those images,
// garbage collection then takes their layers, and everything else still
// pulls.
func TestLifecycleGolden(t *testing.T) {
	crane := moatproc.RequireTool(t, "crane")
	sqlite := moatproc.RequireTool(t, "sqlite3")
	cosign := moatproc.RequireTool(t, "cosign")
	cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
	// "signed" means signed by a key of trust policy ci, golden/*'s gate.
	writeFile(t, cfgFile, `version: 1
gc: {interval: 1s, grace: 1m}
signing:
  requireSignature:
    - repositories: ["golden/*"]
      trustPolicy: ci
`)
	s := moatproc.Start(t, moatproc.WithArgs("--config", cfgFile))
	r := craneLogin(t, crane, s)
	rnd := seededRand(t, "golden")
	ref := s.Addr + "/golden/app"
	type image struct {
		name           string // prod-N, dev-N, untagged-N, scratch
		digest, layer  string
		pushed, pulled time.Duration // ago; pulled 0: never
	}
	var images []*image
	push := func(name, tag string, pushed, pulled time.Duration) {
		layout := filepath.Join(t.TempDir(), "img")
		c := newImage(t, rnd, linuxAMD64, 1, 1024)
		writeLayout(t, layout, "v1", c)
		r.Run(crane, "push", "--insecure", layout, ref+":"+tag)
		var blob string // the layer or the config: each image's own
		for d := range c.Blobs {
			blob = d.String()
		}
		images = append(images, &image{name: name, digest: c.Root.Digest.String(), layer: blob, pushed: pushed, pulled: pulled})
	}
	day := 24 * time.Hour
	for i := 1; i <= 10; i++ {
		push(fmt.Sprint("prod-", i), fmt.Sprint("prod-", i), time.Duration(40-i)*day, 0)
		push(fmt.Sprint("dev-", i), fmt.Sprint("dev-", i), time.Duration(i)*day-time.Hour, 0)
	}
	for k := 1; k <= 10; k++ { // each push moves "scratch": 9 end untagged
		name := fmt.Sprint("untagged-", k)
		if k == 10 {
			name = "scratch"
		}
		push(name, "scratch", 30*day, time.Duration(3*k)*day)
	}
	// The times the policy reads, written as the registry keeps them.
	now := time.Now()
	var sql strings.Builder
	for _, img := range images {
		pulled := "NULL"
		if img.pulled > 0 {
			pulled = fmt.Sprint(now.Add(-img.pulled).UnixNano())
		}
		fmt.Fprintf(&sql, "UPDATE manifests SET pushed_at = %d, pulled_at = %s WHERE digest = '%s';\n", now.Add(-img.pushed).UnixNano(), pulled, img.digest)
	}
	r.Run(sqlite, "-cmd", ".timeout 10000", filepath.Join(s.DataDir, "moat.db"), sql.String())
	byName := func(name string) *image {
		for _, img := range images {
			if img.name == name {
				return img
			}
		}
		t.Fatalf("no image %s", name)
		return nil
	}
	// prod-4 is signed with a key trust policy ci trusts.
	work := t.TempDir()
	r.Dir = work
	r.Env = append(r.Env, "COSIGN_PASSWORD=")
	r.Run(cosign, "generate-key-pair", "--output-key-prefix", "ci")
	bin := moatproc.Binary(t)
	moat := func(args ...string) { t.Helper(); moatproc.NewRunner(t).Run(bin, append(args, s.StoreArgs()...)...) }
	moat("trust", "store", "add", "--type", "cosign", "ci", filepath.Join(work, "ci.pub"))
	writeFile(t, filepath.Join(work, "policy.json"), `{"version":"1.0","trustPolicies":[{"name":"ci","registryScopes":["*"],
		"signatureVerification":{"level":"strict"},"trustStores":["cosign:ci"],"trustedIdentities":["*"]}]}`)
	moat("trust", "policy", "put", "ci", "--file", filepath.Join(work, "policy.json"))
	r.Run(cosign, "sign", "--key", filepath.Join(work, "ci.key"), "--tlog-upload=false", "-y", "--allow-insecure-registry",
		"--allow-http-registry", ref+"@"+byName("prod-4").digest)
	// prod-1 runs.
	s.API(t, "POST", "/api/v1/inventory/ecs", map[string]any{"clusterArn": "c", "taskArn": "t", "lastStatus": "RUNNING",
		"containers": []map[string]string{{"name": "app", "image": ref + "@" + byName("prod-1").digest}}}, nil)

	policy := map[string]any{"rules": []map[string]any{
		{"rulePriority": 1, "selection": map[string]any{"tagStatus": "tagged", "tagPrefixList": []string{"prod"},
			"countType": "imageCountMoreThan", "countNumber": 5}, "action": map[string]string{"type": "expire"}},
		{"rulePriority": 2, "selection": map[string]any{"tagStatus": "tagged", "tagPatternList": []string{"dev-*"},
			"countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}, "action": map[string]string{"type": "expire"}},
		{"rulePriority": 3, "selection": map[string]any{"tagStatus": "untagged",
			"countType": "sinceImagePulled", "countUnit": "days", "countNumber": 14}, "action": map[string]string{"type": "expire"}},
	}, "protect": map[string]bool{"running": true, "signed": true}}
	s.API(t, "PUT", "/api/v1/repositories/golden/app/lifecycle-policy", policy, nil)

	// The golden set: the 5 oldest prod but prod-1, which runs, and
	// prod-4, signed; dev older than 7 days; untagged pulled more than 14
	// days ago.
	golden := []string{"prod-2", "prod-3", "prod-5", "dev-8", "dev-9", "dev-10",
		"untagged-5", "untagged-6", "untagged-7", "untagged-8", "untagged-9"}
	var preview struct {
		Expiring int
		Images   []struct {
			Digest string
			Expire bool
			Reason string
		}
	}
	s.API(t, "POST", "/api/v1/repositories/golden/app/lifecycle-policy/preview", nil, &preview)
	var got []string
	for _, v := range preview.Images {
		for _, img := range images {
			if img.digest == v.Digest && v.Expire {
				got = append(got, img.name)
			}
		}
	}
	slices.Sort(got)
	want := slices.Clone(golden)
	slices.Sort(want)
	// (cosign's signature, under its sha256-….sig tag, is not judged)
	if !slices.Equal(got, want) || preview.Expiring != len(golden) || len(preview.Images) != 30 {
		t.Fatalf("preview expires %v (%d of %d), want %v", got, preview.Expiring, len(preview.Images), want)
	}

	var run struct{ Expired []struct{ Digest string } }
	s.API(t, "POST", "/api/v1/repositories/golden/app/lifecycle-policy/run", nil, &run)
	if len(run.Expired) != len(golden) {
		t.Fatalf("run expired %d images, want %d", len(run.Expired), len(golden))
	}
	// Age the expired layers past the grace period: garbage collection
	// (every second here) takes them.
	r.Run(sqlite, "-cmd", ".timeout 10000", filepath.Join(s.DataDir, "moat.db"),
		fmt.Sprintf("UPDATE blobs SET touched_at = %d;", now.Add(-2*time.Hour).UnixNano()))
	blobStatus := func(img *image) int {
		req, _ := http.NewRequest("HEAD", s.URL+"/v2/golden/app/blobs/"+img.layer, nil)
		req.SetBasicAuth(s.Admin.Username, s.Admin.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, "garbage collection of the expired layers", 30*time.Second, func() (bool, string) {
		for _, name := range golden {
			if st := blobStatus(byName(name)); st != 404 {
				return false, fmt.Sprintf("%s's layer: %d", name, st)
			}
		}
		return true, ""
	})
	for _, img := range images {
		_, err := r.Try(crane, "manifest", "--insecure", ref+"@"+img.digest)
		expired := slices.Contains(golden, img.name)
		if (err != nil) != expired {
			t.Errorf("%s after the run: %v, want expired=%v", img.name, err, expired)
		}
		if !expired && blobStatus(img) != 200 {
			t.Errorf("the layer of %s, kept, is gone", img.name)
		}
	}
}
