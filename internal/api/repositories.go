package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/reference"
)

// Repositories serves repositories' settings; *sqlstore.Store is one.
type Repositories interface {
	TagMutability(ctx context.Context, repo string) (own, effective meta.TagMutability, err error)
	SetTagMutability(ctx context.Context, repo string, t meta.TagMutability) error
}

// repositoryName reads {name} of /api/v1/repositories/{name}.
func repositoryName(r *http.Request) (string, error) {
	name := strings.TrimPrefix(r.URL.Path, "/api/v1/repositories/")
	if err := reference.ValidRepository(name); err != nil {
		return "", fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return name, nil
}

type repositoryJSON struct {
	Name string `json:"name"`
	// Settings are the repository's own ("" mode: the registry default);
	// Effective what applies.
	Settings  meta.TagMutability `json:"settings"`
	Effective meta.TagMutability `json:"effective"`
}

// getRepository answers GET /api/v1/repositories/{name}: its settings.
func (h *handler) getRepository(w http.ResponseWriter, r *http.Request) error {
	name, err := repositoryName(r)
	if err != nil {
		return errNoRoute
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
	name, err := repositoryName(r)
	if err != nil {
		return err
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
