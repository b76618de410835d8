package api_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/moat-dev/moat/internal/audit"
)

// TestRefusedCallsAudited: management calls refused 401 or 403, by the
// endpoint's admin check or by the handler's own (another user's
// tokens), are recorded with the caller, the action that was needed, the
// path, the source and a reason class. Before, they left no record.
func TestRefusedCallsAudited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	before, _, err := e.audit.Query(ctx, audit.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user, method, path string
		status             int
		actor, action      string
		reason             string
	}{
		{"", "GET", "/api/v1/users", 401, "anonymous", "admin:ManageIdentities", audit.ReasonAuthRequired},
		{"alice", "GET", "/api/v1/users", 403, "user:alice", "admin:ManageIdentities", audit.ReasonPolicyDenied},
		{"alice", "PUT", "/api/v1/policies/p", 403, "user:alice", "admin:ManagePolicies", audit.ReasonPolicyDenied},
		{"alice", "GET", "/api/v1/audit/verify", 403, "user:alice", "admin:ReadAudit", audit.ReasonPolicyDenied},
		{"alice", "POST", "/api/v1/users/admin/tokens", 403, "user:alice", "admin:ManageIdentities", audit.ReasonPolicyDenied},
	}
	for _, tc := range cases {
		if got := e.call(t, tc.user, tc.method, tc.path, map[string]any{}, nil); got != tc.status {
			t.Fatalf("%s %s %s: %d, want %d", tc.user, tc.method, tc.path, got, tc.status)
		}
	}
	recs, _, err := e.audit.Query(ctx, audit.Filter{After: int64(len(before)), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(cases) {
		t.Fatalf("%d records for %d refusals: %+v", len(recs), len(cases), recs)
	}
	for i, tc := range cases {
		r := recs[i]
		var d map[string]string
		if err := json.Unmarshal(r.Details, &d); err != nil {
			t.Fatal(err)
		}
		if r.Actor != tc.actor || r.Action != tc.action || r.Resource != tc.path || r.SourceIP != "192.0.2.7" ||
			r.Result != audit.ResultDenied || d["reason"] != tc.reason || d["method"] != tc.method {
			t.Errorf("%s %s %s: record %+v %s", tc.user, tc.method, tc.path, r, r.Details)
		}
	}
}
