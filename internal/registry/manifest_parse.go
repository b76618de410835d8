package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxManifestSize is the largest manifest accepted.
const MaxManifestSize = 4 << 20

// TEMPORARY until internal/manifest lands.
type parsedManifest struct {
	MediaType    string
	ArtifactType string
	Subject      *v1.Descriptor
	Config       *v1.Descriptor
	Annotations  map[string]string
	Blobs        []digest.Digest
	Children     []digest.Digest
}

var (
	errParseInvalid     = errors.New("manifest invalid")
	errParseUnsupported = errors.New("manifest unsupported")
)

func parseManifest(contentType string, body []byte) (*parsedManifest, error) {
	var raw struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		ArtifactType  string            `json:"artifactType"`
		Config        *v1.Descriptor    `json:"config"`
		Layers        []v1.Descriptor   `json:"layers"`
		Manifests     []v1.Descriptor   `json:"manifests"`
		Subject       *v1.Descriptor    `json:"subject"`
		Annotations   map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: %w", errParseInvalid, err)
	}
	mt := contentType
	if mt == "" {
		mt = raw.MediaType
	}
	if raw.MediaType != "" && raw.MediaType != mt {
		return nil, fmt.Errorf("%w: mediaType %q differs from Content-Type %q", errParseInvalid, raw.MediaType, mt)
	}
	p := &parsedManifest{MediaType: mt, ArtifactType: raw.ArtifactType, Subject: raw.Subject, Config: raw.Config, Annotations: raw.Annotations}
	switch mt {
	case v1.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json":
		if raw.SchemaVersion != 2 || raw.Config == nil {
			return nil, fmt.Errorf("%w: image manifest needs schemaVersion 2 and config", errParseInvalid)
		}
		if err := raw.Config.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", errParseInvalid, err)
		}
		p.Blobs = append(p.Blobs, raw.Config.Digest)
		for _, l := range raw.Layers {
			if err := l.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("%w: %w", errParseInvalid, err)
			}
			if strings.Contains(l.MediaType, "nondistributable") || strings.Contains(l.MediaType, "foreign") {
				continue
			}
			p.Blobs = append(p.Blobs, l.Digest)
		}
	case v1.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json":
		if raw.SchemaVersion != 2 {
			return nil, fmt.Errorf("%w: index needs schemaVersion 2", errParseInvalid)
		}
		for _, m := range raw.Manifests {
			if err := m.Digest.Validate(); err != nil {
				return nil, fmt.Errorf("%w: %w", errParseInvalid, err)
			}
			p.Children = append(p.Children, m.Digest)
		}
	default:
		return nil, fmt.Errorf("%w: media type %q", errParseUnsupported, mt)
	}
	if raw.Subject != nil {
		if err := raw.Subject.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("%w: subject: %w", errParseInvalid, err)
		}
	}
	return p, nil
}
