package token

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors of the token endpoint, classified with errors.Is.
var (
	// ErrUnauthorized: credentials or refresh token were wrong, expired or
	// revoked.
	ErrUnauthorized = errors.New("authentication failed")
	// ErrInvalidRequest: a parameter is missing or malformed, or the
	// service is not this registry.
	ErrInvalidRequest = errors.New("invalid token request")
	// ErrUnsupportedGrant: grant_type is neither password nor
	// refresh_token.
	ErrUnsupportedGrant = errors.New("unsupported grant type")
	// ErrThrottled: the login was refused before its credentials were
	// checked (too many failures, or too many pending). An error in the
	// chain with a RetryAfter() time.Duration method says how long to
	// wait.
	ErrThrottled = errors.New("too many login attempts")
)

// Identity is who a credential belongs to; the zero Identity is the
// anonymous caller.
type Identity struct {
	// Subject becomes the token's "sub" ("user:alice", "robot:ci").
	Subject string
	// Credential names what was presented (a password login, a robot
	// secret, a personal access token) and AccountID the account's
	// immutable id; tokens carry both ("moat_cred", "moat_aid") so every
	// use can be checked against them.
	Credential string
	AccountID  int64
}

// check: a subject comes with its credential and account, and the
// anonymous caller has neither.
func (id Identity) check() error {
	named := id.Subject != ""
	if named != (id.Credential != "") || named != (id.AccountID > 0) {
		return errors.New("a token's subject, credential and account id go together")
	}
	return nil
}

// Authenticator checks credentials. Implementations return an error
// wrapping ErrUnauthorized for wrong, disabled, expired or revoked ones,
// and ErrThrottled for a login refused unchecked.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (Identity, error)
	// Revalidate checks that the credential and account a refresh token
	// was issued for are still good.
	Revalidate(ctx context.Context, id Identity) error
}

// Grant types of the OAuth2 form.
const (
	GrantPassword = "password"
	GrantRefresh  = "refresh_token"
)

// Request is a token request from either endpoint form.
type Request struct {
	// GrantType is empty for the GET form.
	GrantType string
	Service   string
	ClientID  string
	Scopes    []Scope
	// Username and Password come from Basic auth (GET) or the form.
	Username, Password string
	RefreshToken       string
	// Offline asks for a refresh token (GET offline_token=true, POST
	// access_type=offline).
	Offline bool
}

// Response is the endpoint's JSON answer. Token and AccessToken are the
// same JWT: Docker clients read the first, OAuth2 clients the second.
type Response struct {
	Token        string   `json:"token"`
	AccessToken  string   `json:"access_token"`
	ExpiresIn    int      `json:"expires_in"`
	IssuedAt     string   `json:"issued_at"`
	RefreshToken string   `json:"refresh_token,omitempty"`
	Scope        string   `json:"scope,omitempty"`
	Granted      []Access `json:"-"`
	Subject      string   `json:"-"`
}

// Event describes one issuance attempt, for the audit log.
type Event struct {
	Grant     string // "anonymous", "basic", "password", "refresh_token"
	Username  string
	Subject   string
	Service   string
	Requested []Scope
	Granted   []Access
	Err       error
}

// Server issues tokens for one registry (the service).
type Server struct {
	issuer  *Issuer
	service string
	authn   Authenticator
	allow   AllowFunc
	observe func(context.Context, Event)
}

// ServerOption configures NewServer.
type ServerOption func(*Server) error

// WithObserver calls fn after every issuance attempt, successful or not,
// and for every request the Handler refuses before trying (a malformed
// request, a wrong method). Default: none.
func WithObserver(fn func(context.Context, Event)) ServerOption {
	return func(s *Server) error {
		if fn == nil {
			return errors.New("nil observer")
		}
		s.observe = fn
		return nil
	}
}

