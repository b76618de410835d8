package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestPagination lists 300 tags and 60 repositories through crane and
// skopeo, which follow Link headers whenever moat answers in pages: nothing
// may be lost or repeated on the way, and the robot's catalog, filtered by
// what it may see, still pages through every repository.
func TestPagination(t *testing.T) {
	crane := moatproc.RequireTool(t, "crane")
	skopeo := moatproc.RequireTool(t, "skopeo")
	s := moatproc.Start(t)
	rc, r := newRegistryClient(t, s), craneLogin(t, crane, s)
	img := newImage(t, seededRand(t, "images"), linuxAMD64, 1, 1024)

	const nTags, nRepos = 300, 60
	rc.push("e2e/pages/tags", "t0000", img)
	var wantTags []string
	for i := range nTags {
		tag := fmt.Sprintf("t%04d", i)
		wantTags = append(wantTags, tag)
		if i > 0 {
			rc.pushManifest("e2e/pages/tags", tag, img.Root.MediaType, img.RootBytes)
		}
	}
	var wantRepos []string
	for i := range nRepos {
		repo := fmt.Sprintf("e2e/pages/r%03d", i)
		wantRepos = append(wantRepos, repo)
		rc.push(repo, "v1", img)
	}

	if got := lines(r.Run(crane, "ls", "--insecure", s.Addr+"/e2e/pages/tags")); !slices.Equal(got, wantTags) {
		t.Errorf("crane ls listed %d tags, want %d (first %v)", len(got), nTags, got[:min(len(got), 3)])
	}
	var listed struct{ Tags []string }
	out := r.Run(skopeo, "list-tags", "--creds="+s.Robot.Pair(), "--tls-verify=false", "docker://"+s.Addr+"/e2e/pages/tags")
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("skopeo list-tags: %v", err)
	}
	slices.Sort(listed.Tags)
	if !slices.Equal(listed.Tags, wantTags) {
		t.Errorf("skopeo list-tags listed %d tags, want %d", len(listed.Tags), nTags)
	}
	var repos []string
	for _, repo := range lines(r.Run(crane, "catalog", "--insecure", s.Addr)) {
		if len(repo) > len("e2e/pages/r") && repo[:len("e2e/pages/r")] == "e2e/pages/r" {
			repos = append(repos, repo)
		}
	}
	if !slices.Equal(repos, wantRepos) {
		t.Errorf("crane catalog listed %d of the %d repositories", len(repos), nRepos)
	}
}
