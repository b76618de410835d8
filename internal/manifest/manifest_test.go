package manifest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/reference"
)

// testdata: oci-image-manifest.json is the manifest of a real image
// (Debian base plus Go, npm, Java and Python layers). The others follow the
// shapes docker, buildx, oras, helm and cosign push.

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(s string) digest.Digest { return digest.FromString(s) }

const emptyJSON = digest.Digest("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")

func TestParseTestdata(t *testing.T) {
	appManifest := digest.FromBytes(readTestdata(t, "oci-image-manifest.json"))
	tests := []struct {
		file         string
		contentType  string
		mediaType    string
		artifactType string
		subject      digest.Digest
		blobs        []digest.Digest
		children     []digest.Digest
		layers       int
		annotations  int
	}{
		{
			file:         "oci-image-manifest.json",
			contentType:  v1.MediaTypeImageManifest,
			mediaType:    v1.MediaTypeImageManifest,
			artifactType: v1.MediaTypeImageConfig,
			blobs: []digest.Digest{
				"sha256:d75ada6cb4b0a50a5450a7c8ff8e871580553159f5d525278742ee2501a3520a",
				"sha256:05cde3b5ea44cd44d258973bcf95f879d483f67e73fe8a46938218295d37f7e4",
				"sha256:777c864f9c5f455fd6a8b86ed136bf9255bc270f72eb85be622578110d824d89",
				"sha256:84330daa7984a8790c41d5465e43c8eab5b2befe5325320fcc1ec69315ad0095",
				"sha256:652637d6818b425806061f65ebcc1e2942aef1908fc7b0dbc631005837ec8511",
			},
			layers: 4,
		},
		{
			file:      "oci-index.json",
			mediaType: v1.MediaTypeImageIndex, contentType: v1.MediaTypeImageIndex,
			children:    []digest.Digest{appManifest, sha("arm64 manifest"), sha("attestation amd64"), sha("attestation arm64")},
			annotations: 1,
		},
		{
			file:      "docker-manifest.json",
			mediaType: MediaTypeDockerManifest, contentType: MediaTypeDockerManifest,
			artifactType: "application/vnd.docker.container.image.v1+json",
			blobs:        []digest.Digest{sha("docker config"), sha("docker layer 1"), sha("docker layer 2")},
			layers:       2,
		},
		{
			file:      "docker-manifest-list.json",
			mediaType: MediaTypeDockerManifestList, contentType: MediaTypeDockerManifestList,
			children: []digest.Digest{digest.FromBytes(readTestdata(t, "docker-manifest.json")), sha("armv7"), sha("windows")},
		},
		{
			file:      "docker-manifest-foreign.json",
			mediaType: MediaTypeDockerManifest, contentType: MediaTypeDockerManifest,
			artifactType: "application/vnd.docker.container.image.v1+json",
			blobs:        []digest.Digest{sha("win config"), sha("win app")},
			layers:       3,
		},
		{
			file:      "oci-artifact.json",
			mediaType: v1.MediaTypeImageManifest, contentType: v1.MediaTypeImageManifest,
			artifactType: "application/spdx+json",
			subject:      appManifest,
			blobs:        []digest.Digest{emptyJSON, sha("sbom")},
			layers:       1,
			annotations:  1,
		},
		{
			// No mediaType in the body; oras and helm push it with the OCI Content-Type.
			file:      "oci-artifact-helm.json",
			mediaType: v1.MediaTypeImageManifest, contentType: v1.MediaTypeImageManifest,
			artifactType: "application/vnd.cncf.helm.config.v1+json",
			blobs:        []digest.Digest{sha("helm config"), sha("chart")},
			layers:       1,
			annotations:  2,
		},
		{
			file:      "cosign-signature.json",
			mediaType: v1.MediaTypeImageManifest, contentType: v1.MediaTypeImageManifest,
			artifactType: v1.MediaTypeImageConfig,
			blobs:        []digest.Digest{sha("cosign config"), sha("payload")},
			layers:       1,
		},
		{
			file:      "oci-index-artifact.json",
			mediaType: v1.MediaTypeImageIndex, contentType: v1.MediaTypeImageIndex,
			artifactType: "application/vnd.example.bundle",
			subject:      appManifest,
			children:     []digest.Digest{sha("bundle a"), sha("bundle b")},
			annotations:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := readTestdata(t, tt.file)
			// The explicit Content-Type, with parameters, and none at all
			// (except for helm, whose body has no mediaType) must agree.
			cts := []string{tt.contentType, tt.contentType + "; charset=utf-8", strings.ToUpper(tt.contentType)}
			if tt.file != "oci-artifact-helm.json" {
				cts = append(cts, "", "application/json", "application/octet-stream")
			}
			for _, ct := range cts {
				p, err := Parse(ct, body)
				if err != nil {
					t.Fatalf("Parse(%q) = %v", ct, err)
				}
				if p.MediaType != tt.mediaType {
					t.Errorf("Parse(%q).MediaType = %q, want %q", ct, p.MediaType, tt.mediaType)
				}
				if p.ArtifactType != tt.artifactType {
					t.Errorf("ArtifactType = %q, want %q", p.ArtifactType, tt.artifactType)
				}
				if p.Subject != tt.subject {
					t.Errorf("Subject = %q, want %q", p.Subject, tt.subject)
				}
				if !slices.Equal(p.Blobs, tt.blobs) {
					t.Errorf("Blobs = %v, want %v", p.Blobs, tt.blobs)
				}
				if !slices.Equal(p.Children, tt.children) {
					t.Errorf("Children = %v, want %v", p.Children, tt.children)
				}
				if len(p.Layers) != tt.layers || len(p.Annotations) != tt.annotations {
					t.Errorf("%d layers, %d annotations; want %d, %d", len(p.Layers), len(p.Annotations), tt.layers, tt.annotations)
				}
				if p.IsIndex() != (tt.children != nil) {
					t.Errorf("IsIndex() = %v", p.IsIndex())
				}
				if p.IsIndex() != (p.Config == nil) {
					t.Errorf("IsIndex() = %v with Config %v", p.IsIndex(), p.Config)
				}
				if p.IsIndex() && len(p.Manifests) != len(tt.children) {
					t.Errorf("%d Manifests, want %d", len(p.Manifests), len(tt.children))
				}
			}
		})
	}
}