// NewServer returns a token server for the registry named service.
func NewServer(issuer *Issuer, service string, authn Authenticator, allow AllowFunc, opts ...ServerOption) (*Server, error) {
	if issuer == nil || authn == nil || allow == nil || service == "" {
		return nil, errors.New("token: NewServer needs an issuer, a service name, an authenticator and an allow func")
	}
	s := &Server{issuer: issuer, service: service, authn: authn, allow: allow, observe: func(context.Context, Event) {}}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
	}
	return s, nil
}

// Issue answers a token request: it authenticates the caller (anonymous
// when a GET carries no credentials), intersects the requested scopes
// with what allow permits and signs an access token, plus a refresh token
// when one was asked for.
func (s *Server) Issue(ctx context.Context, r Request) (resp *Response, err error) {
	ev := Event{Grant: r.GrantType, Username: r.Username, Service: r.Service, Requested: r.Scopes}
	defer func() {
		ev.Err = err
		if resp != nil {
			ev.Subject, ev.Granted = resp.Subject, resp.Granted
		}
		s.observe(ctx, ev)
	}()
	if r.Service != s.service {
		return nil, fmt.Errorf("%w: service %q is not this registry (%q)", ErrInvalidRequest, r.Service, s.service)
	}
	var id Identity
	switch r.GrantType {
	case "":
		if r.Username == "" && r.Password == "" {
			ev.Grant = "anonymous"
			if r.Offline {
				return nil, fmt.Errorf("%w: anonymous callers get no refresh token", ErrInvalidRequest)
			}
			break
		}
		ev.Grant = "basic"
		if id, err = s.authenticate(ctx, r.Username, r.Password); err != nil {
			return nil, err
		}
	case GrantPassword:
		if r.ClientID == "" {
			return nil, fmt.Errorf("%w: client_id is required", ErrInvalidRequest)
		}
		if r.Username == "" || r.Password == "" {
			return nil, fmt.Errorf("%w: username and password are required", ErrInvalidRequest)
		}
		if id, err = s.authenticate(ctx, r.Username, r.Password); err != nil {
			return nil, err
		}
	case GrantRefresh:
		if r.ClientID == "" || r.RefreshToken == "" {
			return nil, fmt.Errorf("%w: client_id and refresh_token are required", ErrInvalidRequest)
		}
		c, verr := s.issuer.VerifyRefresh(r.RefreshToken, s.service)
		if verr != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnauthorized, verr)
		}
		id = c.Identity()
		if verr := s.authn.Revalidate(ctx, id); verr != nil {
			return nil, fmt.Errorf("%w: refresh token's credential: %w", ErrUnauthorized, verr)
		}
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedGrant, r.GrantType)
	}

	granted := Intersect(ctx, id.Subject, r.Scopes, s.allow)
	tok, claims, err := s.issuer.IssueAccess(id, s.service, granted)
	if err != nil {
		return nil, err
	}
	resp = &Response{
		Token: tok, AccessToken: tok,
		ExpiresIn: int(claims.ExpiresAt.Sub(claims.IssuedAt.Time) / time.Second),
		IssuedAt:  claims.IssuedAt.UTC().Format(time.RFC3339),
		Granted:   granted,
		Subject:   id.Subject,
	}
	if r.GrantType != "" {
		resp.Scope = FormatScopes(accessScopes(granted))
	}
	if r.Offline && r.GrantType != GrantRefresh {
		if resp.RefreshToken, _, err = s.issuer.IssueRefresh(id, s.service); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (s *Server) authenticate(ctx context.Context, username, password string) (Identity, error) {
	id, err := s.authn.Authenticate(ctx, username, password)
	if err != nil {
		if !errors.Is(err, ErrUnauthorized) {
			return Identity{}, fmt.Errorf("authenticate %q: %w", username, err)
		}
		return Identity{}, err
	}
	if id.Subject == "" || id.check() != nil {
		return Identity{}, fmt.Errorf("authenticate %q: authenticator returned no subject, credential or account", username)
	}
	return id, nil
}

func accessScopes(as []Access) []Scope {
	out := make([]Scope, len(as))
	for i, a := range as {
		out[i] = Scope{Type: a.Type, Name: a.Name, Actions: a.Actions}
	}
	return out
}
