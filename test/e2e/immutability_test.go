package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestTagImmutability: with immutable tags by default (but latest), a push
// that would move a tag is refused with a message that says so, through
// skopeo and crane; the same image again is fine; a repository set
// mutable through the API lets tags move; deleting an immutable tag needs
// registry:DeleteImmutable, which registry:Delete does not grant.
func TestTagImmutability(t *testing.T) {
	skopeo := moatproc.RequireTool(t, "skopeo")
	crane := moatproc.RequireTool(t, "crane")
	cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
	writeFile(t, cfgFile, `version: 1
repositories:
  tagMutability: IMMUTABLE_WITH_EXCLUSION
  tagMutabilityExclusionFilters: ["latest", "dev-*"]
`)
	s := moatproc.Start(t, moatproc.WithArgs("--config", cfgFile))
	r := craneLogin(t, crane, s)
	rnd := seededRand(t, "immutability")
	layouts := map[string]string{}
	for _, name := range []string{"one", "two"} {
		layouts[name] = filepath.Join(t.TempDir(), name)
		writeLayout(t, layouts[name], "v1", newImage(t, rnd, linuxAMD64, 1, 2048))
	}
	ref := s.Addr + "/rel/app"
	r.Run(crane, "push", "--insecure", layouts["one"], ref+":v1")
	_, err := r.Try(crane, "push", "--insecure", layouts["two"], ref+":v1")
	if err == nil || !strings.Contains(err.Error(), "DENIED: tag v1 is immutable in repository rel/app; push under a new tag") {
		t.Fatalf("crane moving an immutable tag: %v", err)
	}
	t.Logf("crane says: %s", lastLine(err.Error(), "DENIED"))
	_, err = r.Try(skopeo, "copy", "--dest-tls-verify=false", "--dest-creds="+s.Robot.Pair(), "oci:"+layouts["two"]+":v1", "docker://"+ref+":v1")
	if err == nil || !strings.Contains(err.Error(), "tag v1 is immutable in repository rel/app") {
		t.Fatalf("skopeo moving an immutable tag: %v", err)
	}
	t.Logf("skopeo says: %s", lastLine(err.Error(), "immutable"))
	r.Run(crane, "push", "--insecure", layouts["one"], ref+":v1") // the same image again
	for _, tag := range []string{"latest", "dev-7"} {             // excluded: they move
		r.Run(crane, "push", "--insecure", layouts["one"], ref+":"+tag)
		r.Run(crane, "push", "--insecure", layouts["two"], ref+":"+tag)
	}

	// A repository of its own mind.
	var repo struct {
		Settings, Effective struct{ TagMutability string }
	}
	s.API(t, "PUT", "/api/v1/repositories/scratch/app", map[string]any{"tagMutability": "MUTABLE"}, &repo)
	if repo.Settings.TagMutability != "MUTABLE" || repo.Effective.TagMutability != "MUTABLE" {
		t.Fatalf("settings: %+v", repo)
	}
	r.Run(crane, "push", "--insecure", layouts["one"], s.Addr+"/scratch/app:v1")
	r.Run(crane, "push", "--insecure", layouts["two"], s.Addr+"/scratch/app:v1")
	s.API(t, "GET", "/api/v1/repositories/rel/app", nil, &repo)
	if repo.Settings.TagMutability != "" || repo.Effective.TagMutability != "IMMUTABLE_WITH_EXCLUSION" {
		t.Errorf("default settings: %+v", repo)
	}
	if code, body := adminCall(t, s, "PUT", "/api/v1/repositories/rel/app", `{"tagMutability":"FROZEN"}`); code != 400 || !strings.Contains(body, "FROZEN") {
		t.Errorf("a bad setting: %d %s", code, body)
	}

	// Deleting the immutable tag: refused to a robot that may delete, done
	// by one that may delete immutable tags too.
	bin := moatproc.Binary(t)
	moat := func(args ...string) string {
		t.Helper()
		return moatproc.NewRunner(t).Run(bin, append(args, s.StoreArgs()...)...)
	}
	deleter := robotWith(t, s, moat, "deleter", `["registry:Pull","registry:Delete"]`, "rel/*")
	dr := moatproc.NewRunner(t, "DOCKER_CONFIG="+t.TempDir())
	dr.Run(crane, "auth", "login", s.Addr, "-u", "robot+deleter", "-p", deleter)
	digest := strings.TrimSpace(r.Run(crane, "digest", "--insecure", ref+":v1"))
	if _, err := dr.Try(crane, "delete", "--insecure", ref+"@"+digest); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Fatalf("deleting an immutable tag with registry:Delete only: %v", err)
	}
	r.Run(crane, "delete", "--insecure", ref+"@"+digest) // the tester robot has registry:*
	if _, err := r.Try(crane, "digest", "--insecure", ref+":v1"); err == nil {
		t.Error("v1 is still there")
	}
}

// lastLine returns the first line of s holding marker, for the log.
func lastLine(s, marker string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, marker) {
			return strings.TrimSpace(l)
		}
	}
	return s
}
