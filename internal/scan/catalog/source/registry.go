package source

import (
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// remoteLayer streams a layer blob from the registry.
type remoteLayer struct {
	digest string
	l      v1.Layer
}

func (r *remoteLayer) Digest() string { return r.digest }

func (r *remoteLayer) Open(context.Context) (io.ReadCloser, error) { return r.l.Compressed() }

func openRegistry(ctx context.Context, ref string, o *options) (Image, error) {
	var nopts []name.Option
	if o.plainHTTP {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnknownSource, ref, err)
	}
	ri, err := remote.Image(r,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain),
		remote.WithPlatform(v1.Platform{OS: o.os, Architecture: o.arch}),
	)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", ref, err)
	}
	d, err := ri.Digest()
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", ref, err)
	}
	ls, err := ri.Layers()
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", ref, err)
	}
	img := &image{kind: Registry, digest: d.String(), config: ri.RawConfigFile}
	for _, l := range ls {
		ld, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", ref, err)
		}
		img.layers = append(img.layers, &remoteLayer{digest: ld.String(), l: l})
	}
	return img, nil
}

var _ catalog.Layer = (*remoteLayer)(nil)
