package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
)

func (h *handler) routes() {
	ids := policy.ActionAdminIdentities
	h.handle("GET /api/v1/users", op{ids, h.listUsers})
	h.handle("POST /api/v1/users", op{ids, h.createUser})
	h.handle("PATCH /api/v1/users/{name}", op{ids, h.updateUser})
	h.handle("DELETE /api/v1/users/{name}", op{ids, h.deleteUser})
	h.handle("GET /api/v1/users/{name}/tokens", op{"", h.listTokens})
	h.handle("POST /api/v1/users/{name}/tokens", op{"", h.createToken})
	h.handle("DELETE /api/v1/users/{name}/tokens/{id}", op{"", h.revokeToken})
	h.handle("GET /api/v1/groups", op{ids, h.listGroups})
	h.handle("POST /api/v1/groups", op{ids, h.createGroup})
	h.handle("DELETE /api/v1/groups/{name}", op{ids, h.deleteGroup})
	h.handle("PUT /api/v1/groups/{name}/members/{user}", op{ids, h.addMember})
	h.handle("DELETE /api/v1/groups/{name}/members/{user}", op{ids, h.removeMember})
	h.handle("GET /api/v1/robots", op{ids, h.listRobots})
	h.handle("POST /api/v1/robots", op{ids, h.createRobot})
	h.handle("PATCH /api/v1/robots/{name}", op{ids, h.updateRobot})
	h.handle("POST /api/v1/robots/{name}/secret", op{ids, h.rotateRobot})
	h.handle("DELETE /api/v1/robots/{name}", op{ids, h.deleteRobot})

	pol := policy.ActionAdminPolicies
	h.handle("GET /api/v1/policies", op{pol, h.listPolicies})
	h.handle("PUT /api/v1/policies/{name}", op{pol, h.putPolicy})
	h.handle("DELETE /api/v1/policies/{name}", op{pol, h.deletePolicy})
	h.handle("PUT /api/v1/policies/{name}/attachments/{type}/{target...}", op{pol, h.attach})
	h.handle("DELETE /api/v1/policies/{name}/attachments/{type}/{target...}", op{pol, h.detach})
	h.handle("POST /api/v1/policies/simulate", op{pol, h.simulate})

	aud := policy.ActionAdminAudit
	h.handle("GET /api/v1/audit", op{aud, h.queryAudit})
	h.handle("GET /api/v1/audit/export", op{aud, h.exportAudit})
	h.handle("GET /api/v1/audit/verify", op{aud, h.verifyAudit})
}

