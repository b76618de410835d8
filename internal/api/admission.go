package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/admission"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/imagefacts"
	"github.com/moat-dev/moat/internal/inventory"
)

// Admission serves the check API, the admission rules and image details;
// *admission.Service is one, with Details from imagefacts.
type Admission interface {
	Decide(ctx context.Context, req admission.Request) admission.Decision
	RuleList() []admission.ListedRule
	PutRules(ctx context.Context, rules []config.AdmissionRule, by string) error
	// Resolve names the repository and digest of an image of this
	// registry ("", "" for another registry's or an unknown image).
	Resolve(ctx context.Context, image string) (repo, digest string)
}

// Inventory serves where images run; *inventory.Store is one.
type Inventory interface {
	List(ctx context.Context, f inventory.Filter) ([]inventory.Place, int64, error)
	Affected(ctx context.Context, id string, after int64, limit int) ([]inventory.Place, int64, error)
	Reconcile(ctx context.Context, source, cluster string, listedAt time.Time, places []inventory.Place) (int64, error)
	Record(ctx context.Context, places ...inventory.Place) error
	Remove(ctx context.Context, source, cluster, namespace, pod string) error
}

// Details reads an image's facts.
type Details func(ctx context.Context, repo, ref string) (imagefacts.Facts, error)

func (h *handler) admissionRoutes() {
	h.handle("POST /api/v1/check", op{policy.ActionAdmissionCheck, h.check})
	h.handle("GET /api/v1/admission/rules", op{policy.ActionAdmissionCheck, h.listRules})
	h.handle("PUT /api/v1/admission/rules", op{policy.ActionAdminRegistry, h.putRules})
}

func (h *handler) inventoryRoutes() {
	h.handle("GET /api/v1/inventory", op{policy.ActionInventoryRead, h.listInventory})
	h.handle("GET /api/v1/vulnerabilities/{id}/running", op{policy.ActionInventoryRead, h.running})
	h.handle("POST /api/v1/inventory/kubernetes", op{policy.ActionInventoryReport, h.reportKubernetes})
	h.handle("POST /api/v1/inventory/ecs", op{policy.ActionInventoryReport, h.reportECS})
}

// maxCheckImages bounds one check request.
const maxCheckImages = 256

type checkRequest struct {
	Images    []string `json:"images"`
	Namespace string   `json:"namespace"`
}

type checkResponse struct {
	Allowed  bool                      `json:"allowed"`
	Denials  []string                  `json:"denials,omitempty"`
	Warnings []string                  `json:"warnings,omitempty"`
	Images   []admission.ImageDecision `json:"images"`
}

// check answers POST /api/v1/check: the admission verdict of each image,
// as the webhook would give it for a pod in namespace.
func (h *handler) check(w http.ResponseWriter, r *http.Request) error {
	var req checkRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Images) == 0 || len(req.Images) > maxCheckImages {
		return fmt.Errorf("%w: name 1 to %d images", errBadRequest, maxCheckImages)
	}
	ar := admission.Request{Namespace: req.Namespace}
	for _, img := range req.Images {
		ar.Containers = append(ar.Containers, admission.Container{Image: img})
	}
	d := h.Admission.Decide(r.Context(), ar)
	writeJSON(w, http.StatusOK, checkResponse{Allowed: d.Allowed, Denials: d.Denials, Warnings: d.Warnings, Images: d.Images})
	return nil
}

