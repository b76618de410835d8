package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/events"
	"github.com/opencontainers/go-digest"
)

// Recorder records audited operations; *audit.Log is one. Refusals may
// be aggregated (see audit.Log.Record).
type Recorder interface {
	Record(ctx context.Context, op audit.Op) error
}

// AuditRefusal implements audit.Refusal: a refusal is "denied", with the
// reason class insufficient-scope (a token that does not grant the
// action), authentication-required (an anonymous caller who may log in)
// or policy-denied.
func (e *DeniedError) AuditRefusal() (result, reason string) {
	switch {
	case strings.HasPrefix(string(e.Decision.Reason), "token does not grant"):
		return audit.ResultDenied, audit.ReasonInsufficientScope
	case e.challenge != "":
		return audit.ResultDenied, audit.ReasonAuthRequired
	}
	return audit.ResultDenied, audit.ReasonPolicyDenied
}

var _ audit.Refusal = (*DeniedError)(nil)

// record appends op, logging a failure: the request is answered either
// way.
func record(ctx context.Context, rec Recorder, log *slog.Logger, what string, op audit.Op) {
	if err := rec.Record(ctx, op); err != nil {
		log.ErrorContext(ctx, "audit "+what, "action", op.Action, "err", err)
	}
}

func orDefault(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.Default()
	}
	return log
}

// sourceIP is the caller's address from ctx, "" when unknown.
func sourceIP(ctx context.Context) string {
	if c, ok := CallerFrom(ctx); ok && c.Context.SourceIP.IsValid() {
		return c.Context.SourceIP.String()
	}
	return ""
}

// TokenAudit returns a token.Server observer that records every token
// request (logins included) in the audit log: who asked, from where,
// what was asked and what was granted. Failures are refusals, aggregated
// when repeated, with a reason class and never what was presented beyond
// the user name. A failed append is logged, never turned into a failed
// login.
func TokenAudit(rec Recorder, log *slog.Logger) func(context.Context, token.Event) {
	log = orDefault(log)
	return func(ctx context.Context, ev token.Event) {
		actor := ev.Subject
		if actor == "" && ev.Username != "" {
			actor = "login:" + ev.Username // unauthenticated: the name as typed
		}
		details := map[string]any{"grant": ev.Grant, "service": ev.Service, "requested": token.FormatScopes(ev.Requested)}
		if ev.Err == nil {
			granted := make([]token.Scope, len(ev.Granted))
			for i, g := range ev.Granted {
				granted[i] = token.Scope{Type: g.Type, Name: g.Name, Actions: g.Actions}
			}
			details["granted"] = token.FormatScopes(granted)
		}
		record(ctx, rec, log, "token request", audit.Op{Actor: actor, Action: "auth:IssueToken", Resource: "registry",
			SourceIP: sourceIP(ctx), Details: details, Err: tokenOutcome(ev)})
	}
}

// tokenOutcome classifies a token failure without echoing credentials.
func tokenOutcome(ev token.Event) error {
	switch {
	case ev.Err == nil:
		return nil
	case errors.Is(ev.Err, token.ErrThrottled):
		return audit.Refuse(audit.ResultFailure, audit.ReasonThrottled, ev.Err)
	case errors.Is(ev.Err, token.ErrUnauthorized) && ev.Grant == token.GrantRefresh:
		return audit.Refuse(audit.ResultFailure, audit.ReasonInvalidToken, ev.Err)
	case errors.Is(ev.Err, token.ErrUnauthorized):
		return audit.Refuse(audit.ResultFailure, audit.ReasonBadCredentials, ev.Err)
	case errors.Is(ev.Err, token.ErrUnsupportedGrant), errors.Is(ev.Err, token.ErrInvalidRequest):
		return audit.Refuse(audit.ResultFailure, audit.ReasonInvalidRequest, ev.Err)
	}
	return errInternal
}

// errInternal stands for an internal error whose text stays in the
// process log.
var errInternal = errors.New("internal error")

