package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
	"github.com/moat-dev/moat/internal/distribution"
)

// Appender records audit entries; *audit.Log is one.
type Appender interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// TokenAudit returns a token.Server observer that records every token
// request (logins included) in the audit log: who asked, from where,
// what was asked and what was granted. A failed append is logged, never
// turned into a failed login.
func TokenAudit(a Appender, log *slog.Logger) func(context.Context, token.Event) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev token.Event) {
		actor := ev.Subject
		if actor == "" && ev.Username != "" {
			actor = "login:" + ev.Username // unauthenticated: the name as typed
		}
		if actor == "" {
			actor = "anonymous"
		}
		result := audit.ResultSuccess
		details := map[string]any{"grant": ev.Grant, "service": ev.Service, "requested": token.FormatScopes(ev.Requested)}
		if ev.Err != nil {
			result = audit.ResultFailure
			details["error"] = errorClass(ev.Err)
		} else {
			granted := make([]token.Scope, len(ev.Granted))
			for i, g := range ev.Granted {
				granted[i] = token.Scope{Type: g.Type, Name: g.Name, Actions: g.Actions}
			}
			details["granted"] = token.FormatScopes(granted)
		}
		b, err := json.Marshal(details)
		if err != nil {
			log.ErrorContext(ctx, "audit token request", "err", err)
			return
		}
		e := audit.Entry{Actor: actor, Action: "auth:IssueToken", Resource: "registry", Result: result, Details: b}
		if c, ok := CallerFrom(ctx); ok && c.Context.SourceIP.IsValid() {
			e.SourceIP = c.Context.SourceIP.String()
		}
		if _, err := a.Append(ctx, e); err != nil {
			log.ErrorContext(ctx, "audit token request", "err", err)
		}
	}
}

// errorClass names a token failure without echoing credentials.
func errorClass(err error) string {
	switch {
	case errors.Is(err, token.ErrThrottled):
		return "throttled"
	case errors.Is(err, token.ErrUnauthorized):
		return "authentication failed"
	case errors.Is(err, token.ErrUnsupportedGrant):
		return "unsupported grant type"
	case errors.Is(err, token.ErrInvalidRequest):
		return "invalid request"
	}
	return "internal error"
}

// LoginAudit returns a Guard login observer that records Basic logins as
// auth:BasicLogin and client-certificate logins as
// auth:ClientCertificateLogin (with the certificate's subject, issuer and
// serial). A failed append is logged, never turned into a failed request.
func LoginAudit(a Appender, log *slog.Logger) func(context.Context, Login) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev Login) {
		action, failedActor := "auth:BasicLogin", "login:"+ev.Name
		details := map[string]any{"listener": ev.Listener}
		if ev.Cert != nil {
			action, failedActor = "auth:ClientCertificateLogin", "cert:"+ev.Name
			details["certSubject"], details["issuer"], details["serial"] = ev.Cert.Subject, ev.Cert.Issuer, ev.Cert.Serial
		}
		actor, result := ev.Subject, audit.ResultSuccess
		if ev.Err != nil {
			// Unauthenticated: the name as presented.
			actor, result = failedActor, audit.ResultFailure
			switch {
			case errors.Is(ev.Err, identity.ErrThrottled):
				details["error"] = "throttled"
			case errors.Is(ev.Err, ErrUnauthenticated):
				details["error"] = "authentication failed"
			default:
				details["error"] = "internal error"
			}
		}
		b, err := json.Marshal(details)
		if err != nil {
			log.ErrorContext(ctx, "audit login", "err", err)
			return
		}
		e := audit.Entry{Actor: actor, Action: action, Resource: "registry", Result: result, Details: b}
		if ev.SourceIP.IsValid() {
			e.SourceIP = ev.SourceIP.String()
		}
		if _, err := a.Append(ctx, e); err != nil {
			log.ErrorContext(ctx, "audit login", "err", err)
		}
	}
}

// RegistryAudit returns a distribution observer that records pushes,
// pulls, deletes and refusals: who, what, from where and the result, and
// for a push the tags it set and where moved tags pointed before. A
// failed append is logged; the request has already been answered.
func RegistryAudit(a Appender, log *slog.Logger) func(context.Context, distribution.Event) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev distribution.Event) {
		e := audit.Entry{Actor: "anonymous", Action: string(ev.Action), Resource: policy.RepositoryResource(ev.Repository), Result: audit.ResultSuccess}
		if c, ok := CallerFrom(ctx); ok {
			e.Actor = c.Principal.String()
			if c.Context.SourceIP.IsValid() {
				e.SourceIP = c.Context.SourceIP.String()
			}
		}
		details := map[string]any{"reference": ev.Reference}
		if ev.Digest != "" {
			details["digest"] = ev.Digest.String()
		}
		if len(ev.Tags) > 0 {
			details["tags"] = ev.Tags
		}
		if len(ev.Moved) > 0 {
			details["moved"] = ev.Moved // tag -> the digest it pointed at before
		}
		var refusal interface{ Challenge() string }
		switch {
		case ev.Err == nil:
		case errors.As(ev.Err, &refusal):
			e.Result = audit.ResultDenied
		default:
			e.Result = audit.ResultFailure
			details["error"] = ev.Err.Error()
		}
		b, err := json.Marshal(details)
		if err != nil {
			log.ErrorContext(ctx, "audit registry event", "err", err)
			return
		}
		e.Details = b
		if _, err := a.Append(ctx, e); err != nil {
			log.ErrorContext(ctx, "audit registry event", "err", err)
		}
	}
}