func (h *handler) listRules(w http.ResponseWriter, r *http.Request) error {
	rules := h.Admission.RuleList()
	if rules == nil {
		rules = []admission.ListedRule{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": rules})
	return nil
}

// putRules replaces the rules managed through the API.
func (h *handler) putRules(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Rules []config.AdmissionRule `json:"rules"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	actor, _ := caller(r.Context())
	if err := h.Admission.PutRules(r.Context(), body.Rules, actor); err != nil {
		return err
	}
	h.record(r.Context(), string(policy.ActionAdminRegistry), "admission/rules", map[string]any{"rules": len(body.Rules)}, nil)
	return h.listRules(w, r)
}

// imageDetails answers GET /api/v1/repositories/{name}/manifests/{ref}:
// what is known of the image, as ECR's image details say it.
func (h *handler) imageDetails(w http.ResponseWriter, r *http.Request, repo, ref string) error {
	if err := h.Authorizer.Authorize(r.Context(), policy.ActionPull, repo); err != nil {
		return err
	}
	f, err := h.Details(r.Context(), repo, ref)
	if err != nil {
		return err
	}
	out := map[string]any{
		"repository": f.Repository, "digest": f.Digest, "mediaType": f.MediaType, "tags": nonNilStrings(f.Tags),
		"pushedAt": f.PushedAt, "pushedBy": f.PushedBy,
		"signed": f.Signed, "signers": nonNilStrings(f.Signers), "trustPolicy": f.TrustPolicy,
		"scanStatus": f.Scan, "findingSeverityCounts": map[string]int{"CRITICAL": f.Findings.Critical, "HIGH": f.Findings.High,
			"MEDIUM": f.Findings.Medium, "LOW": f.Findings.Low, "UNKNOWN": f.Findings.Unknown},
		"kev": f.Findings.KEV, "fixable": f.Findings.Fixable, "endOfLife": f.EOL,
		"inUseCount": f.InUse,
	}
	if f.SignError != "" {
		out["signatureError"] = f.SignError
	}
	if !f.LastInUse.IsZero() {
		out["lastInUseAt"] = f.LastInUse
	}
	if len(f.Children) > 0 {
		out["manifests"] = f.Children
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// page reads ?after= and ?limit=.
func page(r *http.Request) (after int64, limit int, err error) {
	q := r.URL.Query()
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return 0, 0, fmt.Errorf("%w: after %q", errBadRequest, v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 5000 {
			return 0, 0, fmt.Errorf("%w: limit %q: want 1-5000", errBadRequest, v)
		}
	}
	return after, limit, nil
}

type placesJSON struct {
	Places []inventory.Place `json:"places"`
	Next   int64             `json:"next,omitempty"`
}

func writePlaces(w http.ResponseWriter, places []inventory.Place, next int64) {
	if places == nil {
		places = []inventory.Place{}
	}
	writeJSON(w, http.StatusOK, placesJSON{Places: places, Next: next})
}

// listInventory answers GET /api/v1/inventory?digest=&repository=&namespace=&cluster=.
func (h *handler) listInventory(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := inventory.Filter{Repository: q.Get("repository"), Namespace: q.Get("namespace"), Cluster: q.Get("cluster"), After: after, Limit: limit}
	if d := q.Get("digest"); d != "" {
		f.Digests = []string{d}
	}
	places, next, err := h.Inventory.List(r.Context(), f)
	if err != nil {
		return err
	}
	writePlaces(w, places, next)
	return nil
}

// running answers GET /api/v1/vulnerabilities/{id}/running: every place an
// image with the vulnerability open runs.
func (h *handler) running(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	places, next, err := h.Inventory.Affected(r.Context(), r.PathValue("id"), after, limit)
	if err != nil {
		return err
	}
	writePlaces(w, places, next)
	return nil
}

// maxReported bounds one report's places.
const maxReported = 100_000

type kubernetesReport struct {
	Cluster string `json:"cluster"`
	// ListedAt is when the listing started; records not seen since are
	// removed. Default: now.
	ListedAt time.Time         `json:"listedAt"`
	Places   []inventory.Place `json:"places"`
}

// reportKubernetes reconciles a cluster's records with a reporter's full
// listing of its running pods.
func (h *handler) reportKubernetes(w http.ResponseWriter, r *http.Request) error {
	var rep kubernetesReport
	if err := decode(r, &rep); err != nil {
		return err
	}
	if len(rep.Places) > maxReported {
		return fmt.Errorf("%w: over %d places", errBadRequest, maxReported)
	}
	if rep.ListedAt.IsZero() {
		rep.ListedAt = time.Now()
	}
	if time.Since(rep.ListedAt) > time.Hour || time.Until(rep.ListedAt) > time.Minute {
		return fmt.Errorf("%w: listedAt %s is not within the last hour", errBadRequest, rep.ListedAt)
	}
	resolved := map[string][2]string{} // many pods run one image
	for i := range rep.Places {
		p := &rep.Places[i]
		p.Source, p.Cluster = inventory.Kubernetes, rep.Cluster
		if h.Admission == nil || p.Image == "" {
			continue
		}
		rd, ok := resolved[p.Image]
		if !ok {
			repo, d := h.Admission.Resolve(r.Context(), p.Image)
			rd = [2]string{repo, d}
			resolved[p.Image] = rd
		}
		p.Repository = rd[0]
		if p.Digest == "" {
			p.Digest = rd[1]
		}
	}
	removed, err := h.Inventory.Reconcile(r.Context(), inventory.Kubernetes, rep.Cluster, rep.ListedAt, rep.Places)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"recorded": len(rep.Places), "removed": removed})
	return nil
}

// ecsReport is what an ECS task state change says: the task, its
// containers, and whether it runs.
type ecsReport struct {
	Cluster    string `json:"clusterArn"`
	TaskArn    string `json:"taskArn"`
	Group      string `json:"group"` // "service:NAME" or "family:NAME"
	LastStatus string `json:"lastStatus"`
	Containers []struct {
		Name        string `json:"name"`
		Image       string `json:"image"`
		ImageDigest string `json:"imageDigest"`
	} `json:"containers"`
}

// reportECS records a running ECS task's containers, or removes a stopped
// task's.
func (h *handler) reportECS(w http.ResponseWriter, r *http.Request) error {
	var rep ecsReport
	if err := decode(r, &rep); err != nil {
		return err
	}
	if rep.Cluster == "" || rep.TaskArn == "" {
		return fmt.Errorf("%w: clusterArn and taskArn are required", errBadRequest)
	}
	switch rep.LastStatus {
	case "STOPPED", "DEPROVISIONING", "DELETED":
		if err := h.Inventory.Remove(r.Context(), inventory.ECS, rep.Cluster, "", rep.TaskArn); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"removed": rep.TaskArn})
		return nil
	}
	kind, name := "", ""
	if k, n, ok := strings.Cut(rep.Group, ":"); ok {
		kind, name = k, n
	}
	var places []inventory.Place
	for _, c := range rep.Containers {
		p := inventory.Place{Source: inventory.ECS, Cluster: rep.Cluster, Pod: rep.TaskArn, WorkloadKind: kind, WorkloadName: name,
			Container: c.Name, ContainerType: "container", Image: c.Image, Digest: c.ImageDigest}
		repo, d := h.Admission.Resolve(r.Context(), c.Image)
		p.Repository = repo
		if p.Digest == "" {
			p.Digest = d
		}
		places = append(places, p)
	}
	if err := h.Inventory.Record(r.Context(), places...); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"recorded": len(places)})
	return nil
}
