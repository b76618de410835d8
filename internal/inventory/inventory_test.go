package inventory_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/inventory"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/sqldb/sqldbtest"
)

var (
	image = "sha256:" + strings.Repeat("1", 64)
	index = "sha256:" + strings.Repeat("2", 64)
	other = "sha256:" + strings.Repeat("3", 64)
)

func place(pod, container, digest string) inventory.Place {
	return inventory.Place{Source: inventory.Kubernetes, Cluster: "c1", Namespace: "prod", WorkloadKind: "Deployment",
		WorkloadName: "web", Pod: pod, Container: container, Image: "r.example/prod/app:1", Repository: "prod/app", Digest: digest}
}

// newStore opens the inventory beside the registry's and the findings'
// tables, which its queries join.
func newStore(t *testing.T, db *sqldb.DB) *inventory.Store {
	t.Helper()
	ctx := t.Context()
	outbox, err := events.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	md, err := sqlstore.New(ctx, db, sqlstore.WithOutbox(outbox))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	locate := func(context.Context, *sql.Tx, string) ([]findings.Location, error) { return nil, nil }
	if _, err := findings.New(ctx, db, outbox, findings.WithLocator(locate)); err != nil {
		t.Fatal(err)
	}
	s, err := inventory.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	// An index holding image, and an open finding of image's with an
	// alias, written as the registry and the findings store write them.
	exec(t, db, `INSERT INTO repositories (name, created_at) VALUES ('prod/app', 0)`)
	exec(t, db, `INSERT INTO manifests (repository_id, digest, media_type, size, content, pushed_at)
		VALUES ((SELECT id FROM repositories WHERE name = 'prod/app'), ?, 'application/vnd.oci.image.index.v1+json', 2, ?, 0)`, index, []byte("{}"))
	exec(t, db, `INSERT INTO manifest_children (manifest_id, child_digest, ordinal) VALUES ((SELECT id FROM manifests WHERE digest = ?), ?, 0)`, index, image)
	exec(t, db, `INSERT INTO image_findings (digest, finding_key, kind, vuln_id, severity, kev, fixable, data, first_seen)
		VALUES (?, 'k1', 'vulnerability', 'GHSA-xvch-5gv4-984h', 4, false, true, '{"id":"GHSA-xvch-5gv4-984h","aliases":["CVE-2021-44906"]}', 0)`, image)
	return s
}

func exec(t *testing.T, db *sqldb.DB, q string, args ...any) {
	t.Helper()
	if err := db.Write(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), db.Q(q), args...)
		return err
	}); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func pods(t *testing.T, s *inventory.Store, f inventory.Filter) []string {
	t.Helper()
	ps, _, err := s.List(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Pod+"/"+p.Container)
	}
	return out
}

