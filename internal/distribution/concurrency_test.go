package distribution_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestParallelHTTPPushes pushes images to different repositories at once
// through one handler (run with -race); each reads back intact.
func TestParallelHTTPPushes(t *testing.T) {
	e := newTestHandler(t)
	t.Run("group", func(t *testing.T) {
		for w := range 6 {
			repo := fmt.Sprintf("parallel/r%d", w)
			t.Run(repo, func(t *testing.T) {
				t.Parallel()
				body, d := e.image(t, repo, nil)
				expect(t, e.putManifest(t, repo, "latest", v1.MediaTypeImageManifest, body), http.StatusCreated, "")
				g := e.do(t, req{method: "GET", path: "/v2/" + repo + "/manifests/" + d.String()})
				expect(t, g, http.StatusOK, "")
				if !bytes.Equal(g.Body.Bytes(), body) {
					t.Error("manifest differs")
				}
			})
		}
	})
}
