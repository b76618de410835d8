package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestOversizeDetailsTruncated: details beyond 64 KiB — a refused push
// with a huge tag list and error text — are stored shortened, marked, as
// valid JSON, identically every time; they used to fail the append.
func TestOversizeDetailsTruncated(t *testing.T) {
	tags := make([]string, 20000)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%05d", i)
	}
	for name, details := range map[string]map[string]any{
		"tags and error":  {"reference": "latest", "tags": tags, "error": strings.Repeat(`manifest invalid: <"bad">\`, 5000)},
		"one huge string": {"error": strings.Repeat("é", 100000)},
		"huge object":     {"a": "x", "moved": map[string]string{"k": strings.Repeat("d", 90000)}, "z": "last"},
		"many fields": func() map[string]any {
			m := map[string]any{}
			for i := range 5000 {
				m[fmt.Sprintf("field-%04d", i)] = strings.Repeat("v", 40)
			}
			return m
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			e := Op{Actor: "user:alice", Action: "registry:Push", Resource: "repository/a", Details: details,
				Err: Refuse(ResultDenied, ReasonPolicyDenied, nil)}.Entry()
			orig := len(e.Details)
			if orig <= maxDetails {
				t.Fatalf("test details only %d bytes", orig)
			}
			first := e
			if err := first.normalize(); err != nil {
				t.Fatalf("oversize details rejected: %v", err)
			}
			if len(first.Details) > maxDetails {
				t.Fatalf("truncated details are %d bytes", len(first.Details))
			}
			var d map[string]any
			if err := json.Unmarshal(first.Details, &d); err != nil {
				t.Fatalf("truncated details are not JSON: %v\n%.200s", err, first.Details)
			}
			if d["truncated"] != true || d["original_size"] != float64(orig) || d["reason"] != ReasonPolicyDenied {
				t.Errorf("markers missing: truncated=%v original_size=%v reason=%v", d["truncated"], d["original_size"], d["reason"])
			}
			second := e
			_ = second.normalize()
			if !bytes.Equal(first.Details, second.Details) {
				t.Error("truncation is not deterministic")
			}
			// Normalizing again (as a stored record read back) keeps it.
			again := first
			if err := again.normalize(); err != nil || !bytes.Equal(again.Details, first.Details) {
				t.Errorf("truncated details change on a second normalize: %v", err)
			}
		})
	}
}

// TestOversizeDetailsStored: the truncated record is appended and its
// chain verifies.
func TestOversizeDetailsStored(t *testing.T) {
	st := &memStore{}
	l, _ := New(st)
	r, err := l.Append(context.Background(), Entry{Actor: "a", Action: "b", Result: ResultFailure,
		Details: json.RawMessage(`{"error":"` + strings.Repeat("x", 200000) + `"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Details) > maxDetails || !bytes.Contains(r.Details, []byte(`"truncated":true`)) || !bytes.Equal(r.Hash, r.ComputeHash()) {
		t.Errorf("record %d bytes of details: %.100s", len(r.Details), r.Details)
	}
}
