package auth

import (
	"bufio"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// exported is one line of `moat audit export`.
type exported struct {
	Seq      int64
	Actor    string
	Action   string
	Resource string
	SourceIP string `json:"source_ip"`
	Result   string
	Details  struct {
		Reason     string
		Aggregated bool
		Count      int
	}
}

// TestAuditRefusalsAndCheckpoint: refusals of every kind — bad bearer
// tokens and passwords at the guard, a refused management call, refused
// registry operations of each endpoint, a refused catalog and mount,
// failed token requests — reach `moat audit export`; a flood of one
// refusal adds a couple of records whose counts add up; after the server
// wrote its checkpoint, deleting the last records and rewriting
// audit_head to match makes `moat audit verify` exit 1 naming the
// checkpoint (with the key file or with only the public key). On SQLite
// and PostgreSQL.
func TestAuditRefusalsAndCheckpoint(t *testing.T) {
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		testAuditRefusalsAndCheckpoint(t, startServer(t, db))
	})
}

func testAuditRefusalsAndCheckpoint(t *testing.T, s *moatproc.Server) {
	s.API(t, "POST", "/api/v1/users", map[string]string{"name": "nopriv", "password": "password-of-nopriv"}, nil)
	send := func(method, path, auth string) int {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case auth == "nopriv":
			req.SetBasicAuth("nopriv", "password-of-nopriv")
		case auth == "wrong":
			req.SetBasicAuth("nopriv", "not-the-password")
		case auth != "":
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const forged = "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyOmFkbWluIn0.c2lnbmF0dXJl"
	const digest = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	refusals := []struct {
		method, path, auth string
		actor, action      string
	}{
		{"GET", "/v2/team/app/manifests/latest", forged, "invalid-token", "auth:Authenticate"},
		{"GET", "/v2/team/app/tags/list", "wrong", "login:nopriv", "auth:Authenticate"},
		{"GET", "/api/v1/users", "wrong", "login:nopriv", "auth:Authenticate"},
		{"GET", "/api/v1/users", "nopriv", "user:nopriv", "admin:ManageIdentities"},
		{"GET", "/v2/_catalog", "nopriv", "user:nopriv", "registry:ListRepositories"},
		{"GET", "/v2/team/app/manifests/latest", "nopriv", "user:nopriv", "registry:Pull"},
		{"PUT", "/v2/team/app/manifests/latest", "nopriv", "user:nopriv", "registry:Push"},
		{"DELETE", "/v2/team/app/manifests/" + digest, "nopriv", "user:nopriv", "registry:Delete"},
		{"HEAD", "/v2/team/app/blobs/" + digest, "nopriv", "user:nopriv", "registry:Pull"},
		{"POST", "/v2/team/app/blobs/uploads/", "nopriv", "user:nopriv", "registry:Push"},
		{"POST", "/v2/team/other/blobs/uploads/?mount=" + digest + "&from=team/app", "nopriv", "user:nopriv", "registry:Push"},
		{"GET", "/v2/team/app/tags/list", "nopriv", "user:nopriv", "registry:ListTags"},
		{"GET", "/v2/team/app/referrers/" + digest, "nopriv", "user:nopriv", "registry:Pull"},
		{"GET", "/auth/token?service=moat&scope=repository:team/app:pull", "wrong", "login:nopriv", "auth:IssueToken"},
		{"GET", "/auth/token?service=moat&scope=garbage", "", "anonymous", "auth:IssueToken"},
	}
	for _, r := range refusals {
		if code := send(r.method, r.path, r.auth); code != 401 && code != 403 && code != 400 {
			t.Fatalf("%s %s as %q: %d, want a refusal", r.method, r.path, r.auth, code)
		}
	}
	// A flood of one refusal from one source.
	const flood = 400
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range flood / 4 {
				send("GET", "/v2/flood/app/manifests/latest", forged)
			}
		})
	}
	wg.Wait()
	stop(t, s) // writes the flood's summary and a last checkpoint

	moat := func(args ...string) *exec.Cmd {
		return exec.Command(moatproc.Binary(t), append(args, s.StoreArgs()...)...)
	}
	out, err := moat("audit", "export").Output()
	if err != nil {
		t.Fatal(err)
	}
	var recs []exported
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r exported
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	for _, want := range refusals {
		found := false
		for _, r := range recs {
			if r.Actor == want.actor && r.Action == want.action && r.Result != "success" && r.SourceIP != "" && r.Details.Reason != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s record by %s for %s %s", want.action, want.actor, want.method, want.path)
		}
	}
	floodRecords, floodCount := 0, 0
	for _, r := range recs {
		if r.Resource != "/v2/flood/app/manifests/latest" {
			continue
		}
		floodRecords++
		if r.Details.Aggregated {
			floodCount += r.Details.Count
		} else {
			floodCount++
		}
	}
	if floodRecords > 4 || floodCount != flood {
		t.Errorf("flood of %d refusals: %d records standing for %d", flood, floodRecords, floodCount)
	}
	if strings.Contains(string(out), "not-the-password") || strings.Contains(string(out), "c2lnbmF0dXJl") {
		t.Error("the export holds a presented secret")
	}

	out, err = moat("audit", "verify").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "audit log OK") || !strings.Contains(string(out), "holds checkpoint") {
		t.Fatalf("verify untouched log: %v\n%s", err, out)
	}
	pubFile := filepath.Join(t.TempDir(), "audit.pub")
	pub, err := moat("audit", "pubkey").Output()
	if err != nil || !strings.Contains(string(pub), "PUBLIC KEY") {
		t.Fatalf("pubkey: %v %s", err, pub)
	}
	if err := os.WriteFile(pubFile, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1].Seq

	// Cut the last three records and point the head at the new last one,
	// straight in the database: the chain is consistent in itself.
	driver, dsn := "pgx", s.Database
	if dsn == "" {
		driver, dsn = "sqlite", filepath.Join(s.DataDir, "moat.db")
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newLast := last - 3
	var hash []byte
	if err := db.QueryRow(fmt.Sprintf(`SELECT hash FROM audit_log WHERE seq = %d`, newLast)).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`DELETE FROM audit_log WHERE seq > %d`, newLast),
		fmt.Sprintf(`UPDATE audit_head SET seq = %d, hash = %s WHERE id = 1`, newLast, hexLiteral(driver, hash)),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "verify", "--checkpoint-pubkey", pubFile}} {
		out, err := moat(args...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("%v after truncation: %v, want exit status 1\n%s", args, err, out)
		}
		if want := fmt.Sprintf("checkpoint %d", last); !strings.Contains(string(out), want) || !strings.Contains(string(out), "TAMPERED") {
			t.Errorf("%v: %q, want it to name %s", args, out, want)
		}
	}
}

// hexLiteral writes a byte string as an SQL literal of driver's dialect.
func hexLiteral(driver string, b []byte) string {
	if driver == "pgx" {
		return `'\x` + hex.EncodeToString(b) + `'::bytea`
	}
	return `X'` + hex.EncodeToString(b) + `'`
}
