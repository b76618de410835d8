package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/moat-dev/moat/internal/api"
	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/sqlidentity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/policystore"
	"github.com/moat-dev/moat/internal/auth/token"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/server"
	"github.com/moat-dev/moat/internal/sqldb"
)

// adminPolicy is attached to the admins group on every start, so the
// first-start admin can do everything.
const (
	adminPolicyName = "admins-allow-all"
	adminPolicyDoc  = `{"Version":"2026-01-01","Statement":[{"Sid":"Admins","Effect":"Allow","Action":"*","Resource":"*"}]}`
)

// refreshInterval is how often the server polls the identity generation
// and the policy version (one small query each), so a change made by
// another replica or by the moat CLI on the same database takes effect
// here within about a second; changes made here apply at once.
const refreshInterval = time.Second

// accessControl is the access-control stack of "moat serve --auth":
// identities, policies, tokens and the audit log, stored in the metadata
// database.
type accessControl struct {
	holder   *auth.EngineHolder
	ids      *identity.Service
	policies *policystore.Store
	loader   *auth.PolicyLoader
	audit    *audit.Log
	audited  *auditStack // audit and its checkpoints
	guard    *auth.Guard
	tokens   *token.Server
	listener string
	log      *slog.Logger
}

// openAccessControl opens the stores in db (shared with the metadata
// store; the caller closes it), creates the admin user on first start
// (password from MOAT_ADMIN_PASSWORD, or generated and written to out
// once), and builds the guard and token server.
func openAccessControl(ctx context.Context, cfg config.Config, db *sqldb.DB, listeners []listenerSpec, log *slog.Logger, out io.Writer) (*accessControl, error) {
	a := &accessControl{listener: cfg.Auth.Listener, log: log}
	idStore, err := sqlidentity.New(ctx, db)
	if err != nil {
		return nil, err
	}
	if a.ids, err = identity.NewService(idStore, identity.WithTokenTTL(cfg.Auth.DefaultTokenTTL), identity.WithMaxTokenTTL(cfg.Auth.MaxTokenTTL)); err != nil {
		return nil, err
	}
	if _, err := a.ids.Refresh(ctx); err != nil {
		return nil, err
	}
	if a.audited, err = openAudit(ctx, cfg, db, log); err != nil {
		return nil, err
	}
	a.audit = a.audited.log
	created, err := a.ids.Bootstrap(ctx, os.Getenv(identity.EnvAdminPassword), out)
	if err != nil {
		return nil, fmt.Errorf("create admin user: %w", err)
	}
	if created {
		if err := a.audit.Record(ctx, audit.Op{Actor: "system", Action: "admin:CreateUser", Resource: "user/" + identity.AdminUser}); err != nil {
			return nil, err
		}
	}
	if a.policies, err = policystore.New(ctx, db); err != nil {
		return nil, err
	}
	if err := ensureAdminPolicy(ctx, a.policies, a.audit); err != nil {
		return nil, err
	}
	a.holder = new(auth.EngineHolder)
	if a.loader, err = auth.NewPolicyLoader(a.policies, a.holder); err != nil {
		return nil, err
	}
	if _, err := a.loader.Reload(ctx); err != nil {
		return nil, err
	}
	key, err := token.LoadOrCreateKey(filepath.Join(cfg.DataDir, "token-key.pem"))
	if err != nil {
		return nil, err
	}
	issuer, err := token.NewIssuer(key, cfg.Auth.Service, token.WithAccessTTL(cfg.Auth.TokenTTL))
	if err != nil {
		return nil, err
	}
	// Each request's listener comes from the server, which names it in
	// the connection's context; so do the realm in challenges and
	// whether a client certificate may log in.
	guardOpts := []auth.Option{auth.WithLogger(log), auth.WithListenerFrom(server.ListenerName),
		auth.WithLoginObserver(auth.LoginAudit(a.audit, log)), auth.WithRefusalObserver(auth.RefusalAudit(a.audit, log))}
	for _, l := range listeners {
		if l.realm != "" {
			guardOpts = append(guardOpts, auth.WithListenerRealm(l.name, l.realm))
		}
		if l.certIdentity {
			guardOpts = append(guardOpts, auth.WithClientCertIdentity(l.name))
		}
	}
	// Without a configured realm, challenges name /auth/token on the
	// host each client used.
	if a.guard, err = auth.NewGuard(a.ids, issuer, a.holder, cfg.Auth.Service, cfg.Auth.Realm, guardOpts...); err != nil {
		return nil, err
	}
	a.tokens, err = token.NewServer(issuer, cfg.Auth.Service, auth.TokenAuthenticator(a.ids), a.guard.TokenAllow(),
		token.WithObserver(auth.TokenAudit(a.audit, log)))
	if err != nil {
		return nil, err
	}
	return a, nil
}