func TestInventory(t *testing.T) {
	sqldbtest.ForEach(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		ctx := t.Context()
		now := time.Unix(1_800_000_000, 0)
		s.SetClock(func() time.Time { return now })

		// Admission records pods; a record of the same container refreshes.
		if err := s.Record(ctx, place("web-1", "app", index), place("web-1", "sidecar", other), place("web-2", "app", image)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		if err := s.Record(ctx, place("web-1", "app", index)); err != nil {
			t.Fatal(err)
		}
		all, _, _ := s.List(ctx, inventory.Filter{})
		if len(all) != 3 || !all[0].FirstSeen.Equal(now.Add(-time.Minute)) || !all[0].LastSeen.Equal(now) {
			t.Fatalf("records: %+v", all)
		}
		if got := pods(t, s, inventory.Filter{Digests: []string{other}}); len(got) != 1 || got[0] != "web-1/sidecar" {
			t.Errorf("by digest: %v", got)
		}
		if got := pods(t, s, inventory.Filter{Namespace: "dev"}); len(got) != 0 {
			t.Errorf("other namespace: %v", got)
		}

		// Usage counts the image run directly and through its index.
		n, last, err := s.Usage(ctx, image)
		if err != nil || n != 2 || !last.Equal(now) {
			t.Errorf("usage of the image: %d %v %v", n, last, err)
		}
		// The vulnerability, by its id or its alias, reaches both pods.
		for _, id := range []string{"GHSA-xvch-5gv4-984h", "CVE-2021-44906"} {
			ps, _, err := s.Affected(ctx, id, 0, 0)
			if err != nil || len(ps) != 2 {
				t.Errorf("affected by %s: %+v %v", id, ps, err)
			}
		}
		if ps, _, err := s.Affected(ctx, "CVE-2021-4490_", 0, 0); err != nil || len(ps) != 0 {
			t.Errorf("a LIKE wildcard widened the search: %+v %v", ps, err)
		}
		err = db.Read(ctx, func(tx *sql.Tx) error {
			ps, err := s.RunningTx(ctx, tx, image)
			if err == nil && len(ps) != 2 {
				t.Errorf("running: %+v", ps)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		// A listing without web-2 removes it; a pod admitted after the
		// listing started stays.
		listedAt := now.Add(time.Minute)
		now = listedAt.Add(time.Second)
		if err := s.Record(ctx, place("web-3", "app", image)); err != nil {
			t.Fatal(err)
		}
		removed, err := s.Reconcile(ctx, inventory.Kubernetes, "c1", listedAt, []inventory.Place{place("web-1", "app", index), place("web-1", "sidecar", other)})
		if err != nil || removed != 1 {
			t.Fatalf("reconcile: %d %v", removed, err)
		}
		if got := pods(t, s, inventory.Filter{}); strings.Join(got, " ") != "web-1/app web-1/sidecar web-3/app" {
			t.Errorf("after reconcile: %v", got)
		}

		// Paging.
		page, next, err := s.List(ctx, inventory.Filter{Limit: 2})
		if err != nil || len(page) != 2 || next == 0 {
			t.Fatalf("page 1: %d %d %v", len(page), next, err)
		}
		if page, next, _ = s.List(ctx, inventory.Filter{Limit: 2, After: next}); len(page) != 1 || next != 0 {
			t.Errorf("page 2: %d %d", len(page), next)
		}

		// ECS tasks leave when they stop.
		task := inventory.Place{Source: inventory.ECS, Cluster: "arn:aws:ecs:eu-west-1:1:cluster/c", Pod: "arn:aws:ecs:eu-west-1:1:task/c/abc",
			Container: "app", Image: "r.example/prod/app:1", Digest: image}
		if err := s.Record(ctx, task); err != nil {
			t.Fatal(err)
		}
		if err := s.Remove(ctx, inventory.ECS, task.Cluster, "", task.Pod); err != nil {
			t.Fatal(err)
		}
		if got := pods(t, s, inventory.Filter{Cluster: task.Cluster}); len(got) != 0 {
			t.Errorf("stopped task: %v", got)
		}

		// Bad input is refused whole.
		for _, bad := range []inventory.Place{
			{Source: "nomad", Cluster: "c", Pod: "p", Container: "c", Image: "i"},
			{Source: inventory.Kubernetes, Cluster: "c", Pod: "p", Container: "c"},
			{Source: inventory.Kubernetes, Cluster: "c", Pod: "p", Container: "c", Image: "i", Digest: "md5:x"},
		} {
			if err := s.Record(ctx, place("ok", "ok", image), bad); !errors.Is(err, inventory.ErrInvalid) {
				t.Errorf("%+v: %v", bad, err)
			}
		}
		if got := pods(t, s, inventory.Filter{}); len(got) != 3 {
			t.Errorf("a refused batch stored something: %v", got)
		}
		if _, err := s.Reconcile(ctx, inventory.Kubernetes, "c1", now, []inventory.Place{{Source: inventory.Kubernetes, Cluster: "c2", Pod: "p", Container: "c", Image: "i"}}); !errors.Is(err, inventory.ErrInvalid) {
			t.Errorf("a place of another cluster: %v", err)
		}
		if _, _, err := s.List(ctx, inventory.Filter{Limit: 5001}); !errors.Is(err, inventory.ErrInvalid) {
			t.Errorf("limit: %v", err)
		}
	})
}