func TestParseSchema1Refused(t *testing.T) {
	body := readTestdata(t, "docker-schema1-signed.json")
	for _, ct := range []string{MediaTypeDockerSchema1Signed, MediaTypeDockerSchema1, "", "application/json", v1.MediaTypeImageManifest, MediaTypeDockerManifest} {
		_, err := Parse(ct, body)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "schema 1") {
			t.Errorf("Parse(%q, schema1) = %v, want ErrUnsupported naming schema 1", ct, err)
		}
	}
	// The Content-Type alone is enough to refuse, whatever the body.
	if _, err := Parse(MediaTypeDockerSchema1, readTestdata(t, "docker-manifest.json")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("schema1 Content-Type with a schema2 body = %v", err)
	}
}

func TestParseTooLarge(t *testing.T) {
	body := readTestdata(t, "oci-image-manifest.json")
	padded := append(bytes.Repeat([]byte(" "), MaxSize-len(body)), body...)
	if _, err := Parse(v1.MediaTypeImageManifest, padded); err != nil {
		t.Fatalf("manifest of exactly MaxSize: %v", err)
	}
	_, err := Parse(v1.MediaTypeImageManifest, append([]byte(" "), padded...))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("manifest over MaxSize = %v, want ErrTooLarge", err)
	}
}

// Descriptors used to build invalid documents.
const (
	cfg   = `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:d75ada6cb4b0a50a5450a7c8ff8e871580553159f5d525278742ee2501a3520a","size":1023}`
	layer = `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:05cde3b5ea44cd44d258973bcf95f879d483f67e73fe8a46938218295d37f7e4","size":95111396}`
	child = `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:b05ffa1681ba3b188790a7f98ee4f78743fcebb0f8cc4e9ec24e4b2e6d7508a0","size":825}`
	ociM  = v1.MediaTypeImageManifest
	ociI  = v1.MediaTypeImageIndex
)

