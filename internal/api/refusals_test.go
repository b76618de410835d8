package api_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/api"
	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
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

// fakeCheckpoints answers Verify with a fixed result.
type fakeCheckpoints struct {
	res checkpoint.Result
	err error
}

func (f fakeCheckpoints) Verify(context.Context) (checkpoint.Result, error) { return f.res, f.err }

// TestVerifyReportsCheckpoint: with checkpoints configured, the verify
// endpoint names the newest checkpoint the chain holds, or the one it no
// longer holds.
func TestVerifyReportsCheckpoint(t *testing.T) {
	cp := checkpoint.Signed{Checkpoint: checkpoint.Checkpoint{Seq: 7, Hash: []byte{0xab}, Time: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), KeyID: "k1"}}
	for _, tc := range []struct {
		name string
		fake fakeCheckpoints
		want map[string]any
	}{
		{"holds", fakeCheckpoints{res: checkpoint.Result{Report: audit.Report{Records: 9, Head: audit.Head{Seq: 9, Hash: []byte{1}}}, Checkpoint: &cp}},
			map[string]any{"ok": true, "records": 9.0, "checkpoint": map[string]any{"seq": 7.0, "hash": "ab", "time": "2026-06-01T00:00:00Z", "key_id": "k1"}}},
		{"truncated", fakeCheckpoints{res: checkpoint.Result{Report: audit.Report{Records: 5}}, err: &checkpoint.MismatchError{Checkpoint: cp.Checkpoint, Reason: "record 7 is missing"}},
			map[string]any{"ok": false, "checkpoint_seq": 7.0, "reason": "record 7 is missing"}},
		{"bad signature", fakeCheckpoints{err: checkpoint.ErrBadSignature}, map[string]any{"ok": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *api.Config) { c.Checkpoints = tc.fake })
			var got map[string]any
			if code := e.call(t, "admin", "GET", "/api/v1/audit/verify", nil, &got); code != 200 {
				t.Fatalf("status %d", code)
			}
			for k, v := range tc.want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v (in %v)", k, got[k], v, got)
				}
			}
		})
	}
}
