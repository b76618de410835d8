package distribution

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// pageOf reads the n and last query parameters; n absent means all.
func pageOf(q url.Values) (registry.Page, error) {
	p := registry.Page{N: -1, Last: q.Get("last")}
	if s := q.Get("n"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, fmt.Errorf("%w: n=%q must be a non-negative integer", errBadParameter, s)
		}
		p.N = n
	}
	return p, nil
}

// setNextLink adds the RFC 5988 Link header pointing at the next page.
func setNextLink(w http.ResponseWriter, path string, items []string, n int) {
	q := url.Values{}
	q.Set("n", strconv.Itoa(n))
	q.Set("last", items[len(items)-1])
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
}

func (h *handler) tags(w http.ResponseWriter, req *http.Request, rt route) error {
	p, err := pageOf(req.URL.Query())
	if err != nil {
		return err
	}
	tags, more, err := h.reg.Tags(req.Context(), rt.name, p)
	if err != nil {
		return err
	}
	if more {
		setNextLink(w, "/v2/"+rt.name+"/tags/list", tags, len(tags))
	}
	writeJSON(w, req, http.StatusOK, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
	return nil
}

func (h *handler) catalog(w http.ResponseWriter, req *http.Request) error {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return methodNotAllowed(w, "GET, HEAD")
	}
	p, err := pageOf(req.URL.Query())
	if err != nil {
		return err
	}
	var repos []string
	var more bool
	if h.authz == nil {
		repos, more, err = h.reg.Repositories(req.Context(), p)
	} else {
		if err := h.authz.Authorize(req.Context(), policy.ActionListRepositories, ""); err != nil {
			h.notify(req.Context(), Event{Action: policy.ActionListRepositories, Err: err})
			return err
		}
		repos, more, err = h.visibleRepositories(req.Context(), p)
	}
	if err != nil {
		return err
	}
	if more {
		setNextLink(w, "/v2/_catalog", repos, len(repos))
	}
	writeJSON(w, req, http.StatusOK, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
	return nil
}

// referrers lists the manifests whose subject is the digest, filtered by
// the artifactType query parameter if given.
func (h *handler) referrers(w http.ResponseWriter, req *http.Request, rt route) error {
	at := req.URL.Query().Get("artifactType")
	idx, err := h.reg.Referrers(req.Context(), rt.name, digest.Digest(rt.arg), at)
	if err != nil {
		return err
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	writeJSON(w, req, http.StatusOK, v1.MediaTypeImageIndex, idx)
	return nil
}

func writeJSON(w http.ResponseWriter, req *http.Request, status int, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own plain structs are encoded here.
		panic(fmt.Sprintf("distribution: encode response: %v", err))
	}
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// maxCatalogPage bounds a filtered catalog page when the client asks for
// everything (no n) or more, as the registry bounds unfiltered pages.
const maxCatalogPage = 10000

// catalogBatch is how many names one registry call reads while filtering.
const catalogBatch = 1000

// visibleRepositories is one catalog page of the repositories the caller
// may see. It reads the registry's pages until it has p.N visible names
// or reaches the end, so hidden repositories neither shorten pages nor
// leave gaps; "more" is true only when another visible name follows, so
// the Link header never points at an empty page.
func (h *handler) visibleRepositories(ctx context.Context, p registry.Page) ([]string, bool, error) {
	want := p.N
	if want < 0 || want > maxCatalogPage {
		want = maxCatalogPage
	}
	out := []string{}
	if want == 0 {
		return out, false, nil
	}
	last := p.Last
	for {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		batch, more, err := h.reg.Repositories(ctx, registry.Page{N: catalogBatch, Last: last})
		if err != nil {
			return nil, false, err
		}
		for _, name := range batch {
			ok, err := h.visible(ctx, name)
			if err != nil {
				return nil, false, err
			}
			if !ok {
				continue
			}
			if len(out) == want {
				return out, true, nil
			}
			out = append(out, name)
		}
		if !more || len(batch) == 0 {
			return out, false, nil
		}
		last = batch[len(batch)-1]
	}
}
