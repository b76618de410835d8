package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/auth/token"
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
	case errors.Is(err, token.ErrUnauthorized):
		return "authentication failed"
	case errors.Is(err, token.ErrUnsupportedGrant):
		return "unsupported grant type"
	case errors.Is(err, token.ErrInvalidRequest):
		return "invalid request"
	}
	return "internal error"
}

// CertLoginAudit returns a Guard certificate login observer that records
// client-certificate logins in the audit log as auth:ClientCertificateLogin,
// with the certificate's subject, issuer and serial. A failed append is
// logged, never turned into a failed request.
func CertLoginAudit(a Appender, log *slog.Logger) func(context.Context, CertLogin) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev CertLogin) {
		actor := ev.Subject
		result := audit.ResultSuccess
		details := map[string]any{"certSubject": ev.CertSubject, "issuer": ev.Issuer, "serial": ev.Serial, "listener": ev.Listener}
		if ev.Err != nil {
			result = audit.ResultFailure
			details["error"] = "authentication failed"
			if !errors.Is(ev.Err, ErrUnauthenticated) {
				details["error"] = "internal error"
			}
			actor = "cert:" + ev.CommonName // unauthenticated: the name as presented
		}
		b, err := json.Marshal(details)
		if err != nil {
			log.ErrorContext(ctx, "audit certificate login", "err", err)
			return
		}
		e := audit.Entry{Actor: actor, Action: "auth:ClientCertificateLogin", Resource: "registry", Result: result, Details: b}
		if ev.SourceIP.IsValid() {
			e.SourceIP = ev.SourceIP.String()
		}
		if _, err := a.Append(ctx, e); err != nil {
			log.ErrorContext(ctx, "audit certificate login", "err", err)
		}
	}
}
