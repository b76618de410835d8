// Package registrytest holds in-memory fakes of moat's storage seams for
// unit tests of packages registry and distribution. They follow the
// contracts of blob.Driver and meta.Store closely enough for those tests;
// the real implementations are tested by blob/blobtest and meta/metatest.
package registrytest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/meta"
	"github.com/opencontainers/go-digest"
)

// MemStore is an in-memory meta.Store.
type MemStore struct {
	mu        sync.Mutex
	now       func() time.Time
	repos     map[string]bool
	blobs     map[digest.Digest]*memBlob
	links     map[string]map[digest.Digest]bool // repo -> digests
	manifests map[string]map[digest.Digest]*meta.Manifest
	tags      map[string]map[string]digest.Digest
	uploads   map[string]meta.Upload
}

type memBlob struct {
	size    int64
	touched time.Time
}

var _ meta.Store = (*MemStore)(nil)

// NewMemStore returns an empty store using now as its clock (time.Now if nil).
func NewMemStore(now func() time.Time) *MemStore {
	if now == nil {
		now = time.Now
	}
	return &MemStore{
		now: now, repos: map[string]bool{}, blobs: map[digest.Digest]*memBlob{},
		links: map[string]map[digest.Digest]bool{}, manifests: map[string]map[digest.Digest]*meta.Manifest{},
		tags: map[string]map[string]digest.Digest{}, uploads: map[string]meta.Upload{},
	}
}

func (s *MemStore) Close() error { return nil }

func (s *MemStore) ensureRepo(repo string) {
	if !s.repos[repo] {
		s.repos[repo] = true
		s.links[repo] = map[digest.Digest]bool{}
		s.manifests[repo] = map[digest.Digest]*meta.Manifest{}
		s.tags[repo] = map[string]digest.Digest{}
	}
}

func (s *MemStore) PutBlob(_ context.Context, repo string, d digest.Digest, size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureRepo(repo)
	s.blobs[d] = &memBlob{size: size, touched: s.now()}
	s.links[repo][d] = true
	return nil
}

func (s *MemStore) LinkBlob(_ context.Context, repo string, d digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d]
	if !ok {
		return fmt.Errorf("link %s: %w", d, meta.ErrNotFound)
	}
	s.ensureRepo(repo)
	b.touched = s.now()
	s.links[repo][d] = true
	return nil
}

func (s *MemStore) StatBlob(_ context.Context, repo string, d digest.Digest) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.links[repo][d] {
		return 0, fmt.Errorf("stat %s: %w", d, meta.ErrNotFound)
	}
	return s.blobs[d].size, nil
}

func (s *MemStore) UnlinkBlob(_ context.Context, repo string, d digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.links[repo][d] {
		return fmt.Errorf("unlink %s: %w", d, meta.ErrNotFound)
	}
	delete(s.links[repo], d)
	return nil
}

func (s *MemStore) PutManifest(_ context.Context, m *meta.Manifest, tag string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo := m.Repository
	missing := &meta.MissingError{}
	for _, b := range m.Blobs {
		if !s.links[repo][b] {
			missing.Blobs = append(missing.Blobs, b)
		}
	}
	for _, c := range m.Children {
		if _, ok := s.manifests[repo][c]; !ok {
			missing.Manifests = append(missing.Manifests, c)
		}
	}
	if len(missing.Blobs)+len(missing.Manifests) > 0 {
		return missing
	}
	s.ensureRepo(repo)
	if old, ok := s.manifests[repo][m.Digest]; ok {
		old.PushedAt, old.PushedBy = m.PushedAt, m.PushedBy
	} else {
		cp := *m
		cp.Content = slices.Clone(m.Content)
		s.manifests[repo][m.Digest] = &cp
	}
	for _, b := range m.Blobs {
		s.blobs[b].touched = s.now()
	}
	if tag != "" {
		s.tags[repo][tag] = m.Digest
	}
	return nil
}

func (s *MemStore) GetManifest(_ context.Context, repo string, d digest.Digest) (*meta.Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.manifests[repo][d]
	if !ok {
		return nil, fmt.Errorf("manifest %s: %w", d, meta.ErrNotFound)
	}
	cp := *m
	return &cp, nil
}

func (s *MemStore) ResolveTag(_ context.Context, repo, tag string) (digest.Digest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.tags[repo][tag]
	if !ok {
		return "", fmt.Errorf("tag %s: %w", tag, meta.ErrNotFound)
	}
	return d, nil
}

