package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/sbom"
	"github.com/moat-dev/moat/internal/scanning"
	"github.com/moat-dev/moat/internal/scanrules"
)

// Scans is what the scan endpoints need; *scanning.Service is one.
type Scans interface {
	Lookup(ctx context.Context, repo, ref string) (*scanning.Image, error)
	ImageFindings(ctx context.Context, digest string, q findings.Query) ([]findings.Finding, int64, error)
	Report(ctx context.Context, img *scanning.Image) ([]byte, error)
	SBOM(ctx context.Context, img *scanning.Image, format sbom.Format) ([]byte, error)
	StartScan(ctx context.Context, repo, ref string) (string, error)
	Config() scanrules.Config
	ManagedByFile() bool
	SetConfig(ctx context.Context, c scanrules.Config, by string) (scanrules.Config, error)
}

// Media types the scan endpoints answer in.
const (
	mediaCycloneDX = "application/vnd.cyclonedx+json"
	mediaSPDX      = "application/spdx+json"
)

func (h *handler) scanRoutes() {
	// Repository names hold slashes, so the image routes are parsed by
	// hand: /api/v1/repositories/{name}/manifests/{reference}/{scan|sbom|signatures}.
	if h.Scans != nil || h.Signing != nil || h.Repositories != nil {
		h.handle("GET /api/v1/repositories/", op{"", h.imageGet})
	}
	if h.Repositories != nil {
		h.handle("GET /api/v1/repositories", op{"", h.listRepositories})
		h.handle("PUT /api/v1/repositories/", op{policy.ActionAdminRegistry, h.putRepository})
	}
	if h.Lifecycle != nil {
		h.handle("DELETE /api/v1/repositories/", op{policy.ActionAdminRegistry, h.deleteLifecyclePolicy})
	}
	if h.Scans != nil || h.Lifecycle != nil {
		h.handle("POST /api/v1/repositories/", op{"", h.imagePost})
	}
	if h.Scans == nil {
		return
	}
	reg := policy.ActionAdminRegistry
	h.handle("GET /api/v1/scanning/configuration", op{reg, h.getScanConfig})
	h.handle("PUT /api/v1/scanning/configuration", op{reg, h.putScanConfig})
}

// imagePath splits ".../repositories/NAME/manifests/REF/WHAT".
func imagePath(p string) (repo, ref, what string, ok bool) {
	rest, ok := strings.CutPrefix(p, "/api/v1/repositories/")
	if !ok {
		return "", "", "", false
	}
	i := strings.LastIndex(rest, "/manifests/")
	if i <= 0 {
		return "", "", "", false
	}
	repo, tail := rest[:i], rest[i+len("/manifests/"):]
	ref, what, _ = strings.Cut(tail, "/")
	if ref == "" || strings.Contains(what, "/") {
		return "", "", "", false
	}
	return repo, ref, what, true
}

// errNoRoute: no endpoint matches; answered 404.
var errNoRoute = errors.New("no such endpoint")

