package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestOpEntry: the one entry builder gives every caller the same result
// and details: success, a failure with its text, a refusal with its
// class and without its text.
func TestOpEntry(t *testing.T) {
	secret := errors.New("token eyJhbGciOi.secret.sig does not verify")
	for _, tc := range []struct {
		name        string
		op          Op
		result      string
		details     string
		notInResult string
	}{
		{"success", Op{Actor: "user:alice", Action: "registry:Push", Resource: "repository/a", Details: map[string]any{"tag": "v1"}},
			ResultSuccess, `{"tag":"v1"}`, ""},
		{"success without details", Op{Actor: "user:alice", Action: "admin:CreateUser"}, ResultSuccess, ``, ""},
		{"failure", Op{Actor: "user:alice", Action: "admin:CreateUser", Err: errors.New("user exists")},
			ResultFailure, `{"error":"user exists"}`, ""},
		{"refusal", Op{Action: "auth:Authenticate", Err: Refuse(ResultDenied, ReasonInvalidToken, secret), Details: map[string]any{"path": "/v2/"}},
			ResultDenied, `{"path":"/v2/","reason":"invalid-token"}`, "eyJ"},
		{"wrapped refusal", Op{Actor: "login:bob", Action: "auth:IssueToken", Err: fmt.Errorf("issue: %w", Refuse(ResultFailure, ReasonBadCredentials, secret))},
			ResultFailure, `{"reason":"bad-credentials"}`, "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.op.Entry()
			if e.Result != tc.result || string(e.Details) != tc.details {
				t.Errorf("entry %+v details %s, want %s %s", e, e.Details, tc.result, tc.details)
			}
			if tc.notInResult != "" && strings.Contains(string(e.Details), tc.notInResult) {
				t.Errorf("refusal text leaked: %s", e.Details)
			}
			if err := e.normalize(); err != nil {
				t.Errorf("built entry does not normalize: %v", err)
			}
		})
	}
	if a := (Op{Action: "x"}).Entry().Actor; a != "anonymous" {
		t.Errorf("empty actor recorded as %q", a)
	}
	// The caller's details map is not changed.
	d := map[string]any{"k": 1}
	_ = Op{Actor: "a", Action: "b", Details: d, Err: errors.New("boom")}.Entry()
	if len(d) != 1 {
		t.Errorf("details map changed: %v", d)
	}
}

// TestOpEntryOddInput: what a refused caller presents — a name of any
// length, invalid UTF-8, NUL bytes — and details that do not encode still
// give a storable entry.
func TestOpEntryOddInput(t *testing.T) {
	e := Op{Actor: "login:" + strings.Repeat("é", 3000) + "\xff\x00", Action: "auth:BasicLogin", SourceIP: "10.0.0.1\x00",
		Details: map[string]any{"bad": func() {}}, Err: Refuse(ResultFailure, ReasonBadCredentials, nil)}.Entry()
	if err := e.normalize(); err != nil {
		t.Fatalf("entry rejected: %v", err)
	}
	if len(e.Actor) > maxField || !utf8.ValidString(e.Actor) || !strings.HasSuffix(e.Actor, "…") {
		t.Errorf("actor not cut: %d bytes %q...", len(e.Actor), e.Actor[:20])
	}
	var d map[string]any
	if err := json.Unmarshal(e.Details, &d); err != nil || d["details_unencodable"] == nil {
		t.Errorf("unencodable details: %s %v", e.Details, err)
	}
}
