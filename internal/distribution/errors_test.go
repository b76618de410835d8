package distribution

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/registry"
	"github.com/opencontainers/go-digest"
)

func TestErrorTable(t *testing.T) {
	for _, k := range errorKinds {
		t.Run(k.code+"/"+http.StatusText(k.status), func(t *testing.T) {
			err := fmt.Errorf("context: %w", k.err)
			w := httptest.NewRecorder()
			writeError(w, httptest.NewRequest("GET", "/v2/x", nil), slog.New(slog.DiscardHandler), err)
			if w.Code != k.status {
				t.Errorf("status %d, want %d", w.Code, k.status)
			}
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if len(body.Errors) != 1 || body.Errors[0].Code != k.code || body.Errors[0].Message == "" {
				t.Errorf("body %s", w.Body.String())
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
		detail string // substring of the JSON detail; "" for none
	}{
		{"body over limit", fmt.Errorf("%w: %w", registry.ErrManifestInvalid, &http.MaxBytesError{Limit: 10}), 413, "SIZE_INVALID", "too large"},
		{"digest mismatch detail", &registry.DigestMismatchError{Expected: digest.FromString("a"), Computed: digest.FromString("b")}, 400, "DIGEST_INVALID", digest.FromString("a").String()},
		{"missing content detail", &registry.MissingContentError{Blobs: []digest.Digest{digest.FromString("x")}}, 400, "MANIFEST_BLOB_UNKNOWN", digest.FromString("x").String()},
		{"busy", &registry.BusyError{Key: "upload X"}, 429, "TOOMANYREQUESTS", "busy"},
		{"range", &registry.RangeError{Offset: 5, Start: 9}, 416, "RANGE_INVALID", `"offset":5`},
		{"internal error hides its text", errors.New("open /srv/secret/path: disk on fire"), 500, "UNKNOWN", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			writeError(w, httptest.NewRequest("PUT", "/v2/x", nil), slog.New(slog.DiscardHandler), tc.err)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), `"code":"`+tc.code+`"`) {
				t.Fatalf("got %d %s", w.Code, w.Body.String())
			}
			if tc.detail == "" && strings.Contains(w.Body.String(), "detail") {
				t.Errorf("detail leaked: %s", w.Body.String())
			}
			if tc.detail != "" && !strings.Contains(w.Body.String(), tc.detail) {
				t.Errorf("detail missing %q: %s", tc.detail, w.Body.String())
			}
		})
	}
	// HEAD responses carry the status and headers but no body.
	w := httptest.NewRecorder()
	writeError(w, httptest.NewRequest("HEAD", "/v2/x", nil), slog.New(slog.DiscardHandler), registry.ErrBlobUnknown)
	if w.Code != 404 || w.Body.Len() != 0 {
		t.Errorf("HEAD error: %d with %d body bytes", w.Code, w.Body.Len())
	}
}
