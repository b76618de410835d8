package sqlaudit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/testutil/pgtest"
)

type engine struct {
	name string
	dsn  func(t *testing.T) string
}

var engines = []engine{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "moat.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.NewDatabase(t) }},
}

func forEach(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) { fn(t, e.dsn(t)) })
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newLog(t *testing.T, dsn string) (*audit.Log, *Store) {
	t.Helper()
	s, err := New(context.Background(), rawDB(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	l, err := audit.New(s, audit.WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	return l, s
}

func entry(i int) audit.Entry {
	actors := []string{"user:alice", "user:bob", "robot:ci"}
	actions := []string{"registry:Push", "registry:Pull", "registry:Delete", "auth:Login"}
	repos := []string{"repository/team-a/app", "repository/team-ab/app", "repository/team-b/x"}
	results := []string{audit.ResultSuccess, audit.ResultSuccess, audit.ResultDenied}
	return audit.Entry{
		Actor: actors[i%3], Action: actions[i%4], Resource: repos[i%3], SourceIP: fmt.Sprintf("10.0.0.%d", i%250),
		Result: results[i%3], Details: json.RawMessage(fmt.Sprintf(`{ "n": %d, "tag": "v%d" }`, i, i)),
	}
}

func fill(t *testing.T, l *audit.Log, n int) {
	t.Helper()
	for i := range n {
		if _, err := l.Append(context.Background(), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendVerify(t *testing.T) {
	forEach(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		l, _ := newLog(t, dsn)
		if rep, err := l.Verify(ctx); err != nil || rep.Records != 0 {
			t.Fatalf("empty log: %+v %v", rep, err)
		}
		first, err := l.Append(ctx, entry(0))
		if err != nil {
			t.Fatal(err)
		}
		if first.Seq != 1 || !bytes.Equal(first.PrevHash, audit.Genesis()) || string(first.Details) != `{"n":0,"tag":"v0"}` {
			t.Errorf("first record %+v", first)
		}
		fill(t, l, 29)
		rep, err := l.Verify(ctx)
		if err != nil || rep.Records != 30 || rep.Head.Seq != 30 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		// Records read back hash the same as when written.
		recs, _, err := l.Query(ctx, audit.Filter{Limit: 1000})
		if err != nil || len(recs) != 30 {
			t.Fatal(err)
		}
		if !bytes.Equal(recs[0].Hash, first.Hash) || !recs[0].Time.Equal(first.Time) {
			t.Errorf("stored first record differs: %+v", recs[0])
		}
	})
}

func TestBadEntries(t *testing.T) {
	l, s := newLog(t, filepath.Join(t.TempDir(), "moat.db"))
	ctx := context.Background()
	for name, e := range map[string]audit.Entry{
		"no actor":         {Action: "a", Result: audit.ResultSuccess},
		"no action":        {Actor: "a", Result: audit.ResultSuccess},
		"bad result":       {Actor: "a", Action: "b", Result: "ok"},
		"details array":    {Actor: "a", Action: "b", Result: audit.ResultSuccess, Details: json.RawMessage(`[1]`)},
		"details invalid":  {Actor: "a", Action: "b", Result: audit.ResultSuccess, Details: json.RawMessage(`{"a":`)},
		"huge resource":    {Actor: "a", Action: "b", Result: audit.ResultSuccess, Resource: strings.Repeat("x", 2000)},
		"invalid utf8":     {Actor: "a\xff", Action: "b", Result: audit.ResultSuccess},
		"nul in source ip": {Actor: "a", Action: "b", Result: audit.ResultSuccess, SourceIP: "1.2.3.4\x00"},
	} {
		if _, err := l.Append(ctx, e); !errors.Is(err, audit.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if h, err := s.Head(ctx); err != nil || h.Seq != 0 {
		t.Errorf("bad entries moved the head: %+v %v", h, err)
	}
	for _, f := range []audit.Filter{{Limit: -1}, {Limit: 1001}, {After: -1}, {Result: "maybe"}} {
		if _, _, err := l.Query(ctx, f); !errors.Is(err, audit.ErrInvalid) {
			t.Errorf("filter %+v: %v", f, err)
		}
	}
}

// TestConcurrentAppends: writers on separate connections (and, on
// PostgreSQL, separate stores as replicas would have) extend one chain.
func TestConcurrentAppends(t *testing.T) {
	forEach(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		logs := make([]*audit.Log, 3)
		for i := range logs {
			logs[i], _ = newLog(t, dsn)
		}
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for i := range 20 {
					if _, err := logs[w%len(logs)].Append(ctx, entry(w*100+i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		rep, err := logs[0].Verify(ctx)
		if err != nil || rep.Records != 120 {
			t.Fatalf("after concurrent appends: %+v %v", rep, err)
		}
	})
}

// rawDB opens a second handle for editing the table behind the log's back.
func rawDB(t *testing.T, dsn string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestTamperDetection(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, db *sqldb.DB, l *audit.Log)
		wantSeq int64
		reason  string
	}{
		{"edit actor", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 5`)
		}, 5, "edited"},
		{"edit result", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `UPDATE audit_log SET result = 'success' WHERE seq = 3`)
		}, 3, "edited"},
		{"reformat details", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `UPDATE audit_log SET details = '{"n": 6,"tag":"v6"}' WHERE seq = 7`)
		}, 7, "edited"},
		{"shift time", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `UPDATE audit_log SET at = at + 1 WHERE seq = 8`)
		}, 8, "edited"},
		{"delete middle", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `DELETE FROM audit_log WHERE seq = 5`)
		}, 5, "missing"},
		{"delete first", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `DELETE FROM audit_log WHERE seq = 1`)
		}, 1, "missing"},
		{"delete last", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `DELETE FROM audit_log WHERE seq = 10`)
		}, 10, "removed from the end"},
		{"swap rows", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `UPDATE audit_log SET seq = -1 WHERE seq = 4`)
			exec(t, db, `UPDATE audit_log SET seq = 4 WHERE seq = 5`)
			exec(t, db, `UPDATE audit_log SET seq = 5 WHERE seq = -1`)
		}, 4, "moved"},
		{"delete and renumber", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `DELETE FROM audit_log WHERE seq = 6`)
			for s := 7; s <= 10; s++ {
				exec(t, db, fmt.Sprintf(`UPDATE audit_log SET seq = %d WHERE seq = %d`, s-1, s))
			}
			exec(t, db, `UPDATE audit_head SET seq = 9`)
		}, 6, "edited"},
		{"edit and rehash", func(t *testing.T, db *sqldb.DB, l *audit.Log) {
			recs, _, err := l.Query(context.Background(), audit.Filter{After: 4, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			r := recs[0]
			r.Actor = "user:mallory"
			exec(t, db, `UPDATE audit_log SET actor = ?, hash = ? WHERE seq = 5`, r.Actor, r.ComputeHash())
		}, 6, "prev_hash does not match record 5"},
		{"head rewound", func(t *testing.T, db *sqldb.DB, _ *audit.Log) {
			exec(t, db, `UPDATE audit_head SET seq = 9`)
		}, 9, "head does not match"},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					dsn := e.dsn(t)
					l, _ := newLog(t, dsn)
					fill(t, l, 10)
					if _, err := l.Verify(context.Background()); err != nil {
						t.Fatalf("untouched log: %v", err)
					}
					tc.tamper(t, rawDB(t, dsn), l)
					_, err := l.Verify(context.Background())
					var te *audit.TamperError
					if !errors.As(err, &te) || !errors.Is(err, audit.ErrTampered) {
						t.Fatalf("tampering not detected: %v", err)
					}
					if te.Seq != tc.wantSeq || !strings.Contains(te.Reason, tc.reason) {
						t.Errorf("reported %v, want record %d (%s)", te, tc.wantSeq, tc.reason)
					}
				})
			}
		})
	}
}

func exec(t *testing.T, db *sqldb.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.W.ExecContext(context.Background(), db.Q(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestQueryAndExport(t *testing.T) {
	forEach(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		l, _ := newLog(t, dsn)
		fill(t, l, 60)
		count := func(f audit.Filter) int {
			t.Helper()
			n := 0
			f.Limit = 7
			var last int64
			for {
				recs, next, err := l.Query(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if last != 0 && (!f.Descending && r.Seq <= last || f.Descending && r.Seq >= last) {
						t.Fatalf("page out of order: %d after %d", r.Seq, last)
					}
					last = r.Seq
					if f.Actor != "" && r.Actor != f.Actor || f.Action != "" && r.Action != f.Action ||
						f.Result != "" && r.Result != f.Result || !strings.HasPrefix(r.Resource, f.ResourcePrefix) {
						t.Fatalf("record %+v does not match %+v", r, f)
					}
				}
				n += len(recs)
				if next == 0 {
					return n
				}
				f.After = next
			}
		}
		start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			f    audit.Filter
			want int
		}{
			{audit.Filter{}, 60},
			{audit.Filter{Descending: true}, 60},
			{audit.Filter{Actor: "user:alice"}, 20},
			{audit.Filter{Action: "registry:Push"}, 15},
			{audit.Filter{Result: audit.ResultDenied}, 20},
			{audit.Filter{ResourcePrefix: "repository/team-a/"}, 20},
			{audit.Filter{ResourcePrefix: "repository/team-a"}, 40},
			{audit.Filter{ResourcePrefix: "REPOSITORY/"}, 0},
			{audit.Filter{Actor: "robot:ci", Result: audit.ResultDenied}, 20},
			{audit.Filter{Since: start.Add(11 * time.Second), Until: start.Add(21 * time.Second)}, 10},
			{audit.Filter{Since: start.Add(55 * time.Second), Descending: true}, 6},
		} {
			if got := count(tc.f); got != tc.want {
				t.Errorf("%+v: %d records, want %d", tc.f, got, tc.want)
			}
		}

		var buf bytes.Buffer
		n, err := l.Export(ctx, &buf, audit.Filter{Actor: "user:bob"})
		if err != nil || n != 20 {
			t.Fatalf("export: %d %v", n, err)
		}
		sc := bufio.NewScanner(&buf)
		lines := 0
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if m["actor"] != "user:bob" || len(m["hash"].(string)) != 64 || m["details"] == nil {
				t.Errorf("exported %v", m)
			}
			lines++
		}
		if lines != 20 {
			t.Errorf("%d lines", lines)
		}
	})
}

// TestOversizeDetailsStored: a refused push whose details exceed 64 KiB
// (thousands of tags, a long error) is stored truncated and marked, reads
// back byte for byte, and the chain verifies. Such entries used to fail
// the append and leave no record.
func TestOversizeDetailsStored(t *testing.T) {
	forEach(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		l, _ := newLog(t, dsn)
		tags := make([]string, 30000)
		for i := range tags {
			tags[i] = fmt.Sprintf("v%d", i)
		}
		op := audit.Op{Actor: "user:alice", Action: "registry:Push", Resource: "repository/team-a/app", SourceIP: "10.0.0.1",
			Details: map[string]any{"tags": tags, "error": strings.Repeat("manifest invalid ", 10000)},
			Err:     audit.Refuse(audit.ResultDenied, audit.ReasonPolicyDenied, errors.New("denied"))}
		if err := l.Record(ctx, op); err != nil {
			t.Fatal(err)
		}
		recs, _, err := l.Query(ctx, audit.Filter{})
		if err != nil || len(recs) != 1 {
			t.Fatalf("records %d: %v", len(recs), err)
		}
		var d map[string]any
		if err := json.Unmarshal(recs[0].Details, &d); err != nil {
			t.Fatal(err)
		}
		if d["truncated"] != true || d["original_size"] == nil || d["reason"] != audit.ReasonPolicyDenied || len(recs[0].Details) > 64<<10 {
			t.Errorf("stored details: %d bytes, truncated=%v original_size=%v reason=%v", len(recs[0].Details), d["truncated"], d["original_size"], d["reason"])
		}
		if _, err := l.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRefusalFloodStored: thousands of identical refusals cost two
// stored records — the first, and after Close the summary of the rest —
// and the chain verifies.
func TestRefusalFloodStored(t *testing.T) {
	forEach(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		_, s := newLog(t, dsn)
		// One minute for the whole flood (newLog's clock ticks a second
		// per record).
		at := time.Date(2026, 6, 1, 0, 0, 10, 0, time.UTC)
		l, err := audit.New(s, audit.WithClock(func() time.Time { return at }))
		if err != nil {
			t.Fatal(err)
		}
		const n = 3000
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for range n / 6 {
					if err := l.Record(ctx, audit.Op{Actor: "invalid-token", Action: "auth:Authenticate", Resource: "/v2/x/manifests/latest",
						SourceIP: "10.9.9.9", Err: audit.Refuse(audit.ResultFailure, audit.ReasonInvalidToken, nil)}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		recs, _, err := l.Query(ctx, audit.Filter{})
		if err != nil || len(recs) != 2 {
			t.Fatalf("%d records for %d refusals: %v", len(recs), n, err)
		}
		var sum struct{ Count int }
		if err := json.Unmarshal(recs[1].Details, &sum); err != nil || sum.Count != n-1 {
			t.Errorf("summary %s: %v", recs[1].Details, err)
		}
		if _, err := l.Verify(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
