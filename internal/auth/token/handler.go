package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// maxFormBytes bounds a POST body; real requests are well under 4 KiB.
const maxFormBytes = 64 << 10

// Handler serves the token endpoint: GET with optional Basic credentials
// (the Docker form) and the OAuth2 POST form. It holds no logic beyond
// decoding the request and encoding the answer of Issue.
func (s *Server) Handler(log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			req Request
			err error
		)
		switch r.Method {
		case http.MethodGet:
			req, err = fromQuery(r)
		case http.MethodPost:
			req, err = fromForm(w, r)
		default:
			s.observeMalformed(r, fmt.Errorf("%w: method %s", ErrInvalidRequest, r.Method))
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var resp *Response
		if err == nil {
			resp, err = s.Issue(r.Context(), req)
		} else {
			s.observeMalformed(r, err)
		}
		if err != nil {
			s.writeError(w, r, log, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		_ = json.NewEncoder(w).Encode(resp) // a failed write means the client left
	})
}

// observeMalformed reports a request refused before Issue (which
// reports the rest), with the user name presented, if any.
func (s *Server) observeMalformed(r *http.Request, err error) {
	ev := Event{Service: r.URL.Query().Get("service"), Err: err}
	if u, _, ok := r.BasicAuth(); ok {
		ev.Username = u
	}
	s.observe(r.Context(), ev)
}

func fromQuery(r *http.Request) (Request, error) {
	q := r.URL.Query()
	scopes, err := ParseScopes(q["scope"]...)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	req := Request{Service: q.Get("service"), ClientID: q.Get("client_id"), Scopes: scopes}
	if v := q.Get("offline_token"); v != "" {
		if req.Offline, err = strconv.ParseBool(v); err != nil {
			return Request{}, fmt.Errorf("%w: offline_token is not a boolean", ErrInvalidRequest)
		}
	}
	if u, p, ok := r.BasicAuth(); ok {
		req.Username, req.Password = u, p
		if acct := q.Get("account"); acct != "" && acct != u {
			return Request{}, fmt.Errorf("%w: account does not match the credentials", ErrInvalidRequest)
		}
	} else if r.Header.Get("Authorization") != "" {
		return Request{}, fmt.Errorf("%w: only Basic credentials are accepted", ErrUnauthorized)
	}
	return req, nil
}

func fromForm(w http.ResponseWriter, r *http.Request) (Request, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	f := r.PostForm
	scopes, err := ParseScopes(f["scope"]...)
	if err != nil {
		return Request{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	return Request{
		GrantType:    f.Get("grant_type"),
		Service:      f.Get("service"),
		ClientID:     f.Get("client_id"),
		Scopes:       scopes,
		Username:     f.Get("username"),
		Password:     f.Get("password"),
		RefreshToken: f.Get("refresh_token"),
		Offline:      f.Get("access_type") == "offline",
	}, nil
}

// writeError answers GET errors in the registry's error format and POST
// errors in the OAuth2 format (RFC 6749 section 5.2).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, oauth, msg := http.StatusInternalServerError, "server_error", "internal error"
	switch {
	case errors.Is(err, ErrThrottled):
		status, oauth, msg = http.StatusTooManyRequests, "temporarily_unavailable", "too many failed logins; retry later"
		wait := time.Second
		var ra interface{ RetryAfter() time.Duration }
		if errors.As(err, &ra) {
			wait = ra.RetryAfter()
		}
		w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64((wait+time.Second-1)/time.Second)), 10))
	case errors.Is(err, ErrUnauthorized):
		status, oauth, msg = http.StatusUnauthorized, "invalid_grant", "authentication failed"
	case errors.Is(err, ErrUnsupportedGrant):
		status, oauth, msg = http.StatusBadRequest, "unsupported_grant_type", err.Error()
	case errors.Is(err, ErrInvalidRequest):
		status, oauth, msg = http.StatusBadRequest, "invalid_request", err.Error()
	default:
		log.ErrorContext(r.Context(), "token request failed", "err", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodPost {
		if status == http.StatusUnauthorized {
			status = http.StatusBadRequest // invalid_grant is a 400 in OAuth2
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": oauth, "error_description": msg})
		return
	}
	code := "UNAUTHORIZED"
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", BasicChallenge(s.service))
	case http.StatusTooManyRequests:
		code = "TOOMANYREQUESTS"
	case http.StatusBadRequest:
		code = "UNSUPPORTED"
	default:
		code = "UNKNOWN"
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
