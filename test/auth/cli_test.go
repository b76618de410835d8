package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestCLI: robots and policies made with the administration commands on
// a running server's database take effect there (after its reload
// interval), and `moat policy simulate` names the deciding statement.
func TestCLI(t *testing.T) {
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		testCLI(t, startServer(t, db))
	})
}

func testCLI(t *testing.T, s *moatproc.Server) {
	moat := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(moatproc.Binary(t), append(args, s.StoreArgs()...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := moat("", "robot", "create", "ci-b", "--description", "team-b CI")
	if err != nil {
		t.Fatalf("robot create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^username: (robot\+ci-b)\nsecret: (moat_rbt_\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("robot create output:\n%s", out)
	}
	user, secret := m[1], m[2]
	doc := filepath.Join(t.TempDir(), "team-b.json")
	if err := os.WriteFile(doc, []byte(`{"Version":"2026-01-01","Statement":[
		{"Sid":"TeamBWrite","Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":"repository/team-b/*"},
		{"Sid":"NoProd","Effect":"Deny","Action":"registry:Push","Resource":"repository/team-b/prod/*"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"policy", "put", "team-b-ci", "--kind", "identity", "--file", doc},
		{"policy", "attach", "team-b-ci", "robot:ci-b"},
	} {
		if out, err := moat("", args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":"registry:Pusj","Resource":"*"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := moat("", "policy", "put", "team-b-ci", "--file", bad); err == nil || !strings.Contains(out, "registry:Pusj") {
		t.Errorf("malformed policy accepted or unexplained: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		resource string
		allowed  bool
		says     string
	}{
		{"team-b/app", true, `allow (allowed: identity policy "team-b-ci" statement 0 Sid "TeamBWrite")`},
		{"team-b/prod/app", false, `deny (explicit deny: identity policy "team-b-ci" statement 1 Sid "NoProd")`},
		{"team-a/app", false, "deny (no statement allows)"},
	} {
		out, err := moat("", "policy", "simulate", "--principal", "robot:ci-b", "--action", "registry:Push", "--resource", tc.resource)
		var exit *exec.ExitError
		if tc.allowed && err != nil || !tc.allowed && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
			t.Errorf("simulate %s: %v\n%s", tc.resource, err, out)
		}
		if strings.TrimSpace(out) != tc.says {
			t.Errorf("simulate %s says %q, want %q", tc.resource, strings.TrimSpace(out), tc.says)
		}
	}

	// The running server reloads the policies and grants what they allow.
	granted := func(scope string) string {
		req, _ := http.NewRequest("GET", s.URL+"/auth/token?"+url.Values{"service": {"moat"}, "scope": {scope}}.Encode(), nil)
		req.SetBasicAuth(user, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("token: %d %v", resp.StatusCode, err)
		}
		parts := strings.Split(body.Token, ".")
		claims, err := decodeSegment(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		return claims
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(granted("repository:team-b/app:push,pull"), `"actions":["pull","push"]`) {
		if time.Now().After(deadline) {
			t.Fatalf("server never granted the CLI-made policy: %s", granted("repository:team-b/app:push,pull"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c := granted("repository:team-b/prod/app:push,pull"); !strings.Contains(c, `"actions":["pull"]`) {
		t.Errorf("prod grant: %s", c)
	}
	if c := granted("repository:team-a/app:push,pull"); strings.Contains(c, "team-a") {
		t.Errorf("team-a grant: %s", c)
	}

	// The changes are audited with the local actor.
	stop(t, s)
	exp, err := exec.Command(moatproc.Binary(t), append([]string{"audit", "export", "--resource", "policy/team-b-ci"}, s.StoreArgs()...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(exp), "\n"); got != 3 || !strings.Contains(string(exp), `"actor":"local:`) || !strings.Contains(string(exp), `"result":"failure"`) {
		t.Errorf("audited policy changes (%d):\n%s", got, exp)
	}
}