// LoginAudit returns a Guard login observer that records Basic logins as
// auth:BasicLogin and client-certificate logins as
// auth:ClientCertificateLogin (with the certificate's subject, issuer and
// serial). A failed append is logged, never turned into a failed request.
func LoginAudit(rec Recorder, log *slog.Logger) func(context.Context, Login) {
	log = orDefault(log)
	return func(ctx context.Context, ev Login) {
		action, failedActor := "auth:BasicLogin", "login:"+ev.Name
		details := map[string]any{"listener": ev.Listener}
		if ev.Cert != nil {
			action, failedActor = "auth:ClientCertificateLogin", "cert:"+ev.Name
			details["certSubject"], details["issuer"], details["serial"] = ev.Cert.Subject, ev.Cert.Issuer, ev.Cert.Serial
		}
		op := audit.Op{Actor: ev.Subject, Action: action, Resource: "registry", Details: details}
		if ev.SourceIP.IsValid() {
			op.SourceIP = ev.SourceIP.String()
		}
		if ev.Err != nil {
			// Unauthenticated: the name as presented.
			op.Actor, op.Err = failedActor, audit.Refuse(audit.ResultFailure, audit.ReasonBadCredentials, ev.Err)
			switch {
			case errors.Is(ev.Err, identity.ErrThrottled):
				op.Err = audit.Refuse(audit.ResultFailure, audit.ReasonThrottled, ev.Err)
			case !errors.Is(ev.Err, ErrUnauthenticated):
				op.Err = errInternal
			}
		}
		record(ctx, rec, log, "login", op)
	}
}

// RegistryAudit returns a distribution observer that records pushes,
// pulls, deletes and refusals of every registry request: who, what, from
// where and the result, and for a push the tags it set and where moved
// tags pointed before. A refusal names the policy decision. A failed
// append is logged; the request has already been answered.
//
// A manifest pushed or deleted (by digest) is not recorded here: the
// store's transaction appends image.pushed or image.deleted to the events
// outbox, and OutboxAudit records it from there, so that no committed
// change goes unaudited when the process dies after the commit.
func RegistryAudit(rec Recorder, log *slog.Logger) func(context.Context, distribution.Event) {
	log = orDefault(log)
	return func(ctx context.Context, ev distribution.Event) {
		if ev.Manifest && ev.Err == nil {
			_, byDigest := digest.Parse(ev.Reference)
			if ev.Action == policy.ActionPush || ev.Action == policy.ActionDelete && byDigest == nil {
				return
			}
		}
		op := audit.Op{Action: string(ev.Action), Resource: policy.RegistryResource, SourceIP: sourceIP(ctx), Err: ev.Err}
		if ev.Repository != "" {
			op.Resource = policy.RepositoryResource(ev.Repository)
		}
		if c, ok := CallerFrom(ctx); ok {
			op.Actor = c.Principal.String()
		}
		details := map[string]any{}
		if ev.Reference != "" {
			details["reference"] = ev.Reference
		}
		if ev.Digest != "" {
			details["digest"] = ev.Digest.String()
		}
		if len(ev.Tags) > 0 {
			details["tags"] = ev.Tags
		}
		if len(ev.Moved) > 0 {
			details["moved"] = ev.Moved // tag -> the digest it pointed at before
		}
		var denied *DeniedError
		if errors.As(ev.Err, &denied) {
			details["decision"] = denied.Decision.String()
		}
		op.Details = details
		record(ctx, rec, log, "registry event", op)
	}
}