func (h *handler) imageGet(w http.ResponseWriter, r *http.Request) error {
	repo, ref, what, ok := imagePath(r.URL.Path)
	if ok && what == "signatures" && h.Signing != nil {
		return h.signatures(w, r, repo, ref)
	}
	if ok && what == "" && h.Details != nil {
		return h.imageDetails(w, r, repo, ref)
	}
	if !ok && h.Repositories != nil {
		return h.getRepository(w, r)
	}
	if !ok || (what != "scan" && what != "sbom") || h.Scans == nil {
		return errNoRoute
	}
	if err := h.Authorizer.Authorize(r.Context(), policy.ActionScanRead, repo); err != nil {
		return err
	}
	img, err := h.Scans.Lookup(r.Context(), repo, ref)
	if err != nil {
		return err
	}
	if what == "sbom" {
		return h.sbom(w, r, img)
	}
	if accepts(r, mediaCycloneDX) {
		doc, err := h.Scans.Report(r.Context(), img)
		if err != nil {
			return err
		}
		return writeRaw(w, mediaCycloneDX, doc)
	}
	q, err := findingsQuery(r)
	if err != nil {
		return err
	}
	out := scanJSON{Repository: repo, Digest: img.Digest, MediaType: img.MediaType}
	if img.Children != nil {
		for _, c := range img.Children {
			out.Manifests = append(out.Manifests, childJSON{Digest: c.Digest, Platform: c.Platform, Status: statusOf(c.Scan), Summary: summaryOf(c.Scan)})
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	sc := img.Scan
	out.Status, out.Reason, out.VulnDBVersion, out.Summary = statusOf(sc), sc.Reason, sc.VulnDBVersion, summaryOf(sc)
	if !sc.ScannedAt.IsZero() {
		out.ScannedAt = &sc.ScannedAt
	}
	fs, next, err := h.Scans.ImageFindings(r.Context(), img.Digest, q)
	if err != nil {
		return err
	}
	out.Findings = make([]findingJSON, len(fs))
	for i, f := range fs {
		out.Findings[i] = findingOut(f)
	}
	if next != 0 {
		out.Next = strconv.FormatInt(next, 10)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) imagePost(w http.ResponseWriter, r *http.Request) error {
	if name, what, err := repositoryPath(r); err == nil && strings.HasPrefix(what, "lifecycle-policy/") && h.Lifecycle != nil {
		return h.lifecyclePost(w, r, name, what)
	}
	repo, ref, what, ok := imagePath(r.URL.Path)
	if !ok || what != "scan" || h.Scans == nil {
		return errNoRoute
	}
	if err := h.Authorizer.Authorize(r.Context(), policy.ActionScanWrite, repo); err != nil {
		return err
	}
	d, err := h.Scans.StartScan(r.Context(), repo, ref)
	h.record(r.Context(), "scan:StartScan", policy.RepositoryResource(repo), map[string]any{"reference": ref, "digest": d}, err)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"repository": repo, "digest": d, "status": string(findings.Pending)})
	return nil
}

func (h *handler) sbom(w http.ResponseWriter, r *http.Request, img *scanning.Image) error {
	format, media := sbom.CycloneDX, mediaCycloneDX
	if accepts(r, mediaSPDX) && !accepts(r, mediaCycloneDX) {
		format, media = sbom.SPDX, mediaSPDX
	}
	doc, err := h.Scans.SBOM(r.Context(), img, format)
	if err != nil {
		return err
	}
	return writeRaw(w, media, doc)
}

// accepts reports whether the Accept header names media (exactly; "*/*"
// does not count, so JSON stays the default).
func accepts(r *http.Request, media string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == media {
			return true
		}
	}
	return false
}

func writeRaw(w http.ResponseWriter, media string, b []byte) error {
	w.Header().Set("Content-Type", media)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}

// findingsQuery reads the filters: severity (names, comma separated),
// fixAvailable and kev (true/false), resolved (true lists findings no
// longer present, with resolvedAt), limit and next.
func findingsQuery(r *http.Request) (findings.Query, error) {
	v := r.URL.Query()
	var q findings.Query
	for _, s := range strings.Split(v.Get("severity"), ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		sev, err := report.ParseSeverity(s)
		if err != nil {
			return q, fmt.Errorf("%w: severity: %v", errBadRequest, err)
		}
		q.Severities = append(q.Severities, sev)
	}
	if s := v.Get("resolved"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, fmt.Errorf("%w: resolved %q is not true or false", errBadRequest, s)
		}
		q.Resolved = b
	}
	for name, dst := range map[string]**bool{"fixAvailable": &q.FixAvailable, "kev": &q.KEV} {
		if s := v.Get(name); s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return q, fmt.Errorf("%w: %s %q is not true or false", errBadRequest, name, s)
			}
			*dst = &b
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return q, fmt.Errorf("%w: limit %q: want 1 to 1000", errBadRequest, s)
		}
		q.Limit = n
	}
	if s := v.Get("next"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return q, fmt.Errorf("%w: next %q is not a cursor from a previous page", errBadRequest, s)
		}
		q.After = n
	}
	return q, nil
}

type scanJSON struct {
	Repository    string         `json:"repository"`
	Digest        string         `json:"digest"`
	MediaType     string         `json:"mediaType"`
	Status        string         `json:"status,omitempty"`
	Reason        string         `json:"reason,omitempty"`
	ScannedAt     *time.Time     `json:"scannedAt,omitempty"`
	VulnDBVersion string         `json:"vulndbVersion,omitempty"`
	Summary       map[string]int `json:"summary,omitempty"`
	Findings      []findingJSON  `json:"findings,omitempty"`
	Next          string         `json:"next,omitempty"`
	Manifests     []childJSON    `json:"manifests,omitempty"`
}

type childJSON struct {
	Digest   string         `json:"digest"`
	Platform any            `json:"platform,omitempty"`
	Status   string         `json:"status"`
	Summary  map[string]int `json:"summary,omitempty"`
}

