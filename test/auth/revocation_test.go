package auth

import (
	"bytes"
	"encoding/json"
	"io"
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

// propagation is how soon a change made with the moat CLI must hold on a
// running server (#10: within 5 s).
const propagation = 5 * time.Second

// moatCLI runs the moat command on s's database and fails the test
// unless it succeeds.
func moatCLI(t *testing.T, s *moatproc.Server, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(moatproc.Binary(t), append(args, s.StoreArgs()...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("moat %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// status sends a request with setAuth and returns the status code.
func status(t *testing.T, method, u string, setAuth func(*http.Request), body any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if setAuth != nil {
		setAuth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func withBasic(user, pw string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(user, pw) }
}

func withBearer(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// fetchToken asks /auth/token for scope with Basic credentials and
// returns the token and the access it grants.
func fetchToken(t *testing.T, s *moatproc.Server, user, pw, scope string) (string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", s.URL+"/auth/token?"+url.Values{"service": {"moat"}, "scope": {scope}}.Encode(), nil)
	req.SetBasicAuth(user, pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token for %s: %d %v", user, resp.StatusCode, err)
	}
	claims, err := decodeSegment(strings.Split(body.Token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Access json.RawMessage }
	_ = json.Unmarshal([]byte(claims), &c)
	return body.Token, string(c.Access)
}

// within polls cond until it holds and fails the test unless the poll
// that saw it started within the propagation time. The start counts, not
// the end: a poll of a deleted user's Basic login spends an argon2 hash
// (seconds under the race detector) after the server has already
// stopped trusting its cache.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	for {
		polled := time.Now()
		if cond() {
			took := polled.Sub(start)
			t.Logf("%s after %v (answered after %v)", what, took.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			if took > propagation {
				t.Fatalf("%s only after %v, want within %v", what, took, propagation)
			}
			return
		}
		if time.Since(start) > 2*propagation {
			t.Fatalf("%s: still not so after %v", what, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCLIChangesReachServer (#10 findings 3 and 4), on SQLite and
// PostgreSQL: `moat user delete` on a running server's database stops
// that user's Basic logins within 5 s (the password-check cache held
// them for a minute); `moat robot delete` then `moat robot create` of the
// same name ends the old robot's bearer token within 5 s, and the new
// robot inherits none of the old one's policies.
func TestCLIChangesReachServer(t *testing.T) {
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		s := startServer(t, db)
		t.Run("user delete", func(t *testing.T) { testUserDelete(t, s) })
		t.Run("robot re-create", func(t *testing.T) { testRobotRecreate(t, s) })
	})
}

func testUserDelete(t *testing.T, s *moatproc.Server) {
	moatCLI(t, s, "bob-password-1\n", "user", "create", "bob")
	bob := withBasic("bob", "bob-password-1")
	// Every Basic request after the first is answered from the
	// password-check cache.
	for range 3 {
		if got := status(t, "GET", s.URL+"/v2/", bob, nil); got != 200 {
			t.Fatalf("bob's Basic login before the delete: %d", got)
		}
	}
	moatCLI(t, s, "", "user", "delete", "bob")
	within(t, "Basic bob refused after `moat user delete`", func() bool {
		return status(t, "GET", s.URL+"/v2/", bob, nil) == 401
	})
}

func testRobotRecreate(t *testing.T, s *moatproc.Server) {
	secretRE := regexp.MustCompile(`(?m)^secret: (moat_rbt_\S+)$`)
	out := moatCLI(t, s, "", "robot", "create", "ci-del")
	m := secretRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("robot create output:\n%s", out)
	}
	doc := filepath.Join(t.TempDir(), "ci-del.json")
	if err := os.WriteFile(doc, []byte(`{"Version":"2026-01-01","Statement":[{"Effect":"Allow","Action":["registry:Pull","registry:Push"],"Resource":"repository/team-del/*"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	moatCLI(t, s, "", "policy", "put", "ci-del-rw", "--kind", "identity", "--file", doc)
	moatCLI(t, s, "", "policy", "attach", "ci-del-rw", "robot:ci-del")
	const scope = "repository:team-del/app:pull,push"
	var old, access string
	within(t, "the CLI-made policy granted", func() bool {
		old, access = fetchToken(t, s, "robot+ci-del", m[1], scope)
		return strings.Contains(access, `"pull","push"`)
	})
	manifest := s.URL + "/v2/team-del/app/manifests/latest"
	if got := status(t, "GET", manifest, withBearer(old), nil); got != 404 { // allowed; nothing pushed yet
		t.Fatalf("old robot's bearer token before the delete: %d", got)
	}

	moatCLI(t, s, "", "robot", "delete", "ci-del")
	out = moatCLI(t, s, "", "robot", "create", "ci-del")
	m2 := secretRE.FindStringSubmatch(out)
	if m2 == nil {
		t.Fatalf("robot create output:\n%s", out)
	}
	within(t, "the old robot's bearer token refused after delete and re-create", func() bool {
		return status(t, "GET", manifest, withBearer(old), nil) == 401
	})
	// The re-created robot starts with no policy: granted nothing, and
	// refused (403: it is known, just not allowed).
	tok, access := fetchToken(t, s, "robot+ci-del", m2[1], scope)
	if access != "" && access != "[]" {
		t.Errorf("re-created robot granted %s", access)
	}
	if got := status(t, "GET", manifest, withBasic("robot+ci-del", m2[1]), nil); got != 403 {
		t.Errorf("re-created robot's Basic pull: %d, want 403", got)
	}
	if got := status(t, "GET", manifest, withBearer(tok), nil); got != 403 {
		t.Errorf("re-created robot's bearer pull: %d, want 403", got)
	}
	// Attaching to a robot that does not exist fails, with a clear error.
	cmd := exec.Command(moatproc.Binary(t), append([]string{"policy", "attach", "ci-del-rw", "robot:ghost"}, s.StoreArgs()...)...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `robot "ghost": not found`) {
		t.Errorf("attach to a missing robot: %v\n%s", err, out)
	}
}

// TestTokensCannotOutgrowTheirGrant (#10 findings 1, 2 and 7) against a
// running server: a pull-scoped bearer token cannot mint a personal
// access token; revoking a PAT ends the bearer token obtained with it
// at once; repeated wrong passwords are answered 429 with Retry-After.
func TestTokensCannotOutgrowTheirGrant(t *testing.T) {
	s := startServer(t)
	s.API(t, "POST", "/api/v1/users", map[string]string{"name": "carol", "password": "carol-password-1"}, nil)
	carol := withBasic("carol", "carol-password-1")
	tokens := s.URL + "/api/v1/users/carol/tokens"

	pull, _ := fetchToken(t, s, "carol", "carol-password-1", "repository:team-a/app:pull")
	if got := status(t, "POST", tokens, withBearer(pull), map[string]string{"ttl": "2160h"}); got != 403 {
		t.Errorf("pull-scoped bearer token mints a 90-day PAT: %d", got)
	}
	if got := status(t, "POST", tokens, carol, map[string]string{"ttl": "2160h"}); got != 400 {
		t.Errorf("90-day PAT beyond auth.maxTokenTTL: %d", got)
	}
	req, _ := http.NewRequest("POST", tokens, strings.NewReader(`{"ttl":"1h"}`))
	req.SetBasicAuth("carol", "carol-password-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var pat struct {
		ID     int64
		Secret string
	}
	if err := json.NewDecoder(resp.Body).Decode(&pat); err != nil || resp.StatusCode != 201 {
		t.Fatalf("mint with a password: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	fromPAT, _ := fetchToken(t, s, "carol", pat.Secret, "repository:team-a/app:pull")
	if got := status(t, "POST", tokens, withBearer(fromPAT), map[string]string{"ttl": "1h"}); got != 403 {
		t.Errorf("bearer token from a PAT mints a PAT: %d", got)
	}
	if got := status(t, "POST", tokens, withBasic("carol", pat.Secret), map[string]string{"ttl": "1h"}); got != 403 {
		t.Errorf("PAT mints a PAT without identity:ManageTokens: %d", got)
	}
	if got := status(t, "GET", s.URL+"/v2/", withBearer(fromPAT), nil); got != 200 {
		t.Fatalf("bearer token from the PAT before revocation: %d", got)
	}
	if got := status(t, "DELETE", tokens+"/"+jsonInt(pat.ID), carol, nil); got != 204 {
		t.Fatalf("revoke: %d", got)
	}
	if got := status(t, "GET", s.URL+"/v2/", withBearer(fromPAT), nil); got != 401 {
		t.Errorf("bearer token from a revoked PAT: %d", got)
	}

	// Guessing carol's password from one address is slowed down.
	var last *http.Response
	for i := range 8 {
		req, _ := http.NewRequest("GET", s.URL+"/v2/", nil)
		req.SetBasicAuth("carol", "guess-"+jsonInt(int64(i)))
		if last, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		last.Body.Close()
	}
	if last.StatusCode != 429 || last.Header.Get("Retry-After") == "" {
		t.Errorf("8th wrong password: %d Retry-After %q, want 429 with Retry-After", last.StatusCode, last.Header.Get("Retry-After"))
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }
