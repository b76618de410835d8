package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moat-dev/moat/internal/manifest"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/reference"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// PutManifestRequest is one manifest push.
type PutManifestRequest struct {
	Repository string
	// Reference is the tag or digest from the URL.
	Reference   string
	ContentType string
	Body        io.Reader
	// Tags are extra tags to point at the manifest (the "tag" query
	// parameters of a push by digest).
	Tags []string
}

// PutManifestResult describes a stored manifest.
type PutManifestResult struct {
	Digest digest.Digest
	// Subject is the digest of the manifest's subject, if it has one.
	Subject digest.Digest
	// Tags now pointing at the manifest because of this push.
	Tags []string
	// Moved maps each of Tags that pointed at another manifest before
	// to that manifest's digest.
	Moved map[string]digest.Digest
}

// PutManifest validates and stores a manifest. Pushed by digest, the body
// must hash to that digest with the same algorithm; pushed by tag, its
// digest is sha256. Every blob and child manifest it references must
// already be in the repository (non-distributable layers excepted); a
// missing subject is allowed, as the spec requires. Nothing is stored when
// any check fails.
func (r *Registry) PutManifest(ctx context.Context, req PutManifestRequest) (*PutManifestResult, error) {
	if err := validRepo(req.Repository); err != nil {
		return nil, err
	}
	ref, err := parseReference(req.Reference)
	if err != nil {
		return nil, err
	}
	tags := req.Tags
	if !ref.IsDigest() {
		tags = append([]string{ref.Tag}, tags...)
	}
	for _, t := range req.Tags {
		if err := reference.ValidTag(t); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTagInvalid, err)
		}
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, manifest.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading manifest: %w", ErrManifestInvalid, err)
	}
	if len(body) > manifest.MaxSize {
		return nil, fmt.Errorf("%w: manifest exceeds %d bytes", ErrTooLarge, manifest.MaxSize)
	}
	alg := digest.Canonical
	if ref.IsDigest() {
		alg = ref.Digest.Algorithm()
	}
	d := alg.FromBytes(body)
	if ref.IsDigest() && d != ref.Digest {
		return nil, &DigestMismatchError{Expected: ref.Digest, Computed: d}
	}
	p, err := manifest.Parse(req.ContentType, body)
	switch {
	case errors.Is(err, manifest.ErrTooLarge):
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
	case err != nil:
		// Unsupported kinds (Docker schema 1, unknown media types) are
		// invalid manifests to the client, as in the reference registry.
		return nil, fmt.Errorf("%w: %w", ErrManifestInvalid, err)
	}
	m := &meta.Manifest{
		Repository:   req.Repository,
		Digest:       d,
		MediaType:    p.MediaType,
		ArtifactType: p.ArtifactType,
		Subject:      p.Subject,
		Size:         int64(len(body)),
		Content:      body,
		Annotations:  p.Annotations,
		Blobs:        p.Blobs,
		External:     p.External,
		Children:     p.Children,
		PushedAt:     r.now(),
		PushedBy:     Actor(ctx),
	}
	res := &PutManifestResult{Digest: d, Subject: m.Subject, Tags: tags}
	if len(tags) == 0 {
		if _, err := r.md.PutManifest(ctx, m, ""); err != nil {
			return nil, manifestStoreError(req.Repository, d, err)
		}
		return res, nil
	}
	for _, t := range tags {
		prev, err := r.md.PutManifest(ctx, m, t)
		if err != nil {
			return nil, manifestStoreError(req.Repository, d, err)
		}
		if prev != "" && prev != d {
			if res.Moved == nil {
				res.Moved = make(map[string]digest.Digest)
			}
			res.Moved[t] = prev
		}
	}
	return res, nil
}

func manifestStoreError(repo string, d digest.Digest, err error) error {
	var missing *meta.MissingError
	if errors.As(err, &missing) {
		return &MissingContentError{Blobs: missing.Blobs, Manifests: missing.Manifests}
	}
	return fmt.Errorf("store manifest %s in %s: %w", d, repo, err)
}

// pullResolution is how stale a manifest's last-pull time may get before
// a pull rewrites it.
const pullResolution = time.Minute

// GetManifest returns the manifest ref (tag or digest) of repo and records
// the pull.
func (r *Registry) GetManifest(ctx context.Context, repo, ref string) (*meta.Manifest, error) {
	m, err := r.StatManifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	r.recordPull(ctx, repo, m)
	return m, nil
}

// recordPull marks m pulled now, unless it was recently enough.
func (r *Registry) recordPull(ctx context.Context, repo string, m *meta.Manifest) {
	now := r.now()
	if now.Sub(m.PulledAt) < pullResolution {
		// Recorded recently enough: spare the database a write per pull.
		return
	}
	if err := r.md.MarkPulled(ctx, repo, m.Digest, now); err != nil {
		// Bookkeeping only: a pull must not fail because of it.
		r.log.Warn("record pull", "repository", repo, "digest", m.Digest, "err", err)
	}
}

// ServeManifest returns the manifest ref of repo as a pull serves it: in
// one read, without its references (Blobs, Children, External). With
// pull, the pull is recorded as GetManifest records it.
func (r *Registry) ServeManifest(ctx context.Context, repo, ref string, pull bool) (*meta.Manifest, error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	rf, err := parseReference(ref)
	if err != nil {
		return nil, err
	}
	m, err := r.md.FetchManifest(ctx, repo, rf.Tag, rf.Digest)
	switch {
	case errors.Is(err, meta.ErrNotFound) && rf.IsDigest():
		return nil, fmt.Errorf("%w: %s@%s", ErrManifestUnknown, repo, rf.Digest)
	case errors.Is(err, meta.ErrNotFound):
		return nil, fmt.Errorf("%w: %s:%s", ErrManifestUnknown, repo, rf.Tag)
	case err != nil:
		return nil, err
	}
	if pull {
		r.recordPull(ctx, repo, m)
	}
	return m, nil
}

