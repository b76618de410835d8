package distribution

import (
	"context"
	"errors"
	"net/http"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Authorizer decides whether the caller in ctx may perform action on the
// repository repo ("" for registry-wide actions such as listing the
// catalog). It returns nil or an error; an error with a
// Challenge() string method is a refusal, answered 401 UNAUTHORIZED with
// that WWW-Authenticate value when it is non-empty and 403 DENIED
// otherwise. Any other error is an internal error.
type Authorizer interface {
	Authorize(ctx context.Context, action policy.Action, repo string) error
}

// MountAuthorizer is an optional extension of Authorizer that decides
// cross-repository mounts itself: true links the blob, false with no
// error falls back to an upload session, and an error (a refusal with a
// challenge asking for a token that covers the source) is answered as is.
type MountAuthorizer interface {
	AuthorizeMount(ctx context.Context, target, from string) (bool, error)
}

// WithAuthorizer checks every request against a: reads of blobs and
// manifests need Pull, tag lists ListTags, referrers Pull (they reveal
// manifests), uploads and manifest pushes Push, deletes Delete, and the
// catalog ListRepositories for the catalog and for each entry shown. A
// cross-repository mount links the blob only if the caller may also pull
// the source; otherwise, and always for a mount without "from" (it would
// reveal blobs of repositories the caller cannot read), it starts a
// normal upload session, as the spec allows. Default: no checks (the
// server runs without authentication).
func WithAuthorizer(a Authorizer) Option {
	return func(h *handler) error {
		if a == nil {
			return errors.New("distribution: nil authorizer")
		}
		h.authz = a
		return nil
	}
}

// Event is one completed manifest operation or blob delete, reported
// after the registry call (successful or not), or any refused request
// (the catalog and cross-repository mount sources included), for the
// audit log. Allowed blob reads and uploads are not reported: a pull is
// its manifest GET, a push its manifest PUT.
type Event struct {
	// Action is policy.ActionPull, ActionPush or ActionDelete, or for a
	// refusal the action that was refused (ActionListTags,
	// ActionListRepositories too).
	Action policy.Action
	// Repository is "" for the catalog.
	Repository string
	// Reference is the tag or digest from the URL.
	Reference string
	// Digest is the manifest's or blob's digest, when known.
	Digest digest.Digest
	// Tags now pointing at a pushed manifest.
	Tags []string
	// Moved maps the tags among Tags that pointed at another manifest
	// before to that manifest's digest.
	Moved map[string]digest.Digest
	// Subject is the manifest a pushed referrer (a signature, an SBOM)
	// refers to.
	Subject digest.Digest
	// Manifest marks a manifest push or delete (not a blob's).
	Manifest bool
	Err      error
}

// PullGate decides whether a manifest the caller may read is served: nil,
// or an error (typically wrapping registry.ErrDenied, with a message for
// the client through registry.Messager) that answers the GET or HEAD
// instead. It sees the stored manifest, not the request.
type PullGate func(ctx context.Context, repo string, m *meta.Manifest) error

// WithPullGate checks every manifest GET and HEAD with gate after access
// control allowed it; several gates run in the order given, the first
// refusal answering. Default: none.
func WithPullGate(gate PullGate) Option {
	return func(h *handler) error {
		if gate == nil {
			return errors.New("distribution: nil pull gate")
		}
		h.gates = append(h.gates, gate)
		return nil
	}
}

// WithObserver calls fn after every manifest GET, PUT and DELETE, every
// blob DELETE, and every refused request; several observers are called
// in the order given. fn runs on the request's goroutine and should be
// quick. Default: none.
func WithObserver(fn func(ctx context.Context, e Event)) Option {
	return func(h *handler) error {
		if fn == nil {
			return errors.New("distribution: nil observer")
		}
		h.observers = append(h.observers, fn)
		return nil
	}
}

// actionFor maps an endpoint and method to the action it needs; ok is
// false for methods the endpoint does not serve (they get 405 unchecked).
func actionFor(ep endpoint, method string) (a policy.Action, ok bool) {
	read := method == http.MethodGet || method == http.MethodHead
	switch ep {
	case epBlob, epManifest:
		switch {
		case read:
			return policy.ActionPull, true
		case method == http.MethodDelete:
			return policy.ActionDelete, true
		case ep == epManifest && method == http.MethodPut:
			return policy.ActionPush, true
		}
	case epUploadStart:
		return policy.ActionPush, method == http.MethodPost
	case epUpload:
		// Status, chunks, completion and cancel all act on the caller's
		// own in-progress upload, which holds nothing stored yet, so
		// cancelling needs Push, not Delete.
		switch method {
		case http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete:
			return policy.ActionPush, true
		}
	case epTags:
		return policy.ActionListTags, read
	case epReferrers:
		return policy.ActionPull, read
	}
	return "", false
}

// authorize checks the request's action on rt's repository; a nil
// authorizer allows everything.
func (h *handler) authorize(ctx context.Context, rt route, method string) error {
	if h.authz == nil {
		return nil
	}
	a, ok := actionFor(rt.ep, method)
	if !ok {
		return nil
	}
	return h.authz.Authorize(ctx, a, rt.name)
}

// mayMountFrom reports whether a mount into an authorized push may link
// from the source repository: always without an authorizer; with one,
// only from a named repository the caller may pull. An error is written
// to the client (a MountAuthorizer's request to fetch a wider token).
func (h *handler) mayMountFrom(ctx context.Context, target, from string) (bool, error) {
	if h.authz == nil {
		return true, nil
	}
	if from == "" {
		return false, nil
	}
	if ma, ok := h.authz.(MountAuthorizer); ok {
		return ma.AuthorizeMount(ctx, target, from)
	}
	err := h.authz.Authorize(ctx, policy.ActionPull, from)
	if err == nil {
		return true, nil
	}
	if isRefusal(err) {
		return false, nil
	}
	return false, err
}

// challenger is a refusal from the Authorizer.
type challenger interface{ Challenge() string }

func isRefusal(err error) bool {
	var c challenger
	return errors.As(err, &c)
}

// visible reports whether the caller may see repo in the catalog.
func (h *handler) visible(ctx context.Context, repo string) (bool, error) {
	err := h.authz.Authorize(ctx, policy.ActionListRepositories, repo)
	if err == nil {
		return true, nil
	}
	if isRefusal(err) {
		return false, nil
	}
	return false, err
}

// notify reports e to the observer, if any.
func (h *handler) notify(ctx context.Context, e Event) {
	for _, fn := range h.observers {
		fn(ctx, e)
	}
}

// notifyRefusal reports every refused request with the action it
// needed: refusals are what an audit is most often read for, and clients
// probing with HEAD are refused before they ever start an upload.
func (h *handler) notifyRefusal(ctx context.Context, rt route, method string, err error) {
	if a, ok := actionFor(rt.ep, method); ok {
		h.notify(ctx, Event{Action: a, Repository: rt.name, Reference: rt.arg, Err: err})
	}
}