func desc(mediaType, dg string, size string, extra string) string {
	s := `{"mediaType":` + mediaType + `,"digest":` + dg + `,"size":` + size
	if extra != "" {
		s += "," + extra
	}
	return s + "}"
}

func image(config string, layers ...string) string {
	return `{"schemaVersion":2,"mediaType":"` + ociM + `","config":` + config + `,"layers":[` + strings.Join(layers, ",") + `]}`
}

func TestParseRefusals(t *testing.T) {
	goodDigest := `"sha256:05cde3b5ea44cd44d258973bcf95f879d483f67e73fe8a46938218295d37f7e4"`
	layerMT := `"application/vnd.oci.image.layer.v1.tar+gzip"`
	tests := []struct {
		name        string
		contentType string
		body        string
		want        error
		mention     string // a fragment the message must contain
	}{
		{"empty body", ociM, ``, ErrInvalid, ""},
		{"not JSON", ociM, `blablabla`, ErrInvalid, ""},
		{"JSON null", ociM, `null`, ErrInvalid, "schemaVersion"},
		{"JSON array", ociM, `[]`, ErrInvalid, ""},
		{"trailing garbage", ociM, image(cfg, layer) + `x`, ErrInvalid, ""},
		{"two documents", ociM, image(cfg, layer) + image(cfg, layer), ErrInvalid, ""},
		{"truncated", ociM, image(cfg, layer)[:60], ErrInvalid, ""},
		{"schemaVersion missing", ociM, `{"mediaType":"` + ociM + `","config":` + cfg + `,"layers":[]}`, ErrInvalid, "schemaVersion"},
		{"schemaVersion 3", ociM, `{"schemaVersion":3,"config":` + cfg + `}`, ErrInvalid, "schemaVersion"},
		{"schemaVersion string", ociM, `{"schemaVersion":"2","config":` + cfg + `}`, ErrInvalid, ""},
		{"schemaVersion 1 without mediaType", "", `{"schemaVersion":1,"name":"x","tag":"y"}`, ErrUnsupported, "schema 1"},
		{"fsLayers under OCI type", ociM, `{"schemaVersion":2,"config":` + cfg + `,"fsLayers":[]}`, ErrUnsupported, "schema 1"},
		{"config missing", ociM, `{"schemaVersion":2,"layers":[` + layer + `]}`, ErrInvalid, "config"},
		{"config null", ociM, `{"schemaVersion":2,"config":null}`, ErrInvalid, "config"},
		{"config not an object", ociM, `{"schemaVersion":2,"config":"x"}`, ErrInvalid, ""},
		{"config without mediaType", ociM, image(desc(`""`, goodDigest, "1", "")), ErrInvalid, "config.mediaType"},
		{"config without digest", ociM, image(`{"mediaType":"a/b","size":1}`), ErrInvalid, "config.digest"},
		{"layer bad digest", ociM, image(cfg, desc(layerMT, `"sha256:abc"`, "1", "")), reference.ErrInvalidDigest, "layers[0].digest"},
		{"layer upper-case digest", ociM, image(cfg, desc(layerMT, strings.ToUpper(goodDigest), "1", "")), ErrInvalid, "layers[0]"},
		{"layer md5 digest", ociM, image(cfg, desc(layerMT, `"md5:d41d8cd98f00b204e9800998ecf8427e"`, "1", "")), ErrInvalid, "layers[0].digest"},
		{"layer digest number", ociM, image(cfg, desc(layerMT, `7`, "1", "")), ErrInvalid, ""},
		{"layer negative size", ociM, image(cfg, desc(layerMT, goodDigest, "-1", "")), ErrInvalid, "layers[0].size"},
		{"layer fractional size", ociM, image(cfg, desc(layerMT, goodDigest, "1.5", "")), ErrInvalid, ""},
		{"layer size overflow", ociM, image(cfg, desc(layerMT, goodDigest, "99999999999999999999", "")), ErrInvalid, ""},
		{"layer size string", ociM, image(cfg, desc(layerMT, goodDigest, `"1"`, "")), ErrInvalid, ""},
		{"second layer no mediaType", ociM, image(cfg, layer, desc(`""`, goodDigest, "1", "")), ErrInvalid, "layers[1].mediaType"},
		{"layer mediaType not a type", ociM, image(cfg, desc(`"tar"`, goodDigest, "1", "")), ErrInvalid, "layers[0].mediaType"},
		{"layer mediaType with space", ociM, image(cfg, desc(`"application/x tar"`, goodDigest, "1", "")), ErrInvalid, "layers[0].mediaType"},
		{"layer mediaType with parameters", ociM, image(cfg, desc(`"application/x; a=b"`, goodDigest, "1", "")), ErrInvalid, "layers[0].mediaType"},
		{"layer relative url", ociM, image(cfg, desc(layerMT, goodDigest, "1", `"urls":["/blobs/x"]`)), ErrInvalid, "urls[0]"},
		{"layer url not a string", ociM, image(cfg, desc(layerMT, goodDigest, "1", `"urls":[1]`)), ErrInvalid, ""},
		{"layer bad base64 data", ociM, image(cfg, desc(layerMT, goodDigest, "1", `"data":"!!"`)), ErrInvalid, ""},
		{"layer data of wrong size", ociM, image(cfg, desc(layerMT, goodDigest, "5", `"data":"e30="`)), ErrInvalid, "data"},
		{"layer data of wrong digest", ociM, image(cfg, desc(layerMT, goodDigest, "2", `"data":"e30="`)), ErrInvalid, "data"},
		{"layer annotation not a string", ociM, image(cfg, desc(layerMT, goodDigest, "1", `"annotations":{"a":1}`)), ErrInvalid, ""},
		{"layers not an array", ociM, `{"schemaVersion":2,"config":` + cfg + `,"layers":{}}`, ErrInvalid, ""},
		{"bad artifactType", ociM, `{"schemaVersion":2,"artifactType":"sbom","config":` + cfg + `}`, ErrInvalid, "artifactType"},
		{"subject bad digest", ociM, `{"schemaVersion":2,"config":` + cfg + `,"subject":{"mediaType":"` + ociM + `","digest":"sha256:00","size":1}}`, ErrInvalid, "subject.digest"},
		{"subject no mediaType", ociM, `{"schemaVersion":2,"config":` + cfg + `,"subject":{"digest":` + goodDigest + `,"size":1}}`, ErrInvalid, "subject.mediaType"},
		{"manifest with manifests", ociM, `{"schemaVersion":2,"config":` + cfg + `,"manifests":[` + child + `]}`, ErrInvalid, "manifests"},
		{"index with config", ociI, `{"schemaVersion":2,"config":` + cfg + `,"manifests":[` + child + `]}`, ErrInvalid, "config"},
		{"index with layers", ociI, `{"schemaVersion":2,"layers":[` + layer + `],"manifests":[` + child + `]}`, ErrInvalid, "layers"},
		{"index child bad digest", ociI, `{"schemaVersion":2,"manifests":[` + desc(`"`+ociM+`"`, `"sha256:"`, "1", "") + `]}`, ErrInvalid, "manifests[0].digest"},
		{"index child platform without os", ociI, `{"schemaVersion":2,"manifests":[` + desc(`"`+ociM+`"`, goodDigest, "1", `"platform":{"architecture":"amd64"}`) + `]}`, ErrInvalid, "manifests[0].platform"},
		{"index manifests not an array", ociI, `{"schemaVersion":2,"manifests":"x"}`, ErrInvalid, ""},
		{"mediaType disagrees with Content-Type", ociM, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":` + cfg + `}`, ErrInvalid, "disagrees"},
		{"index mediaType under manifest Content-Type", ociM, `{"schemaVersion":2,"mediaType":"` + ociI + `","manifests":[]}`, ErrInvalid, "disagrees"},
		{"mediaType not a string", "", `{"schemaVersion":2,"mediaType":5,"config":` + cfg + `}`, ErrInvalid, ""},
		{"unknown Content-Type", "application/vnd.example.thing+json", image(cfg, layer), ErrUnsupported, "vnd.example.thing"},
		{"OCI artifact manifest (removed in 1.1)", "application/vnd.oci.artifact.manifest.v1+json", `{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","artifactType":"a/b","blobs":[]}`, ErrUnsupported, ""},
		{"unknown body mediaType", "", `{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json","config":` + cfg + `}`, ErrUnsupported, "vnd.example.thing"},
		{"malformed Content-Type", "application/", image(cfg, layer), ErrInvalid, "Content-Type"},
		{"no type and no shape", "", `{"schemaVersion":2}`, ErrInvalid, "neither"},
		{"no type and both shapes", "", `{"schemaVersion":2,"config":` + cfg + `,"manifests":[]}`, ErrInvalid, "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.contentType, []byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse = %+v, %v; want %v", p, err, tt.want)
			}
			if p != nil {
				t.Fatalf("Parse returned %+v alongside an error", p)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("error %q does not mention %q", err, tt.mention)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps no package sentinel", err)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	goodDigest := `"sha256:05cde3b5ea44cd44d258973bcf95f879d483f67e73fe8a46938218295d37f7e4"`
	tests := []struct {
		name        string
		contentType string
		body        string
		check       func(t *testing.T, p *Parsed)
	}{
		{"layers null (nil slice from image-spec types)", ociM, `{"schemaVersion":2,"config":` + cfg + `,"layers":null}`, func(t *testing.T, p *Parsed) {
			if len(p.Blobs) != 1 || len(p.Layers) != 0 {
				t.Errorf("Blobs = %v, Layers = %v", p.Blobs, p.Layers)
			}
		}},
		{"layers absent", ociM, `{"schemaVersion":2,"config":` + cfg + `}`, nil},
		{"empty index", ociI, `{"schemaVersion":2,"manifests":[]}`, func(t *testing.T, p *Parsed) {
			if !p.IsIndex() || len(p.Children) != 0 || p.Blobs != nil {
				t.Errorf("empty index parsed as %+v", p)
			}
		}},
		{"index without mediaType and Content-Type detected by shape", "", `{"schemaVersion":2,"manifests":[` + child + `]}`, func(t *testing.T, p *Parsed) {
			if p.MediaType != ociI {
				t.Errorf("MediaType = %q", p.MediaType)
			}
		}},
		{"manifest without mediaType detected by shape", "application/json", `{"schemaVersion":2,"config":` + cfg + `}`, func(t *testing.T, p *Parsed) {
			if p.MediaType != ociM {
				t.Errorf("MediaType = %q", p.MediaType)
			}
		}},
		{"unknown fields are allowed", ociM, `{"schemaVersion":2,"config":` + cfg + `,"futureField":{"x":[1,2]},"layers":[` + layer + `]}`, nil},
		{"duplicate layers count once", ociM, image(cfg, layer, layer), func(t *testing.T, p *Parsed) {
			if len(p.Blobs) != 2 || len(p.Layers) != 2 {
				t.Errorf("Blobs = %v, %d layers", p.Blobs, len(p.Layers))
			}
		}},
		{"layer equal to config counts once", ociM, image(cfg, desc(`"a/b"`, `"sha256:d75ada6cb4b0a50a5450a7c8ff8e871580553159f5d525278742ee2501a3520a"`, "1023", "")), func(t *testing.T, p *Parsed) {
			if len(p.Blobs) != 1 {
				t.Errorf("Blobs = %v", p.Blobs)
			}
		}},
		{"non-distributable layers are not blobs", ociM, image(cfg,
			desc(`"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"`, goodDigest, "10", ""),
			desc(`"application/vnd.oci.image.layer.v1.tar"`, `"sha256:`+strings.Repeat("1", 64)+`"`, "10", `"urls":["https://example.com/layer"]`),
			desc(`"`+MediaTypeDockerForeignLayer+`"`, `"sha256:`+strings.Repeat("2", 64)+`"`, "10", ""),
		), func(t *testing.T, p *Parsed) {
			if len(p.Blobs) != 1 || len(p.Layers) != 3 {
				t.Errorf("Blobs = %v, %d layers", p.Blobs, len(p.Layers))
			}
			want := []digest.Digest{digest.Digest(strings.Trim(goodDigest, `"`)), digest.Digest("sha256:" + strings.Repeat("1", 64)), digest.Digest("sha256:" + strings.Repeat("2", 64))}
			if !slices.Equal(p.External, want) {
				t.Errorf("External = %v, want %v", p.External, want)
			}
		}},
		{"a digest both pushed and external is a blob only", ociM, image(cfg,
			desc(`"application/vnd.oci.image.layer.v1.tar"`, goodDigest, "10", `"urls":["https://example.com/layer"]`),
			desc(`"application/vnd.oci.image.layer.v1.tar"`, goodDigest, "10", ""),
		), func(t *testing.T, p *Parsed) {
			if len(p.Blobs) != 2 || len(p.External) != 0 {
				t.Errorf("Blobs = %v, External = %v", p.Blobs, p.External)
			}
		}},
		{"embedded data matching its digest", ociM, image(`{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + string(emptyJSON) + `","size":2,"data":"e30="}`), func(t *testing.T, p *Parsed) {
			if string(p.Config.Data) != "{}" || p.ArtifactType != v1.MediaTypeEmptyJSON {
				t.Errorf("Config = %+v, ArtifactType %q", p.Config, p.ArtifactType)
			}
		}},
		{"sha512 digests", ociM, image(cfg, desc(`"a/b"`, `"`+string(digest.SHA512.FromString("x"))+`"`, "1", "")), nil},
		{"zero size", ociM, image(cfg, desc(`"a/b"`, goodDigest, "0", "")), nil},
		{"artifactType overrides config", ociM, `{"schemaVersion":2,"artifactType":"application/vnd.example+type","config":` + cfg + `}`, func(t *testing.T, p *Parsed) {
			if p.ArtifactType != "application/vnd.example+type" {
				t.Errorf("ArtifactType = %q", p.ArtifactType)
			}
		}},
		{"mediaType in body matches Content-Type", MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":` + cfg + `}`, nil},
		{"mediaType missing in body, Content-Type decides", MediaTypeDockerManifest, `{"schemaVersion":2,"config":` + cfg + `}`, func(t *testing.T, p *Parsed) {
			if p.MediaType != MediaTypeDockerManifest {
				t.Errorf("MediaType = %q", p.MediaType)
			}
		}},
		{"duplicate children count once", ociI, `{"schemaVersion":2,"manifests":[` + child + `,` + child + `]}`, func(t *testing.T, p *Parsed) {
			if len(p.Children) != 1 || len(p.Manifests) != 2 {
				t.Errorf("Children = %v, %d manifests", p.Children, len(p.Manifests))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.contentType, []byte(tt.body))
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if tt.check != nil {
				tt.check(t, p)
			}
		})
	}
}

func TestParseErrorsAreBounded(t *testing.T) {
	huge := strings.Repeat("a", 1<<20)
	for _, body := range []string{
		image(cfg, desc(`"`+huge+`/x"`, `"sha256:0"`, "1", "")),
		image(cfg, desc(`"a/b"`, `"sha256:`+huge+`"`, "1", "")),
		`{"schemaVersion":2,"mediaType":"` + huge + `","config":` + cfg + `}`,
	} {
		_, err := Parse("", []byte(body))
		if err == nil || len(err.Error()) > 1000 {
			t.Errorf("error of %d bytes for hostile input", len(err.Error()))
		}
	}
	_, err := Parse(huge, []byte(image(cfg)))
	if err == nil || len(err.Error()) > 1000 {
		t.Errorf("error of %d bytes for a hostile Content-Type", len(err.Error()))
	}
}
