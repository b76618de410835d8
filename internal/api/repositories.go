package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/lifecycle"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/reference"
)

// Repositories serves repositories' settings; *sqlstore.Store is one.
type Repositories interface {
	TagMutability(ctx context.Context, repo string) (own, effective meta.TagMutability, err error)
	SetTagMutability(ctx context.Context, repo string, t meta.TagMutability) error
	RepositoryInfos(ctx context.Context, after string, n int) ([]sqlstore.RepositoryInfo, error)
}

type repositoryInfoJSON struct {
	Name          string     `json:"name"`
	CreatedAt     time.Time  `json:"createdAt"`
	ImageCount    int        `json:"imageCount"`
	SizeBytes     int64      `json:"sizeBytes"`
	LastPushedAt  *time.Time `json:"lastPushedAt,omitempty"`
	LastPulledAt  *time.Time `json:"lastPulledAt,omitempty"`
	TagMutability string     `json:"tagMutability,omitempty"`
	Lifecycle     bool       `json:"lifecyclePolicy"`
}

// listRepositories answers GET /api/v1/repositories?last=&n=: the
// repositories the caller may pull from, by name, with their size, image
// count and last push and pull.
func (h *handler) listRepositories(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	n := 100
	if v := q.Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("%w: n %q: want 1-1000", errBadRequest, v)
		}
	}
	after := q.Get("last")
	var out []repositoryInfoJSON
	for len(out) < n {
		page, err := h.Repositories.RepositoryInfos(r.Context(), after, n)
		if err != nil {
			return err
		}
		for _, ri := range page {
			after = ri.Name
			if len(out) == n || h.Authorizer.Authorize(r.Context(), policy.ActionPull, ri.Name) != nil {
				continue
			}
			j := repositoryInfoJSON{Name: ri.Name, CreatedAt: ri.CreatedAt, ImageCount: ri.Images, SizeBytes: ri.Size,
				TagMutability: ri.Mutability, Lifecycle: ri.Lifecycle}
			if !ri.LastPushed.IsZero() {
				j.LastPushedAt = &ri.LastPushed
			}
			if !ri.LastPulled.IsZero() {
				j.LastPulledAt = &ri.LastPulled
			}
			out = append(out, j)
		}
		if len(page) < n {
			after = ""
			break
		}
	}
	if out == nil {
		out = []repositoryInfoJSON{}
	}
	resp := map[string]any{"repositories": out}
	if after != "" && len(out) == n {
		resp["last"] = out[len(out)-1].Name
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// Lifecycle serves repositories' lifecycle policies; *expiry.Service is
// one.
type Lifecycle interface {
	Put(ctx context.Context, repo string, doc []byte) error
	Get(ctx context.Context, repo string) ([]byte, error)
	Delete(ctx context.Context, repo string) error
	Preview(ctx context.Context, repo string, doc []byte) ([]lifecycle.Verdict, error)
	Run(ctx context.Context, repo string) ([]lifecycle.Verdict, error)
}

// repositoryPath splits /api/v1/repositories/{name}[/lifecycle-policy[/{op}]]:
// what is "", "lifecycle-policy", "lifecycle-policy/preview" or
// "lifecycle-policy/run".
func repositoryPath(r *http.Request) (name, what string, err error) {
	name = strings.TrimPrefix(r.URL.Path, "/api/v1/repositories/")
	for _, suffix := range []string{"/lifecycle-policy/preview", "/lifecycle-policy/run", "/lifecycle-policy"} {
		if n, ok := strings.CutSuffix(name, suffix); ok {
			name, what = n, suffix[1:]
			break
		}
	}
	if err := reference.ValidRepository(name); err != nil {
		return "", "", fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return name, what, nil
}

// repositoryName reads {name} of /api/v1/repositories/{name}.
func repositoryName(r *http.Request) (string, error) {
	name, what, err := repositoryPath(r)
	if err == nil && what != "" {
		err = errNoRoute
	}
	return name, err
}

type repositoryJSON struct {
	Name string `json:"name"`
	// Settings are the repository's own ("" mode: the registry default);
	// Effective what applies.
	Settings  meta.TagMutability `json:"settings"`
	Effective meta.TagMutability `json:"effective"`
}

// getRepository answers GET /api/v1/repositories/{name}: its settings,
// and GET …/lifecycle-policy.
func (h *handler) getRepository(w http.ResponseWriter, r *http.Request) error {
	name, what, err := repositoryPath(r)
	if err != nil || (what != "" && (what != "lifecycle-policy" || h.Lifecycle == nil)) {
		return errNoRoute
	}
	if what != "" {
		if err := h.Authorizer.Authorize(r.Context(), policy.ActionPull, name); err != nil {
			return err
		}
		doc, err := h.Lifecycle.Get(r.Context(), name)
		if err != nil {
			return err
		}
		return writeRaw(w, "application/json", doc)
	}
	if err := h.Authorizer.Authorize(r.Context(), policy.ActionPull, name); err != nil {
		return err
	}
	own, eff, err := h.Repositories.TagMutability(r.Context(), name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, repositoryJSON{Name: name, Settings: own, Effective: eff})
	return nil
}

// putRepository answers PUT /api/v1/repositories/{name}: it sets the
// repository's settings, creating it when it does not exist yet.
func (h *handler) putRepository(w http.ResponseWriter, r *http.Request) error {
	name, what, err := repositoryPath(r)
	if err != nil {
		return err
	}
	if what == "lifecycle-policy" && h.Lifecycle != nil {
		doc, err := io.ReadAll(r.Body)
		if err != nil {
			return fmt.Errorf("%w: %v", errBadRequest, err)
		}
		err = h.Lifecycle.Put(r.Context(), name, doc)
		h.record(r.Context(), "admin:PutLifecyclePolicy", policy.RepositoryResource(name), map[string]any{"document": string(doc)}, err)
		if err != nil {
			return err
		}
		return writeRaw(w, "application/json", doc)
	}
	if what != "" {
		return errNoRoute
	}
	var body meta.TagMutability
	if err := decode(r, &body); err != nil {
		return err
	}
	err = h.Repositories.SetTagMutability(r.Context(), name, body)
	h.record(r.Context(), "admin:PutRepositorySettings", policy.RepositoryResource(name), map[string]any{"tagMutability": body.Mode,
		"exclusions": body.Exclusions}, err)
	if err != nil {
		return err
	}
	return h.getRepository(w, r)
}

// deleteLifecyclePolicy answers DELETE …/{name}/lifecycle-policy.
func (h *handler) deleteLifecyclePolicy(w http.ResponseWriter, r *http.Request) error {
	name, what, err := repositoryPath(r)
	if err != nil || what != "lifecycle-policy" {
		return errNoRoute
	}
	err = h.Lifecycle.Delete(r.Context(), name)
	h.record(r.Context(), "admin:DeleteLifecyclePolicy", policy.RepositoryResource(name), nil, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type verdictJSON struct {
	Digest       string   `json:"digest"`
	Tags         []string `json:"tags"`
	Expire       bool     `json:"expire"`
	RulePriority int      `json:"rulePriority,omitempty"`
	Reason       string   `json:"reason,omitempty"`
}

func verdictsJSON(vs []lifecycle.Verdict) []verdictJSON {
	out := make([]verdictJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, verdictJSON{Digest: v.Digest, Tags: nonNilStrings(v.Tags), Expire: v.Expire, RulePriority: v.RulePriority, Reason: v.Reason})
	}
	return out
}

// lifecyclePost answers POST …/lifecycle-policy/preview (the stored policy,
// or the one in the body, changing nothing) and …/lifecycle-policy/run.
func (h *handler) lifecyclePost(w http.ResponseWriter, r *http.Request, name, what string) error {
	ctx := r.Context()
	if what == "lifecycle-policy/run" {
		if err := h.authorize(ctx, policy.ActionAdminRegistry); err != nil {
			return err
		}
		expired, err := h.Lifecycle.Run(ctx, name)
		h.record(ctx, "admin:RunLifecyclePolicy", policy.RepositoryResource(name), map[string]any{"expired": len(expired)}, err)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"expired": verdictsJSON(expired)})
		return nil
	}
	if err := h.Authorizer.Authorize(ctx, policy.ActionPull, name); err != nil {
		return err
	}
	doc, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		doc = nil
	}
	vs, err := h.Lifecycle.Preview(ctx, name, doc)
	if err != nil {
		return err
	}
	n := 0
	for _, v := range vs {
		if v.Expire {
			n++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"expiring": n, "images": verdictsJSON(vs)})
	return nil
}
