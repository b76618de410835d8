package distribution

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/manifest"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
)

// getManifest serves GET and HEAD of a manifest by tag or digest.
//
// The manifest is returned in the media type it was pushed with. When the
// request's Accept header lists types that exclude it (and no wildcard),
// the answer is 404 MANIFEST_UNKNOWN, as the reference registry does:
// moat never converts manifests, so the client gets nothing it can parse.
func (h *handler) getManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	m, err := h.reg.ServeManifest(req.Context(), rt.name, rt.arg, req.Method == http.MethodGet)
	for _, gate := range h.gates {
		if err != nil {
			break
		}
		err = gate(req.Context(), rt.name, m)
	}
	if req.Method == http.MethodGet {
		e := Event{Action: policy.ActionPull, Repository: rt.name, Reference: rt.arg, Err: err}
		if m != nil {
			e.Digest = m.Digest
		}
		h.notify(req.Context(), e)
	}
	if err != nil {
		return err
	}
	if !accepts(req.Header.Values("Accept"), m.MediaType) {
		return fmt.Errorf("%w: manifest %s has media type %s, which the Accept header excludes", registry.ErrManifestUnknown, m.Digest, m.MediaType)
	}
	hd := w.Header()
	hd.Set("Content-Type", m.MediaType)
	hd.Set("Content-Length", strconv.Itoa(len(m.Content)))
	hd.Set("Docker-Content-Digest", m.Digest.String())
	hd.Set("ETag", `"`+m.Digest.String()+`"`)
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(m.Content)
	}
	return nil
}

// mayDeleteFixed refuses a delete that would remove an immutable tag,
// unless a policy grants registry:DeleteImmutable (without access
// control, no one may: make the repository mutable first).
func (h *handler) mayDeleteFixed(ctx context.Context, rt route) error {
	fixed, err := h.reg.FixedTags(ctx, rt.name, rt.arg)
	if err != nil || len(fixed) == 0 {
		return err
	}
	// No token scope names registry:DeleteImmutable: the caller's
	// policies decide, the request's delete scope having been checked.
	if p, ok := h.authz.(principalAuthorizer); ok && p.Exempt(ctx, policy.ActionDeleteImmutable, rt.name) {
		return nil
	}
	return &meta.TagImmutableError{Repository: rt.name, Tag: strings.Join(fixed, ", ")}
}

// principalAuthorizer decides by the caller's policies alone, whatever its
// token's scopes (auth.Guard).
type principalAuthorizer interface {
	Exempt(ctx context.Context, action policy.Action, repo string) bool
}

// accepts reports whether an Accept header (possibly repeated) admits
// mediaType. No header admits everything.
func accepts(values []string, mediaType string) bool {
	seen := false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			seen = true
			mt, _, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if mt == "*/*" || mt == mediaType {
				return true
			}
			if typ, ok := strings.CutSuffix(mt, "/*"); ok && strings.HasPrefix(mediaType, typ+"/") {
				return true
			}
		}
	}
	return !seen
}

// putManifest stores a manifest pushed by tag or digest; "tag" query
// parameters add tags to a push by digest.
func (h *handler) putManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	if req.ContentLength > manifest.MaxSize {
		return fmt.Errorf("%w: manifest of %d bytes exceeds %d", registry.ErrTooLarge, req.ContentLength, manifest.MaxSize)
	}
	body := http.MaxBytesReader(w, req.Body, manifest.MaxSize)
	res, err := h.reg.PutManifest(req.Context(), registry.PutManifestRequest{
		Repository:  rt.name,
		Reference:   rt.arg,
		ContentType: req.Header.Get("Content-Type"),
		Body:        body,
		Tags:        req.URL.Query()["tag"],
	})
	e := Event{Action: policy.ActionPush, Repository: rt.name, Reference: rt.arg, Manifest: true, Err: err}
	if res != nil {
		e.Digest, e.Tags, e.Moved, e.Subject = res.Digest, res.Tags, res.Moved, res.Subject
	}
	h.notify(req.Context(), e)
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Location", "/v2/"+rt.name+"/manifests/"+res.Digest.String())
	hd.Set("Docker-Content-Digest", res.Digest.String())
	if res.Subject != "" {
		hd.Set("OCI-Subject", res.Subject.String())
	}
	for _, t := range req.URL.Query()["tag"] {
		hd.Add("OCI-Tag", t)
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteManifest deletes a manifest by digest, or only the tag when the
// reference is a tag.
func (h *handler) deleteManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	err := h.mayDeleteFixed(req.Context(), rt)
	if err == nil {
		err = h.reg.DeleteManifest(req.Context(), rt.name, rt.arg)
	}
	h.notify(req.Context(), Event{Action: policy.ActionDelete, Repository: rt.name, Reference: rt.arg, Manifest: true, Err: err})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