// ensureAdminPolicy stores the admins' policy and attaches it to the
// admins group unless it is there already (an operator may have edited
// it; that edit is kept).
func ensureAdminPolicy(ctx context.Context, ps *policystore.Store, log auth.Recorder) error {
	stored, _, err := ps.List(ctx)
	if err != nil {
		return err
	}
	for _, p := range stored {
		if p.Name == adminPolicyName {
			return nil
		}
	}
	if err := ps.Put(ctx, adminPolicyName, policy.Identity, []byte(adminPolicyDoc)); err != nil {
		return err
	}
	// The group exists unless an operator deleted it; then the policy
	// waits, unattached, for an operator to attach it again.
	if err := ps.Attach(ctx, adminPolicyName, policystore.Target{Type: policystore.TargetGroup, Name: identity.AdminGroup}); err != nil && !errors.Is(err, policystore.ErrNotFound) {
		return err
	}
	return log.Record(ctx, audit.Op{Actor: "system", Action: "admin:PutPolicy", Resource: "policy/" + adminPolicyName,
		Details: map[string]any{"document": json.RawMessage(adminPolicyDoc), "target": "group:" + identity.AdminGroup}})
}

// v2 wraps the distribution handler: the guard identifies the caller and
// the registry records who pushed, and from where.
func (a *accessControl) v2(next http.Handler) http.Handler {
	return a.guard.Middleware(a.listener, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, ok := auth.CallerFrom(r.Context()); ok {
			ctx := r.Context()
			if c.Principal.Type != policy.Anonymous {
				ctx = registry.WithActor(ctx, c.Principal.String())
			}
			if c.Context.SourceIP.IsValid() {
				ctx = meta.WithSourceIP(ctx, c.Context.SourceIP.String())
			}
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	}))
}

// tokenEndpoint serves /auth/token.
func (a *accessControl) tokenEndpoint(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/auth/token", a.guard.RequestContext(a.listener, a.tokens.Handler(log)))
	return mux
}

// management serves /api/v1/ behind the guard: c's services, with the
// access-control endpoints added.
func (a *accessControl) management(log *slog.Logger, c api.Config) (http.Handler, error) {
	c.Identities, c.Policies, c.Audit, c.Authorizer = a.ids, a.policies, a.audit, a.guard
	c.Engine, c.Reload, c.Checkpoints = a.holder.Load, a.loader.Reload, a.audited.verifier
	h, err := api.New(c, api.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return a.guard.Middleware(a.listener, h), nil
}

// outboxConsumer records the pushes and deletes the outbox holds in the
// audit log.
func (a *accessControl) outboxConsumer() events.Consumer {
	return events.Consumer{Name: "audit", Handle: auth.OutboxAudit(a.audit)}
}

// distributionOptions enforce policy in the /v2/ handlers and record
// pulls, pushes and deletes in the audit log.
func (a *accessControl) distributionOptions() []distribution.Option {
	return []distribution.Option{
		distribution.WithAuthorizer(a.guard),
		distribution.WithObserver(auth.RegistryAudit(a.audit, a.log)),
	}
}

// close writes what the audit log still holds (refusal counts) and a
// last checkpoint, once the server has stopped answering requests.
func (a *accessControl) close(ctx context.Context) error {
	return a.audited.close(ctx)
}

// refreshTask picks up identity and policy changes made by other
// replicas and the CLI: a new identity generation drops every cache of
// identity state (password checks, token revalidations, lookups); a new
// policy version recompiles the engine.
func (a *accessControl) refreshTask(ctx context.Context) error {
	_, idErr := a.ids.Refresh(ctx)
	changed, err := a.loader.Reload(ctx)
	if changed {
		a.log.Info("policies reloaded", "version", a.loader.Version())
	}
	return errors.Join(idErr, err)
}

// openAccess authorizes everything: the API's authorizer when access
// control is off.
type openAccess struct{}

func (openAccess) Authorize(context.Context, policy.Action, string) error { return nil }

func (openAccess) AuthorizeTokenMint(context.Context, string) (time.Time, error) {
	return time.Time{}, nil
}

func (openAccess) AuthorizeTokenAccess(context.Context, string) error { return nil }
