package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestWithoutAuth is the one end-to-end test with access control off, and
// it is about exactly that: `moat serve --auth=false` lets an anonymous
// crane (no login, an empty docker config) push and pull, serves no token
// endpoint and no access-control API, and serves everyone the scan and
// webhook endpoints.
func TestWithoutAuth(t *testing.T) {
	crane := moatproc.RequireTool(t, "crane")
	s := moatproc.Start(t, moatproc.WithoutAuth())
	if s.Robot != (moatproc.Credentials{}) {
		t.Fatalf("a server without access control got a robot: %+v", s.Robot)
	}
	for path, want := range map[string]int{
		"/v2/":                http.StatusOK,
		"/auth/token":         http.StatusNotFound,
		"/api/v1/robots":      http.StatusNotFound,
		"/api/v1/policies":    http.StatusNotFound,
		"/api/v1/webhooks":    http.StatusOK,
		"/v2/_catalog?n=1000": http.StatusOK,
	} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("anonymous GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	r := moatproc.NewRunner(t, "DOCKER_CONFIG="+t.TempDir())
	img := newImage(t, seededRand(t, "images"), linuxAMD64, 2, 64*1024)
	layout := filepath.Join(t.TempDir(), "image")
	writeLayout(t, layout, "v1", img)
	r.Run(crane, "push", "--insecure", layout, s.Addr+"/e2e/anonymous/app:v1")
	pulled := filepath.Join(t.TempDir(), "pulled")
	r.Run(crane, "pull", "--insecure", "--format=oci", s.Addr+"/e2e/anonymous/app:v1", pulled)
	checkLayoutMatches(t, pulled, "", img)

	// The push was scanned (the default rule scans every repository), and
	// anyone may read the result.
	var res scanResult
	waitFor(t, "scan of e2e/anonymous/app", 30*time.Second, func() (bool, string) {
		resp, err := http.Get(s.URL + "/api/v1/repositories/e2e/anonymous/app/manifests/v1/scan")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		res = scanResult{}
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
				t.Fatal(err)
			}
		}
		return res.Status == "COMPLETE" || res.Status == "FAILED", fmt.Sprint(resp.StatusCode, " ", res.Status)
	})
}