type cvssJSON struct {
	Score  float64 `json:"score"`
	Vector string  `json:"vector,omitempty"`
}

type epssJSON struct {
	Score      float64 `json:"score"`
	Percentile float64 `json:"percentile"`
}

type packageJSON struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	Type    string `json:"type,omitempty"`
	PURL    string `json:"purl,omitempty"`
	Layer   string `json:"layer,omitempty"`
	Path    string `json:"path,omitempty"`
}

type findingJSON struct {
	ID               string       `json:"id"`
	Aliases          []string     `json:"aliases,omitempty"`
	Kind             string       `json:"kind"`
	Severity         string       `json:"severity"`
	Summary          string       `json:"summary,omitempty"`
	CVSS             *cvssJSON    `json:"cvss,omitempty"`
	EPSS             *epssJSON    `json:"epss,omitempty"`
	KEV              *report.KEV  `json:"kev,omitempty"`
	ExploitAvailable bool         `json:"exploitAvailable"`
	FixedVersion     string       `json:"fixedVersion,omitempty"`
	FixAvailable     bool         `json:"fixAvailable"`
	Package          *packageJSON `json:"package,omitempty"`
	EndOfLife        any          `json:"endOfLife,omitempty"`
	Message          string       `json:"message,omitempty"`
	Match            string       `json:"match,omitempty"`
	References       []string     `json:"references,omitempty"`
	FirstSeen        time.Time    `json:"firstSeen"`
	ResolvedAt       *time.Time   `json:"resolvedAt,omitempty"`
}

func findingOut(f findings.Finding) findingJSON {
	out := findingJSON{ID: f.ID, Kind: f.Kind, Severity: f.Severity.String(), Summary: f.Summary, KEV: f.KEV,
		ExploitAvailable: f.KEV != nil, FixedVersion: f.FixedIn, FixAvailable: f.FixedIn != "", Message: f.Message,
		Match: f.Match, References: f.References, FirstSeen: f.FirstSeen}
	if !f.ResolvedAt.IsZero() {
		out.ResolvedAt = &f.ResolvedAt
	}
	if f.EndOfLife != nil {
		out.EndOfLife = f.EndOfLife
	}
	for _, id := range f.IDs {
		if id != f.ID {
			out.Aliases = append(out.Aliases, id)
		}
	}
	if f.Score > 0 {
		out.CVSS = &cvssJSON{Score: f.Score, Vector: f.Vector}
	}
	if f.EPSS != nil {
		out.EPSS = &epssJSON{Score: f.EPSS.Score, Percentile: f.EPSS.Percentile}
	}
	p := packageJSON{Name: f.Package.Name, Version: f.Package.Version, Type: f.Package.Type, PURL: f.Package.PURL, Layer: f.Package.Layer}
	if len(f.Package.Paths) > 0 {
		p.Path = f.Package.Paths[0]
	}
	if f.Location != nil {
		p.Path, p.Layer = f.Location.Path, f.Location.Layer
	}
	if p != (packageJSON{}) {
		out.Package = &p
	}
	return out
}

func statusOf(sc findings.Scan) string {
	if sc.Status == "" {
		return "NOT_SCANNED"
	}
	return string(sc.Status)
}

func summaryOf(sc findings.Scan) map[string]int {
	if sc.Status != findings.Complete {
		return nil
	}
	m := sc.Summary.BySeverity()
	m["KEV"], m["FIXABLE"] = sc.Summary.KEV, sc.Summary.Fixable
	return m
}

type scanConfigJSON struct {
	Configuration scanrules.Config `json:"configuration"`
	// Source says where the configuration comes from: "file" (read-only
	// here) or "api".
	Source string `json:"source"`
}

func (h *handler) getScanConfig(w http.ResponseWriter, _ *http.Request) error {
	src := "api"
	if h.Scans.ManagedByFile() {
		src = "file"
	}
	writeJSON(w, http.StatusOK, scanConfigJSON{Configuration: h.Scans.Config(), Source: src})
	return nil
}

func (h *handler) putScanConfig(w http.ResponseWriter, r *http.Request) error {
	var c scanrules.Config
	if err := decode(r, &c); err != nil {
		return err
	}
	actor, _ := caller(r.Context())
	got, err := h.Scans.SetConfig(r.Context(), c, actor)
	doc, _ := json.Marshal(c)
	h.record(r.Context(), "scan:PutConfiguration", "registry", map[string]any{"configuration": json.RawMessage(doc)}, err)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, scanConfigJSON{Configuration: got, Source: "api"})
	return nil
}