type userJSON struct {
	Name      string    `json:"name"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

func (h *handler) listUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := h.Identities.Users(r.Context())
	if err != nil {
		return err
	}
	out := make([]userJSON, len(us))
	for i, u := range us {
		out[i] = userJSON{u.Name, u.Disabled, u.CreatedAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

func (h *handler) createUser(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := h.Identities.CreateUser(r.Context(), in.Name, in.Password)
	h.record(r.Context(), "admin:CreateUser", "user/"+in.Name, nil, err)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, userJSON{u.Name, u.Disabled, u.CreatedAt})
	return nil
}

func (h *handler) updateUser(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Password *string `json:"password"`
		Disabled *bool   `json:"disabled"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	if in.Password != nil {
		err := h.Identities.SetPassword(r.Context(), name, *in.Password)
		h.record(r.Context(), "admin:SetPassword", "user/"+name, nil, err)
		if err != nil {
			return err
		}
	}
	if in.Disabled != nil {
		err := h.Identities.SetUserDisabled(r.Context(), name, *in.Disabled)
		h.record(r.Context(), "admin:SetUserDisabled", "user/"+name, map[string]any{"disabled": *in.Disabled}, err)
		if err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	err := h.Identities.DeleteUser(r.Context(), name)
	h.record(r.Context(), "admin:DeleteUser", "user/"+name, nil, err)
	if err != nil {
		return err
	}
	h.changed(r) // its policy attachments went with it
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type tokenJSON struct {
	ID          int64      `json:"id"`
	Description string     `json:"description,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	Secret      string     `json:"secret,omitempty"`
}

func tokenOut(t identity.AccessToken) tokenJSON {
	out := tokenJSON{ID: t.ID, Description: t.Description, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}
	if !t.RevokedAt.IsZero() {
		out.RevokedAt = &t.RevokedAt
	}
	return out
}

func (h *handler) listTokens(w http.ResponseWriter, r *http.Request) error {
	user := r.PathValue("name")
	if err := h.Authorizer.AuthorizeTokenAccess(r.Context(), user); err != nil {
		return err
	}
	ts, err := h.Identities.AccessTokens(r.Context(), user)
	if err != nil {
		return err
	}
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenOut(t)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (h *handler) createToken(w http.ResponseWriter, r *http.Request) error {
	user := r.PathValue("name")
	notAfter, err := h.Authorizer.AuthorizeTokenMint(r.Context(), user)
	if err != nil {
		return err
	}
	var in struct {
		Description string `json:"description"`
		// TTL is a Go duration ("12h"); empty means the default.
		TTL string `json:"ttl"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	o := identity.TokenOptions{Description: in.Description, NotAfter: notAfter}
	if in.TTL != "" {
		d, err := time.ParseDuration(in.TTL)
		if err != nil {
			return fmt.Errorf("%w: ttl %q: %v", errBadRequest, in.TTL, err)
		}
		o.TTL = d
	}
	t, secret, err := h.Identities.CreateAccessToken(r.Context(), user, o)
	h.record(r.Context(), "admin:CreateAccessToken", "user/"+user, map[string]any{"id": t.ID}, err)
	if err != nil {
		return err
	}
	out := tokenOut(t)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *handler) revokeToken(w http.ResponseWriter, r *http.Request) error {
	user := r.PathValue("name")
	if err := h.Authorizer.AuthorizeTokenAccess(r.Context(), user); err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: token id %q", errBadRequest, r.PathValue("id"))
	}
	err = h.Identities.RevokeAccessToken(r.Context(), user, id)
	h.record(r.Context(), "admin:RevokeAccessToken", "user/"+user, map[string]any{"id": id}, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) listGroups(w http.ResponseWriter, r *http.Request) error {
	gs, err := h.Identities.Groups(r.Context())
	if err != nil {
		return err
	}
	type groupJSON struct {
		Name    string   `json:"name"`
		Members []string `json:"members"`
	}
	out := make([]groupJSON, len(gs))
	for i, g := range gs {
		ms, err := h.Identities.Members(r.Context(), g.Name)
		if err != nil {
			return err
		}
		if ms == nil {
			ms = []string{}
		}
		out[i] = groupJSON{g.Name, ms}
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": out})
	return nil
}

func (h *handler) createGroup(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	_, err := h.Identities.CreateGroup(r.Context(), in.Name)
	h.record(r.Context(), "admin:CreateGroup", "group/"+in.Name, nil, err)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": in.Name})
	return nil
}

func (h *handler) deleteGroup(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	err := h.Identities.DeleteGroup(r.Context(), name)
	h.record(r.Context(), "admin:DeleteGroup", "group/"+name, nil, err)
	if err != nil {
		return err
	}
	h.changed(r) // its policy attachments went with it
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) addMember(w http.ResponseWriter, r *http.Request) error {
	g, u := r.PathValue("name"), r.PathValue("user")
	err := h.Identities.AddMember(r.Context(), g, u)
	h.record(r.Context(), "admin:AddMember", "group/"+g, map[string]any{"user": u}, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) removeMember(w http.ResponseWriter, r *http.Request) error {
	g, u := r.PathValue("name"), r.PathValue("user")
	err := h.Identities.RemoveMember(r.Context(), g, u)
	h.record(r.Context(), "admin:RemoveMember", "group/"+g, map[string]any{"user": u}, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type robotJSON struct {
	Name        string     `json:"name"`
	Username    string     `json:"username"`
	Description string     `json:"description,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Disabled    bool       `json:"disabled"`
	CreatedAt   time.Time  `json:"created_at"`
	Secret      string     `json:"secret,omitempty"`
}

func robotOut(rb identity.Robot) robotJSON {
	out := robotJSON{Name: rb.Name, Username: identity.RobotUserPrefix + rb.Name, Description: rb.Description, Disabled: rb.Disabled, CreatedAt: rb.CreatedAt}
	if !rb.ExpiresAt.IsZero() {
		out.ExpiresAt = &rb.ExpiresAt
	}
	return out
}

func (h *handler) listRobots(w http.ResponseWriter, r *http.Request) error {
	rs, err := h.Identities.Robots(r.Context())
	if err != nil {
		return err
	}
	out := make([]robotJSON, len(rs))
	for i, rb := range rs {
		out[i] = robotOut(rb)
	}
	writeJSON(w, http.StatusOK, map[string]any{"robots": out})
	return nil
}

func (h *handler) createRobot(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        string    `json:"name"`
		Description string    `json:"description"`
		ExpiresAt   time.Time `json:"expires_at"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	rb, secret, err := h.Identities.CreateRobot(r.Context(), in.Name, identity.RobotOptions{Description: in.Description, ExpiresAt: in.ExpiresAt})
	h.record(r.Context(), "admin:CreateRobot", "robot/"+in.Name, nil, err)
	if err != nil {
		return err
	}
	out := robotOut(rb)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *handler) updateRobot(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Disabled *bool `json:"disabled"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Disabled == nil {
		return fmt.Errorf("%w: nothing to change (want \"disabled\")", errBadRequest)
	}
	name := r.PathValue("name")
	err := h.Identities.SetRobotDisabled(r.Context(), name, *in.Disabled)
	h.record(r.Context(), "admin:SetRobotDisabled", "robot/"+name, map[string]any{"disabled": *in.Disabled}, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) rotateRobot(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	secret, err := h.Identities.RotateRobotSecret(r.Context(), name)
	h.record(r.Context(), "admin:RotateRobotSecret", "robot/"+name, nil, err)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"username": identity.RobotUserPrefix + name, "secret": secret})
	return nil
}

func (h *handler) deleteRobot(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	err := h.Identities.DeleteRobot(r.Context(), name)
	h.record(r.Context(), "admin:DeleteRobot", "robot/"+name, nil, err)
	if err != nil {
		return err
	}
	h.changed(r) // its policy attachments went with it
	w.WriteHeader(http.StatusNoContent)
	return nil
}
