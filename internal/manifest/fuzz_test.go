package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/reference"
)

// FuzzParse feeds Parse real manifests of every kind, mutated, under every
// Content-Type, and checks the invariants the registry relies on.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	cts := []string{"", "application/json", v1.MediaTypeImageManifest, v1.MediaTypeImageIndex,
		MediaTypeDockerManifest, MediaTypeDockerManifestList, MediaTypeDockerSchema1Signed}
	for i, file := range files {
		body, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cts[i%len(cts)], body)
		f.Add("", body)
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		p, err := Parse(contentType, body)
		if err != nil {
			if p != nil {
				t.Fatal("result alongside an error")
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if !supported(p.MediaType) {
			t.Fatalf("MediaType %q is not supported", p.MediaType)
		}
		if p.IsIndex() {
			if p.Config != nil || len(p.Layers) != 0 || len(p.Blobs) != 0 {
				t.Fatalf("index with image fields: %+v", p)
			}
		} else {
			if p.Config == nil || len(p.Manifests) != 0 || len(p.Children) != 0 {
				t.Fatalf("image manifest with index fields: %+v", p)
			}
			if len(p.Blobs) == 0 || p.Blobs[0] != p.Config.Digest {
				t.Fatalf("Blobs %v do not start with the config", p.Blobs)
			}
			if p.ArtifactType == "" {
				t.Fatal("image manifest without artifact type")
			}
		}
		// Every digest the registry will look up is valid and listed once.
		for _, list := range [][]v1.Descriptor{p.Layers, p.Manifests} {
			for _, d := range list {
				if err := reference.ValidDigest(d.Digest); err != nil || d.Size < 0 || d.MediaType == "" {
					t.Fatalf("invalid descriptor accepted: %+v", d)
				}
			}
		}
		for _, ds := range [][]string{digestsOf(p.Blobs), digestsOf(p.Children)} {
			sorted := slices.Clone(ds)
			slices.Sort(sorted)
			if len(slices.Compact(sorted)) != len(ds) {
				t.Fatalf("duplicate digests in %v", ds)
			}
			for _, d := range ds {
				if _, err := reference.ParseDigest(d); err != nil {
					t.Fatal(err)
				}
			}
		}
		if p.Subject != "" {
			if err := reference.ValidDigest(p.Subject); err != nil {
				t.Fatal(err)
			}
		}
		// Parsing is deterministic.
		again, err := Parse(contentType, body)
		if err != nil || again.MediaType != p.MediaType || !slices.Equal(again.Blobs, p.Blobs) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

func digestsOf[T ~string](ds []T) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = string(d)
	}
	return out
}
