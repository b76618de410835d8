package audit

import (
	"encoding/hex"
	"testing"
	"time"
)

// TestHashStable pins the canonical encoding: changing it would make
// every stored chain fail verification.
func TestHashStable(t *testing.T) {
	r := Record{
		Seq:  7,
		Time: time.Date(2026, 6, 1, 12, 0, 0, 5, time.UTC),
		Entry: Entry{Actor: "user:alice", Action: "registry:Push", Resource: "repository/team-a/app",
			SourceIP: "10.0.0.1", Result: ResultSuccess, Details: []byte(`{"tag":"v1"}`)},
		PrevHash: Genesis(),
	}
	got := hex.EncodeToString(r.ComputeHash())
	const want = "0f3edffd85fe0234282ddd37835e6870203ed7450a7a6486223d0e6cc538430b"
	if got != want {
		t.Errorf("hash %s, want %s", got, want)
	}
	// Moving bytes between adjacent fields changes the hash.
	r2 := r
	r2.Actor, r2.Action = "user:alicer", "egistry:Push"
	if hex.EncodeToString(r2.ComputeHash()) == got {
		t.Error("field boundaries are not part of the hash")
	}
}