func (s *MemStore) DeleteManifest(_ context.Context, repo string, d digest.Digest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.manifests[repo][d]; !ok {
		return fmt.Errorf("manifest %s: %w", d, meta.ErrNotFound)
	}
	delete(s.manifests[repo], d)
	for t, td := range s.tags[repo] {
		if td == d {
			delete(s.tags[repo], t)
		}
	}
	return nil
}

func (s *MemStore) DeleteTag(_ context.Context, repo, tag string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tags[repo][tag]; !ok {
		return fmt.Errorf("tag %s: %w", tag, meta.ErrNotFound)
	}
	delete(s.tags[repo], tag)
	return nil
}

func page(items []string, p meta.Page) []string {
	sort.Strings(items)
	out := []string{}
	for _, it := range items {
		if p.Last != "" && it <= p.Last {
			continue
		}
		if p.N > 0 && len(out) == p.N {
			break
		}
		out = append(out, it)
	}
	return out
}

func (s *MemStore) ListTags(_ context.Context, repo string, p meta.Page) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.repos[repo] {
		return nil, fmt.Errorf("repository %s: %w", repo, meta.ErrNotFound)
	}
	var tags []string
	for t := range s.tags[repo] {
		tags = append(tags, t)
	}
	return page(tags, p), nil
}

func (s *MemStore) ListRepositories(_ context.Context, p meta.Page) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for r := range s.repos {
		names = append(names, r)
	}
	return page(names, p), nil
}

func (s *MemStore) Referrers(_ context.Context, repo string, d digest.Digest, artifactType string) ([]meta.Descriptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []meta.Descriptor
	for _, m := range s.manifests[repo] {
		if m.Subject != d || (artifactType != "" && m.ArtifactType != artifactType) {
			continue
		}
		out = append(out, meta.Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: m.Digest, Size: m.Size, Annotations: m.Annotations})
	}
	slices.SortFunc(out, func(a, b meta.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	return out, nil
}

func (s *MemStore) MarkPulled(_ context.Context, repo string, d digest.Digest, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.manifests[repo][d]; ok {
		m.PulledAt = at
	}
	return nil
}

func (s *MemStore) CreateUpload(_ context.Context, u *meta.Upload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.uploads[u.ID]; ok {
		return fmt.Errorf("upload %s exists: %w", u.ID, meta.ErrConflict)
	}
	s.uploads[u.ID] = *u
	return nil
}

func (s *MemStore) GetUpload(_ context.Context, id string) (*meta.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[id]
	if !ok {
		return nil, fmt.Errorf("upload %s: %w", id, meta.ErrNotFound)
	}
	u.HashState = slices.Clone(u.HashState)
	return &u, nil
}

func (s *MemStore) AdvanceUpload(_ context.Context, u *meta.Upload, from int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.uploads[u.ID]
	if !ok {
		return fmt.Errorf("upload %s: %w", u.ID, meta.ErrNotFound)
	}
	if cur.Offset != from {
		return fmt.Errorf("upload %s at %d, not %d: %w", u.ID, cur.Offset, from, meta.ErrConflict)
	}
	cur.Offset, cur.HashState, cur.UpdatedAt = u.Offset, slices.Clone(u.HashState), u.UpdatedAt
	s.uploads[u.ID] = cur
	return nil
}

func (s *MemStore) DeleteUpload(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.uploads[id]; !ok {
		return fmt.Errorf("upload %s: %w", id, meta.ErrNotFound)
	}
	delete(s.uploads, id)
	return nil
}

func (s *MemStore) StaleUploads(_ context.Context, before time.Time, limit int) ([]meta.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []meta.Upload
	for _, u := range s.uploads {
		if u.UpdatedAt.Before(before) && len(out) < limit {
			out = append(out, u)
		}
	}
	return out, nil
}

func (s *MemStore) referenced(d digest.Digest) bool {
	for _, ms := range s.manifests {
		for _, m := range ms {
			if slices.Contains(m.Blobs, d) {
				return true
			}
		}
	}
	return false
}

func (s *MemStore) GCCandidates(_ context.Context, before time.Time, limit int) ([]digest.Digest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []digest.Digest
	for d, b := range s.blobs {
		if b.touched.Before(before) && !s.referenced(d) && len(out) < limit {
			out = append(out, d)
		}
	}
	return out, nil
}

func (s *MemStore) DeleteBlobIfUnreferenced(_ context.Context, d digest.Digest, before time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.blobs[d]
	if !ok || !b.touched.Before(before) || s.referenced(d) {
		return false, nil
	}
	delete(s.blobs, d)
	for _, l := range s.links {
		delete(l, d)
	}
	return true, nil
}

func (s *MemStore) HasBlob(_ context.Context, d digest.Digest) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.blobs[d]
	return ok, nil
}
