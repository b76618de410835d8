package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/webhooks"
)

// Webhooks is what the API needs from the webhook service;
// *webhooks.Service is one.
type Webhooks interface {
	List(ctx context.Context) ([]webhooks.Webhook, error)
	Get(ctx context.Context, name string) (webhooks.Webhook, error)
	Create(ctx context.Context, w webhooks.Webhook) (webhooks.Webhook, error)
	Update(ctx context.Context, name string, c webhooks.Change) (webhooks.Webhook, error)
	Delete(ctx context.Context, name string) error
	Deliveries(ctx context.Context, name string, f webhooks.DeliveryFilter) ([]webhooks.Delivery, int64, error)
	SendTest(ctx context.Context, name string) (string, error)
}

func (h *handler) webhookRoutes() {
	read, write := policy.ActionWebhooksRead, policy.ActionWebhooksWrite
	h.handle("GET /api/v1/webhooks", op{read, h.listWebhooks})
	h.handle("POST /api/v1/webhooks", op{write, h.createWebhook})
	h.handle("GET /api/v1/webhooks/{name}", op{read, h.getWebhook})
	h.handle("PUT /api/v1/webhooks/{name}", op{write, h.updateWebhook})
	h.handle("DELETE /api/v1/webhooks/{name}", op{write, h.deleteWebhook})
	h.handle("GET /api/v1/webhooks/{name}/deliveries", op{read, h.webhookDeliveries})
	h.handle("POST /api/v1/webhooks/{name}/test", op{write, h.testWebhook})
}

// webhookJSON is a webhook as the API shows it: never with its secret.
type webhookJSON struct {
	Name         string    `json:"name"`
	URL          string    `json:"url"`
	Events       []string  `json:"events"`
	Repositories []string  `json:"repositories"`
	Enabled      bool      `json:"enabled"`
	Source       string    `json:"source"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func webhookOut(w webhooks.Webhook) webhookJSON {
	out := webhookJSON{Name: w.Name, URL: w.URL, Events: w.Events, Repositories: w.Repositories,
		Enabled: w.Enabled, Source: string(w.Source), CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if out.Events == nil {
		out.Events = []string{}
	}
	if out.Repositories == nil {
		out.Repositories = []string{}
	}
	return out
}

// webhookAudit describes a webhook for the audit log: the URL's host
// only, as paths and queries often carry a receiver's token.
func webhookAudit(w webhooks.Webhook) map[string]any {
	d := map[string]any{"events": w.Events, "repositories": w.Repositories, "enabled": w.Enabled}
	if u, err := url.Parse(w.URL); err == nil {
		d["host"] = u.Host
	}
	return d
}

func (h *handler) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	ws, err := h.Webhooks.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]webhookJSON, len(ws))
	for i, wh := range ws {
		out[i] = webhookOut(wh)
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

func (h *handler) getWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, err := h.Webhooks.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookOut(wh))
	return nil
}

func (h *handler) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name         string   `json:"name"`
		URL          string   `json:"url"`
		Secret       string   `json:"secret"`
		Events       []string `json:"events"`
		Repositories []string `json:"repositories"`
		// Enabled defaults to true.
		Enabled *bool `json:"enabled"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	want := webhooks.Webhook{Name: in.Name, URL: in.URL, Secret: in.Secret, Events: in.Events, Repositories: in.Repositories,
		Enabled: in.Enabled == nil || *in.Enabled}
	wh, err := h.Webhooks.Create(r.Context(), want)
	h.record(r.Context(), "webhooks:Create", "webhook/"+in.Name, webhookAudit(want), err)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, webhookOut(wh))
	return nil
}

// updateWebhook changes the fields the body names and keeps the others;
// the secret can be replaced, never read.
func (h *handler) updateWebhook(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		URL          *string   `json:"url"`
		Secret       *string   `json:"secret"`
		Events       *[]string `json:"events"`
		Repositories *[]string `json:"repositories"`
		Enabled      *bool     `json:"enabled"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	var changed []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"url", in.URL != nil}, {"secret", in.Secret != nil}, {"events", in.Events != nil}, {"repositories", in.Repositories != nil}, {"enabled", in.Enabled != nil}} {
		if f.set {
			changed = append(changed, f.name)
		}
	}
	if len(changed) == 0 {
		return fmt.Errorf("%w: nothing to change (want url, secret, events, repositories or enabled)", errBadRequest)
	}
	name := r.PathValue("name")
	wh, err := h.Webhooks.Update(r.Context(), name, webhooks.Change{URL: in.URL, Secret: in.Secret, Events: in.Events, Repositories: in.Repositories, Enabled: in.Enabled})
	details := map[string]any{"changed": changed}
	if in.URL != nil {
		if u, perr := url.Parse(*in.URL); perr == nil {
			details["host"] = u.Host
		}
	}
	h.record(r.Context(), "webhooks:Update", "webhook/"+name, details, err)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookOut(wh))
	return nil
}

func (h *handler) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	err := h.Webhooks.Delete(r.Context(), name)
	h.record(r.Context(), "webhooks:Delete", "webhook/"+name, nil, err)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) testWebhook(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	id, err := h.Webhooks.SendTest(r.Context(), name)
	h.record(r.Context(), "webhooks:Test", "webhook/"+name, map[string]any{"delivery": id}, err)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"delivery": id, "event_type": webhooks.TestEvent})
	return nil
}

type deliveryJSON struct {
	ID            int64      `json:"id"`
	Delivery      string     `json:"delivery"`
	EventID       string     `json:"event_id"`
	EventType     string     `json:"event_type"`
	Subject       string     `json:"subject,omitempty"`
	Attempt       int        `json:"attempt"`
	Time          time.Time  `json:"time"`
	StatusCode    int        `json:"status_code,omitempty"`
	Error         string     `json:"error,omitempty"`
	DurationMS    float64    `json:"duration_ms"`
	Outcome       string     `json:"outcome"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
}

// webhookDeliveries pages the delivery log newest first: outcome
// (delivered, retrying, failed), limit (1..500, default 50), before (the
// next link's cursor).
func (h *handler) webhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := webhooks.DeliveryFilter{Outcome: webhooks.Outcome(q.Get("outcome"))}
	for key, dst := range map[string]*int64{"before": &f.Before} {
		if s := q.Get(key); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				return fmt.Errorf("%w: %s=%q: want a positive integer", errBadRequest, key, s)
			}
			*dst = n
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return fmt.Errorf("%w: limit=%q: want 1..500", errBadRequest, s)
		}
		f.Limit = n
	}
	name := r.PathValue("name")
	ds, next, err := h.Webhooks.Deliveries(r.Context(), name, f)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		out[i] = deliveryJSON{ID: d.ID, Delivery: d.Delivery, EventID: d.EventID, EventType: d.EventType, Subject: d.Subject,
			Attempt: d.Attempt, Time: d.Time, StatusCode: d.StatusCode, Error: d.Error,
			DurationMS: float64(d.Duration.Microseconds()) / 1000, Outcome: string(d.Outcome)}
		if !d.NextAttemptAt.IsZero() {
			out[i].NextAttemptAt = &d.NextAttemptAt
		}
	}
	body := map[string]any{"deliveries": out}
	if next != 0 {
		q.Set("before", strconv.FormatInt(next, 10))
		body["next"] = "/api/v1/webhooks/" + url.PathEscape(name) + "/deliveries?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}