// StatManifest returns the manifest ref of repo without recording a pull
// (HEAD requests).
func (r *Registry) StatManifest(ctx context.Context, repo, ref string) (*meta.Manifest, error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	rf, err := parseReference(ref)
	if err != nil {
		return nil, err
	}
	d := rf.Digest
	if !rf.IsDigest() {
		d, err = r.md.ResolveTag(ctx, repo, rf.Tag)
		if errors.Is(err, meta.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s:%s", ErrManifestUnknown, repo, rf.Tag)
		} else if err != nil {
			return nil, fmt.Errorf("resolve %s:%s: %w", repo, rf.Tag, err)
		}
	}
	m, err := r.md.GetManifest(ctx, repo, d)
	if errors.Is(err, meta.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s@%s", ErrManifestUnknown, repo, d)
	} else if err != nil {
		return nil, fmt.Errorf("get manifest %s@%s: %w", repo, d, err)
	}
	return m, nil
}

// FixedTags lists the immutable tags deleting ref (a tag, or a digest and
// every tag on it) would remove.
func (r *Registry) FixedTags(ctx context.Context, repo, ref string) ([]string, error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	rf, err := parseReference(ref)
	if err != nil {
		return nil, err
	}
	return r.md.FixedTags(ctx, repo, rf.Tag, rf.Digest)
}

// DeleteManifest deletes a manifest by digest (with every tag pointing at
// it) or, given a tag, only that tag.
func (r *Registry) DeleteManifest(ctx context.Context, repo, ref string) error {
	if err := validRepo(repo); err != nil {
		return err
	}
	rf, err := parseReference(ref)
	if err != nil {
		return err
	}
	if rf.IsDigest() {
		err = r.md.DeleteManifest(ctx, repo, rf.Digest)
	} else {
		err = r.md.DeleteTag(ctx, repo, rf.Tag)
	}
	if errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: %s in %s", ErrManifestUnknown, ref, repo)
	} else if err != nil {
		return fmt.Errorf("delete %s in %s: %w", ref, repo, err)
	}
	return nil
}

// Page asks for at most N entries after Last. N < 0 means all.
type Page struct {
	N    int
	Last string
}

// Tags lists repo's tags in lexical order and reports whether more follow.
func (r *Registry) Tags(ctx context.Context, repo string, p Page) ([]string, bool, error) {
	if err := validRepo(repo); err != nil {
		return nil, false, err
	}
	return r.page(p, func(mp meta.Page) ([]string, error) {
		tags, err := r.md.ListTags(ctx, repo, mp)
		if errors.Is(err, meta.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNameUnknown, repo)
		} else if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", repo, err)
		}
		return tags, nil
	})
}

// Repositories lists repository names in lexical order and reports whether
// more follow.
func (r *Registry) Repositories(ctx context.Context, p Page) ([]string, bool, error) {
	return r.page(p, func(mp meta.Page) ([]string, error) {
		names, err := r.md.ListRepositories(ctx, mp)
		if err != nil {
			return nil, fmt.Errorf("list repositories: %w", err)
		}
		return names, nil
	})
}

// page asks for one entry more than requested to learn whether more follow.
func (r *Registry) page(p Page, list func(meta.Page) ([]string, error)) ([]string, bool, error) {
	n := p.N
	if n < 0 || n > r.maxPage {
		n = r.maxPage
	}
	if n == 0 {
		// Still consult the store: an unknown repository is an error.
		if _, err := list(meta.Page{N: 1, Last: p.Last}); err != nil {
			return nil, false, err
		}
		return []string{}, false, nil
	}
	items, err := list(meta.Page{N: n + 1, Last: p.Last})
	if err != nil {
		return nil, false, err
	}
	if items == nil {
		items = []string{}
	}
	if len(items) > n {
		return items[:n], true, nil
	}
	return items, false, nil
}

// Referrers returns an OCI image index listing the manifests of repo whose
// subject is d, optionally only those of artifactType. An unknown subject
// or repository yields an empty index.
func (r *Registry) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) (*v1.Index, error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	if err := validDigest(d); err != nil {
		return nil, err
	}
	descs, err := r.md.Referrers(ctx, repo, d, artifactType)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, fmt.Errorf("referrers of %s in %s: %w", d, repo, err)
	}
	idx := &v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: make([]v1.Descriptor, 0, len(descs)),
	}
	for _, rd := range descs {
		idx.Manifests = append(idx.Manifests, v1.Descriptor{
			MediaType:    rd.MediaType,
			ArtifactType: rd.ArtifactType,
			Digest:       rd.Digest,
			Size:         rd.Size,
			Annotations:  rd.Annotations,
		})
	}
	return idx, nil
}

func parseReference(s string) (reference.Reference, error) {
	rf, err := reference.Parse(s)
	switch {
	case errors.Is(err, reference.ErrInvalidDigest):
		return rf, fmt.Errorf("%w: %w", ErrDigestInvalid, err)
	case err != nil:
		return rf, fmt.Errorf("%w: %w", ErrTagInvalid, err)
	}
	return rf, nil
}
