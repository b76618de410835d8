package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/policystore"
)

var kinds = map[string]policy.Kind{"identity": policy.Identity, "resource": policy.Resource, "listener": policy.Listener}

type policyJSON struct {
	Name        string          `json:"name"`
	Kind        string          `json:"kind"`
	Document    json.RawMessage `json:"document"`
	UpdatedAt   time.Time       `json:"updated_at"`
	Attachments []targetJSON    `json:"attachments"`
}

type targetJSON struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

func (h *handler) listPolicies(w http.ResponseWriter, r *http.Request) error {
	ps, ver, err := h.Policies.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]policyJSON, len(ps))
	for i, p := range ps {
		ts := make([]targetJSON, len(p.Targets))
		for j, t := range p.Targets {
			ts[j] = targetJSON{string(t.Type), t.Name}
		}
		out[i] = policyJSON{p.Name, p.Kind.String(), json.RawMessage(p.Document), p.UpdatedAt, ts}
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": ver, "policies": out})
	return nil
}

// changed recompiles the engine after a stored change; a failure leaves
// the change stored (other replicas will compile it) and is logged.
func (h *handler) changed(r *http.Request) {
	if _, err := h.Reload(r.Context()); err != nil {
		h.log.ErrorContext(r.Context(), "recompile policies after a change", "err", err)
	}
}

func (h *handler) putPolicy(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Kind     string          `json:"kind"`
		Document json.RawMessage `json:"document"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	kind, ok := kinds[in.Kind]
	if !ok {
		return fmt.Errorf("%w: kind %q: want identity, resource or listener", errBadRequest, in.Kind)
	}
	if len(in.Document) == 0 {
		return fmt.Errorf("%w: document is required", errBadRequest)
	}
	name := r.PathValue("name")
	err := h.Policies.Put(r.Context(), name, kind, in.Document)
	h.record(r.Context(), "admin:PutPolicy", "policy/"+name, map[string]any{"kind": in.Kind, "document": in.Document}, err)
	if err != nil {
		return err
	}
	h.changed(r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) deletePolicy(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	err := h.Policies.Delete(r.Context(), name)
	h.record(r.Context(), "admin:DeletePolicy", "policy/"+name, nil, err)
	if err != nil {
		return err
	}
	h.changed(r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func targetOf(r *http.Request) (policystore.Target, error) {
	t := policystore.Target{Type: policystore.TargetType(r.PathValue("type")), Name: r.PathValue("target")}
	switch t.Type {
	case policystore.TargetUser, policystore.TargetGroup, policystore.TargetRobot, policystore.TargetRepository, policystore.TargetListener:
		return t, nil
	}
	return t, fmt.Errorf("%w: attachment type %q: want user, group, robot, repository or listener", errBadRequest, t.Type)
}

func (h *handler) attach(w http.ResponseWriter, r *http.Request) error {
	return h.changeTarget(w, r, true)
}
func (h *handler) detach(w http.ResponseWriter, r *http.Request) error {
	return h.changeTarget(w, r, false)
}

func (h *handler) changeTarget(w http.ResponseWriter, r *http.Request, attach bool) error {
	t, err := targetOf(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	action, fn := "admin:AttachPolicy", h.Policies.Attach
	if !attach {
		action, fn = "admin:DetachPolicy", h.Policies.Detach
	}
	err = fn(r.Context(), name, t)
	h.record(r.Context(), action, "policy/"+name, map[string]any{"target": string(t.Type) + ":" + t.Name}, err)
	if err != nil {
		return err
	}
	h.changed(r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// SimulateRequest asks how the policies in force answer one request.
type SimulateRequest struct {
	// Principal is "user:NAME", "robot:NAME" or "anonymous"; a user's
	// groups are looked up.
	Principal string `json:"principal"`
	Action    string `json:"action"`
	// Resource is "registry", "repository/NAME" or a bare repository name.
	Resource string `json:"resource"`
	// SourceIP, Listener, ClientCertSubject and Time fill the conditions'
	// keys; Time defaults to now.
	SourceIP          string    `json:"source_ip,omitempty"`
	Listener          string    `json:"listener,omitempty"`
	ClientCertSubject string    `json:"client_cert_subject,omitempty"`
	Time              time.Time `json:"time,omitzero"`
}

// SimulateResponse is the decision and the statement that made it.
type SimulateResponse struct {
	Allowed   bool   `json:"allowed"`
	Reason    string `json:"reason"`
	Policy    string `json:"policy,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Statement int    `json:"statement"`
	Sid       string `json:"sid,omitempty"`
	Summary   string `json:"summary"`
}

func (h *handler) simulate(w http.ResponseWriter, r *http.Request) error {
	var in SimulateRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	req := policy.Request{Action: policy.Action(in.Action), Resource: in.Resource,
		Context: policy.Context{Time: in.Time, Listener: in.Listener, ClientCertSubject: in.ClientCertSubject}}
	if req.Context.Time.IsZero() {
		req.Context.Time = time.Now()
	}
	if req.Resource != policy.RegistryResource && req.Resource != "*" && !strings.HasPrefix(req.Resource, policy.RepositoryPrefix) {
		req.Resource = policy.RepositoryResource(req.Resource)
	}
	if in.SourceIP != "" {
		ip, err := netip.ParseAddr(in.SourceIP)
		if err != nil {
			return fmt.Errorf("%w: source_ip %q: %v", errBadRequest, in.SourceIP, err)
		}
		req.Context.SourceIP = ip
	}
	known := false
	for _, a := range policy.Actions() {
		known = known || strings.EqualFold(string(a), in.Action)
	}
	if !known {
		return fmt.Errorf("%w: action %q is not a known action", errBadRequest, in.Action)
	}
	switch {
	case in.Principal == "anonymous":
		req.Principal = policy.Principal{Type: policy.Anonymous}
	default:
		ref, err := policy.ParsePrincipalRef(in.Principal)
		if err != nil || ref.Type == policy.Group {
			return fmt.Errorf("%w: principal %q: want user:NAME, robot:NAME or anonymous", errBadRequest, in.Principal)
		}
		p, err := h.Identities.Lookup(r.Context(), in.Principal)
		if err != nil {
			return fmt.Errorf("%w: principal %q: %v", errBadRequest, in.Principal, err)
		}
		req.Principal = p.Principal
	}
	e := h.Engine()
	if e == nil {
		return fmt.Errorf("no policy engine loaded")
	}
	var d policy.Decision
	if req.Action == policy.ActionListRepositories && req.Resource == policy.RegistryResource {
		d = e.DecideAny(req)
	} else {
		d = e.Decide(req)
	}
	out := SimulateResponse{Allowed: d.Allowed, Reason: string(d.Reason), Policy: d.Policy, Statement: d.Statement, Sid: d.Sid, Summary: d.String()}
	if d.Policy != "" {
		out.Kind = d.Kind.String()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