// RefusalAudit returns a Guard refusal observer that records every
// request the Middleware refuses before any handler runs (bad
// credentials on /v2/ and /api/): the actor as presented (the
// Basic user name as "login:NAME", a certificate's as "cert:NAME",
// "invalid-token" for a bearer token that does not verify, else
// "anonymous"), the action auth:Authenticate, the result "failure" (as
// for failed logins), the request path as the resource, the source
// address and a reason class. Never a password or
// token. Repeats are aggregated by the Recorder.
func RefusalAudit(rec Recorder, log *slog.Logger) func(context.Context, Refusal) {
	log = orDefault(log)
	return func(ctx context.Context, rf Refusal) {
		r := rf.Request
		op := audit.Op{Action: "auth:Authenticate", Resource: r.URL.Path,
			Details: map[string]any{"method": r.Method, "listener": rf.Listener}}
		if rf.SourceIP.IsValid() {
			op.SourceIP = rf.SourceIP.String()
		}
		reason := audit.ReasonBadCredentials
		scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			op.Actor, reason = "invalid-token", audit.ReasonInvalidToken
			// The token verified but its account (or credential) failed
			// the lookup.
			if errors.Is(rf.Err, identity.ErrUnauthenticated) {
				reason = audit.ReasonAccountUnusable
			}
		case strings.EqualFold(scheme, "Basic"):
			if user, _, ok := r.BasicAuth(); ok {
				op.Actor = "login:" + user
			} else {
				reason = audit.ReasonMalformedCredentials
			}
		case scheme != "":
			reason = audit.ReasonMalformedCredentials
		default:
			if cert := verifiedClientCert(r); cert != nil {
				op.Actor = "cert:" + cert.Subject.CommonName
			}
		}
		op.Err = audit.Refuse(audit.ResultFailure, reason, rf.Err)
		record(ctx, rec, log, "refused request", op)
	}
}

// OutboxAudit returns an events consumer's handler that records each
// image.pushed and image.deleted event in the audit log as the registry
// push or delete it describes (actor, source address, repository, digest,
// the tag set and where it pointed before, and the event's id), and each
// image.signed as the registry's signing:Sign. An append that fails fails
// the batch, which is offered again: a record may then repeat (with the
// same event id), never go missing.
func OutboxAudit(rec Recorder) func(context.Context, []events.Event) error {
	return func(ctx context.Context, evs []events.Event) error {
		for _, e := range evs {
			action := policy.ActionPush
			switch e.Type {
			case events.ImagePushed:
			case events.ImageDeleted:
				action = policy.ActionDelete
			case events.ImageSigned:
				if err := recordSigned(ctx, rec, e); err != nil {
					return err
				}
				continue
			default:
				continue
			}
			var d events.ImageData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				return fmt.Errorf("audit event %d: %w", e.ID, err)
			}
			details := map[string]any{"digest": d.Digest, "mediaType": d.MediaType, "event": e.ID}
			if d.Tag != "" {
				details["tags"] = []string{d.Tag}
			}
			if d.Previous != "" {
				details["moved"] = map[string]string{d.Tag: d.Previous}
			}
			if d.Subject != "" {
				details["subject"] = d.Subject
			}
			op := audit.Op{Actor: d.Actor, Action: string(action), Resource: policy.RepositoryResource(d.Repository),
				SourceIP: d.SourceIP, Details: details}
			if err := rec.Record(ctx, op); err != nil {
				return fmt.Errorf("audit event %d: %w", e.ID, err)
			}
		}
		return nil
	}
}

// recordSigned records an image.signed event as the registry's
// signing:Sign of the image.
func recordSigned(ctx context.Context, rec Recorder, e events.Event) error {
	var d struct {
		Repository string   `json:"repository"`
		Digest     string   `json:"digest"`
		KeyID      string   `json:"keyId"`
		Formats    []string `json:"formats"`
		Signatures []string `json:"signatures"`
		Actor      string   `json:"actor"`
	}
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return fmt.Errorf("audit event %d: %w", e.ID, err)
	}
	op := audit.Op{Actor: d.Actor, Action: "signing:Sign", Resource: policy.RepositoryResource(d.Repository),
		Details: map[string]any{"digest": d.Digest, "keyId": d.KeyID, "formats": d.Formats, "signatures": d.Signatures, "event": e.ID}}
	if err := rec.Record(ctx, op); err != nil {
		return fmt.Errorf("audit event %d: %w", e.ID, err)
	}
	return nil
}
