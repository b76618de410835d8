package distribution_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moat-dev/moat/internal/auth"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/identitytest"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/token"
	"github.com/moat-dev/moat/internal/blob/fs"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	testRealm   = "https://registry.example/auth/token"
	testService = "registry.example"
)

// accessEnv serves one registry twice: open (for seeding) and behind the
// real Guard with the policies below.
type accessEnv struct {
	*testEnv
	guarded  http.Handler
	password map[string]string
	issuer   *token.Issuer
	ids      *identity.Service

	mu     sync.Mutex
	events []distribution.Event
}

// accessPolicies: alice works in team-a and may read (not list) team-b's
// base images; bob only reads team-b; carol may do nothing.
var accessPolicies = map[string]string{
	"alice": `[{"Effect":"Allow","Action":["registry:Pull","registry:Push","registry:ListTags","registry:ListRepositories"],"Resource":"repository/team-a/*"},
	           {"Effect":"Allow","Action":"registry:ListRepositories","Resource":"repository/z/*"},
	           {"Effect":"Allow","Action":"registry:Pull","Resource":"repository/shared/base"}]`,
	"bob": `[{"Effect":"Allow","Action":["registry:Pull","registry:ListTags","registry:ListRepositories"],"Resource":"repository/team-b/*"}]`,
}

func newAccessEnv(t *testing.T) *accessEnv {
	t.Helper()
	ctx := context.Background()
	// A small page cap makes the filtered catalog read several pages.
	root := t.TempDir()
	blobs, err := fs.New(root, fs.WithoutSyncUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	md := newStore(t)
	reg, err := registry.New(blobs, md, registry.WithLogger(slog.New(slog.DiscardHandler)), registry.WithMaxPage(2))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.NewService(identitytest.NewMemStore(),
		identity.WithArgon2(identity.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}))
	if err != nil {
		t.Fatal(err)
	}
	env := &accessEnv{password: map[string]string{}}
	var set policy.Set
	for _, u := range []string{"alice", "bob", "carol"} {
		pw := "pw-" + u + "-0123456789"
		if _, err := ids.CreateUser(ctx, u, pw); err != nil {
			t.Fatal(err)
		}
		env.password[u] = pw
		if doc, ok := accessPolicies[u]; ok {
			p, err := policy.Parse(policy.Identity, u, []byte(`{"Version":"2026-01-01","Statement":`+doc+`}`))
			if err != nil {
				t.Fatal(err)
			}
			set.Identity = append(set.Identity, policy.Attachment{Policy: p, To: []policy.PrincipalRef{{Type: policy.User, Name: u}}})
		}
	}
	engine, err := policy.Compile(set)
	if err != nil {
		t.Fatal(err)
	}
	var holder auth.EngineHolder
	holder.Store(engine)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := token.NewIssuer(key, testService)
	if err != nil {
		t.Fatal(err)
	}
	guard, err := auth.NewGuard(ids, issuer, &holder, testService, testRealm, auth.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	env.issuer, env.ids = issuer, ids
	env.testEnv = &testEnv{handler: distribution.New(reg), reg: reg, blobs: blobs, root: root, md: md}
	env.guarded = guard.Middleware("", distribution.New(reg,
		distribution.WithAuthorizer(guard),
		distribution.WithObserver(func(_ context.Context, e distribution.Event) {
			env.mu.Lock()
			env.events = append(env.events, e)
			env.mu.Unlock()
		})))
	return env
}

// as sends r to the guarded handler as user ("" for anonymous).
func (e *accessEnv) as(t *testing.T, user string, r req) *httptest.ResponseRecorder {
	t.Helper()
	if user != "" {
		if r.header == nil {
			r.header = http.Header{}
		}
		hr := httptest.NewRequest("GET", "/", nil)
		hr.SetBasicAuth(user, e.password[user])
		r.header.Set("Authorization", hr.Header.Get("Authorization"))
	}
	open := e.testEnv.handler
	e.testEnv.handler = e.guarded
	defer func() { e.testEnv.handler = open }()
	return e.do(t, r)
}

// seed pushes a tagged image into each repository through the open handler.
func (e *accessEnv) seed(t *testing.T, repos ...string) map[string]digest.Digest {
	t.Helper()
	out := map[string]digest.Digest{}
	for _, repo := range repos {
		body, d := e.image(t, repo, nil)
		expect(t, e.putManifest(t, repo, "v1", v1.MediaTypeImageManifest, body), http.StatusCreated, "")
		out[repo] = d
	}
	return out
}

func challengeParams(t *testing.T, h string) map[string]string {
	t.Helper()
	cs, err := token.ParseChallenges(h)
	if err != nil || len(cs) != 1 || !strings.EqualFold(cs[0].Scheme, "Bearer") {
		t.Fatalf("WWW-Authenticate %q: %v %v", h, cs, err)
	}
	return cs[0].Params
}

// TestAccessRefusals: every endpoint is checked with the action it
// needs; an anonymous caller gets 401 with a Bearer challenge naming the
// scope to ask for, a known caller without permission 403 DENIED.
func TestAccessRefusals(t *testing.T) {
	e := newAccessEnv(t)
	digests := e.seed(t, "team-a/app", "team-b/app")
	da, db := digests["team-a/app"], digests["team-b/app"]
	for _, tc := range []struct {
		user, method, path string
		status             int
		code, scope        string
	}{
		{"", "GET", "/v2/team-a/app/manifests/v1", 401, "UNAUTHORIZED", "repository:team-a/app:pull"},
		{"", "HEAD", "/v2/team-a/app/manifests/v1", 401, "", "repository:team-a/app:pull"},
		{"", "GET", "/v2/team-a/app/blobs/" + da.String(), 401, "UNAUTHORIZED", "repository:team-a/app:pull"},
		{"", "GET", "/v2/team-a/app/tags/list", 401, "UNAUTHORIZED", "repository:team-a/app:pull"},
		{"", "GET", "/v2/team-a/app/referrers/" + da.String(), 401, "UNAUTHORIZED", "repository:team-a/app:pull"},
		{"", "POST", "/v2/team-a/app/blobs/uploads/", 401, "UNAUTHORIZED", "repository:team-a/app:push"},
		{"", "PUT", "/v2/team-a/app/manifests/v2", 401, "UNAUTHORIZED", "repository:team-a/app:push"},
		{"", "DELETE", "/v2/team-a/app/manifests/v1", 401, "UNAUTHORIZED", "repository:team-a/app:delete"},
		{"", "GET", "/v2/_catalog", 401, "UNAUTHORIZED", "registry:catalog:*"},
		{"", "GET", "/v2/", 401, "UNAUTHORIZED", ""},
		{"alice", "GET", "/v2/team-b/app/manifests/v1", 403, "DENIED", ""},
		{"alice", "GET", "/v2/team-b/app/tags/list", 403, "DENIED", ""},
		{"alice", "GET", "/v2/team-b/app/referrers/" + db.String(), 403, "DENIED", ""},
		{"alice", "GET", "/v2/team-b/app/blobs/" + db.String(), 403, "DENIED", ""},
		{"alice", "POST", "/v2/team-b/app/blobs/uploads/", 403, "DENIED", ""},
		{"alice", "DELETE", "/v2/team-a/app/manifests/v1", 403, "DENIED", ""},
		{"alice", "DELETE", "/v2/team-a/app/blobs/" + da.String(), 403, "DENIED", ""},
		{"alice", "GET", "/v2/team-ab/app/tags/list", 403, "DENIED", ""},
		{"bob", "PUT", "/v2/team-b/app/manifests/v2", 403, "DENIED", ""},
		{"carol", "GET", "/v2/_catalog", 403, "DENIED", ""},
		{"carol", "GET", "/v2/team-a/app/manifests/v1", 403, "DENIED", ""},
		// What is allowed still works.
		{"alice", "GET", "/v2/team-a/app/manifests/v1", 200, "", ""},
		{"alice", "GET", "/v2/team-a/app/tags/list", 200, "", ""},
		{"alice", "GET", "/v2/team-a/app/referrers/" + da.String(), 200, "", ""},
		{"alice", "GET", "/v2/team-a/app/blobs/" + da.String(), 200, "", ""},
		{"alice", "POST", "/v2/team-a/app/blobs/uploads/", 202, "", ""},
		{"bob", "GET", "/v2/team-b/app/manifests/v1", 200, "", ""},
		{"carol", "GET", "/v2/", 200, "", ""},
	} {
		t.Run(tc.user+" "+tc.method+" "+tc.path, func(t *testing.T) {
			w := e.as(t, tc.user, req{method: tc.method, path: tc.path})
			if tc.method == "HEAD" {
				if w.Code != tc.status {
					t.Fatalf("status %d, want %d", w.Code, tc.status)
				}
			} else {
				expect(t, w, tc.status, tc.code)
			}
			ch := w.Header().Get("WWW-Authenticate")
			if tc.status != 401 {
				if ch != "" {
					t.Errorf("WWW-Authenticate %q on %d", ch, tc.status)
				}
				if strings.Contains(w.Body.String(), "policy") {
					t.Errorf("refusal names a policy: %s", w.Body)
				}
				return
			}
			p := challengeParams(t, ch)
			if p["realm"] != testRealm || p["service"] != testService || p["scope"] != tc.scope {
				t.Errorf("challenge %q: want realm %q service %q scope %q", ch, testRealm, testService, tc.scope)
			}
		})
	}
}

// TestAccessMountNeedsPullOnSource: a cross-repository mount links the
// blob only when the caller may pull the source; otherwise it answers
// with an upload session and the blob stays out of the target.
func TestAccessMountNeedsPullOnSource(t *testing.T) {
	e := newAccessEnv(t)
	secret := e.pushBlob(t, "team-b/secret", randomBytes(t, 64))
	shared := e.pushBlob(t, "shared/base", randomBytes(t, 64))
	own := e.pushBlob(t, "team-a/lib", randomBytes(t, 64))

	for _, tc := range []struct {
		name, query string
		d           digest.Digest
		mounted     bool
	}{
		{"no pull on source", "mount=" + secret.String() + "&from=team-b/secret", secret, false},
		{"source lies outside the named repository", "mount=" + secret.String() + "&from=team-a/lib", secret, false},
		{"no from never mounts with access control on", "mount=" + secret.String(), secret, false},
		{"pull on a shared repository", "mount=" + shared.String() + "&from=shared/base", shared, true},
		{"own team", "mount=" + own.String() + "&from=team-a/lib", own, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh target per case, so one case's mount cannot mask another's.
			target := "team-a/" + strings.ReplaceAll(tc.name, " ", "-")
			w := e.as(t, "alice", req{method: "POST", path: "/v2/" + target + "/blobs/uploads/?" + tc.query})
			head := e.as(t, "alice", req{method: "HEAD", path: "/v2/" + target + "/blobs/" + tc.d.String()})
			if tc.mounted {
				expect(t, w, http.StatusCreated, "")
				if head.Code != http.StatusOK {
					t.Errorf("mounted blob HEAD: %d", head.Code)
				}
				return
			}
			expect(t, w, http.StatusAccepted, "")
			if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, "/v2/"+target+"/blobs/uploads/") {
				t.Errorf("fallback Location %q", loc)
			}
			if head.Code != http.StatusNotFound {
				t.Errorf("blob reachable in the target after a refused mount: HEAD %d", head.Code)
			}
		})
	}
	// Push on the target is needed before anything else.
	w := e.as(t, "bob", req{method: "POST", path: "/v2/team-b/copy/blobs/uploads/?mount=" + secret.String() + "&from=team-b/secret"})
	expect(t, w, http.StatusForbidden, "DENIED")
}

func catalogPage(t *testing.T, e *accessEnv, user, query string) ([]string, string) {
	t.Helper()
	w := e.as(t, user, req{method: "GET", path: "/v2/_catalog" + query})
	expect(t, w, http.StatusOK, "")
	var body struct{ Repositories []string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	return body.Repositories, w.Header().Get("Link")
}

// TestAccessCatalogFiltered: the catalog shows only repositories the
// caller may list, and pages hold n visible names however many hidden
// ones lie between, with Link set from the last shown name and only when
// another visible one follows.
func TestAccessCatalogFiltered(t *testing.T) {
	e := newAccessEnv(t)
	e.seed(t, "a/x", "team-a/1", "team-ab/x", "team-b/1", "team-b/2", "team-a/2", "y/hidden", "z/1", "zz/hidden")

	all, link := catalogPage(t, e, "alice", "")
	if want := []string{"team-a/1", "team-a/2", "z/1"}; !slices.Equal(all, want) || link != "" {
		t.Errorf("alice's catalog %v (Link %q), want %v", all, link, want)
	}
	bob, _ := catalogPage(t, e, "bob", "")
	if want := []string{"team-b/1", "team-b/2"}; !slices.Equal(bob, want) {
		t.Errorf("bob's catalog %v, want %v", bob, want)
	}

	var pages [][]string
	query := "?n=2"
	for i := 0; query != "" && i < 5; i++ {
		repos, link := catalogPage(t, e, "alice", query)
		pages = append(pages, repos)
		query = ""
		if link != "" {
			u := strings.TrimSuffix(strings.TrimPrefix(strings.Split(link, ";")[0], "<"), ">")
			parsed, err := url.Parse(u)
			if err != nil || parsed.Path != "/v2/_catalog" {
				t.Fatalf("Link %q", link)
			}
			query = "?" + parsed.RawQuery
		}
	}
	if len(pages) != 2 || !slices.Equal(pages[0], []string{"team-a/1", "team-a/2"}) || !slices.Equal(pages[1], []string{"z/1"}) {
		t.Errorf("pages %v", pages)
	}
	// Exactly n visible names with only hidden ones after: no Link.
	repos, link := catalogPage(t, e, "alice", "?n=3")
	if len(repos) != 3 || link != "" {
		t.Errorf("n=3: %v, Link %q", repos, link)
	}
	repos, link = catalogPage(t, e, "alice", "?n=1&last=team-a/1")
	if !slices.Equal(repos, []string{"team-a/2"}) || !strings.Contains(link, "last=team-a%2F2") {
		t.Errorf("after team-a/1: %v, Link %q", repos, link)
	}
	repos, _ = catalogPage(t, e, "alice", "?n=0")
	if len(repos) != 0 {
		t.Errorf("n=0: %v", repos)
	}
}

// TestAccessObserver: pulls, pushes and deletes reach the observer with
// their outcome, refusals included.
func TestAccessObserver(t *testing.T) {
	e := newAccessEnv(t)
	e.seed(t, "team-b/app")
	body, d := e.image(t, "team-a/app", nil)
	expect(t, e.as(t, "alice", req{method: "PUT", path: "/v2/team-a/app/manifests/v1", header: hdr("Content-Type", v1.MediaTypeImageManifest), body: body}), 201, "")
	expect(t, e.as(t, "alice", req{method: "GET", path: "/v2/team-a/app/manifests/v1"}), 200, "")
	expect(t, e.as(t, "alice", req{method: "GET", path: "/v2/team-b/app/manifests/v1"}), 403, "DENIED")
	expect(t, e.as(t, "alice", req{method: "DELETE", path: "/v2/team-a/app/manifests/v1"}), 403, "DENIED")
	expect(t, e.as(t, "alice", req{method: "POST", path: "/v2/team-b/app/blobs/uploads/"}), 403, "DENIED")
	expect(t, e.as(t, "alice", req{method: "POST", path: "/v2/team-a/app/blobs/uploads/"}), 202, "") // allowed: not observed
	body2, d2 := e.image(t, "team-a/app", nil)
	expect(t, e.as(t, "alice", req{method: "PUT", path: "/v2/team-a/app/manifests/v1?tag=v2", header: hdr("Content-Type", v1.MediaTypeImageManifest), body: body2}), 201, "")

	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.events) != 6 {
		t.Fatalf("events %+v", e.events)
	}
	push, pull, refusedPull, refusedDelete, refusedUpload := e.events[0], e.events[1], e.events[2], e.events[3], e.events[4]
	if push.Moved != nil {
		t.Errorf("first push moved tags: %v", push.Moved)
	}
	// v1 moved from d; v2 is new.
	if move := e.events[5]; move.Digest != d2 || !slices.Equal(move.Tags, []string{"v1", "v2"}) || len(move.Moved) != 1 || move.Moved["v1"] != d {
		t.Errorf("tag move %+v", move)
	}
	if refusedUpload.Action != policy.ActionPush || refusedUpload.Repository != "team-b/app" || refusedUpload.Err == nil {
		t.Errorf("refused upload %+v", refusedUpload)
	}
	if push.Action != policy.ActionPush || push.Repository != "team-a/app" || push.Digest != d || !slices.Equal(push.Tags, []string{"v1"}) || push.Err != nil {
		t.Errorf("push %+v", push)
	}
	if pull.Action != policy.ActionPull || pull.Digest != d || pull.Err != nil {
		t.Errorf("pull %+v", pull)
	}
	if refusedPull.Action != policy.ActionPull || refusedPull.Repository != "team-b/app" || refusedPull.Err == nil {
		t.Errorf("refused pull %+v", refusedPull)
	}
	if refusedDelete.Action != policy.ActionDelete || refusedDelete.Err == nil {
		t.Errorf("refused delete %+v", refusedDelete)
	}
}

// bearer returns an Authorization header with an access token for
// subject granting scopes ("repository:NAME:pull,push").
func (e *accessEnv) bearer(t *testing.T, subject string, scopes ...string) http.Header {
	t.Helper()
	var access []token.Access
	for _, s := range scopes {
		sc, err := token.ParseScope(s)
		if err != nil {
			t.Fatal(err)
		}
		access = append(access, token.Access{Type: sc.Type, Name: sc.Name, Actions: sc.Actions})
	}
	// Tokens carry the credential and account they were issued for.
	name := strings.TrimPrefix(subject, "user:")
	p, err := e.ids.Authenticate(context.Background(), name, e.password[name])
	if err != nil {
		t.Fatal(err)
	}
	id := token.Identity{Subject: p.Subject(), Credential: p.Credential, AccountID: p.AccountID}
	tok, _, err := e.issuer.IssueAccess(id, testService, access)
	if err != nil {
		t.Fatal(err)
	}
	return hdr("Authorization", "Bearer "+tok)
}

// TestAccessMountWithTokens: a token that lacks pull on the mount source
// gets a challenge naming both repositories when policy allows the pull
// (so the client can fetch a wider token and retry), and a plain upload
// session when policy forbids it, which reveals nothing about the source.
func TestAccessMountWithTokens(t *testing.T) {
	e := newAccessEnv(t)
	shared := e.pushBlob(t, "shared/base", randomBytes(t, 64))
	secret := e.pushBlob(t, "team-b/secret", randomBytes(t, 64))
	open := e.testEnv.handler
	do := func(h http.Header, query string) *httptest.ResponseRecorder {
		e.testEnv.handler = e.guarded
		defer func() { e.testEnv.handler = open }()
		return e.do(t, req{method: "POST", path: "/v2/team-a/app/blobs/uploads/?" + query, header: h})
	}

	narrow := e.bearer(t, "user:alice", "repository:team-a/app:pull,push")
	w := do(narrow, "mount="+shared.String()+"&from=shared/base")
	expect(t, w, http.StatusUnauthorized, "UNAUTHORIZED")
	p := challengeParams(t, w.Header().Get("WWW-Authenticate"))
	if p["scope"] != "repository:team-a/app:pull,push repository:shared/base:pull" || p["error"] != "insufficient_scope" || p["realm"] != testRealm {
		t.Errorf("challenge %v", p)
	}

	wide := e.bearer(t, "user:alice", "repository:team-a/app:pull,push", "repository:shared/base:pull")
	expect(t, do(wide, "mount="+shared.String()+"&from=shared/base"), http.StatusCreated, "")

	// Policy forbids pulling team-b: an upload session, no challenge.
	w = do(narrow, "mount="+secret.String()+"&from=team-b/secret")
	expect(t, w, http.StatusAccepted, "")
	if w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("challenge for a source policy forbids: %q", w.Header().Get("WWW-Authenticate"))
	}
	// Even a token claiming the source's scope gains nothing policy forbids.
	forged := e.bearer(t, "user:alice", "repository:team-a/app:pull,push", "repository:team-b/secret:pull")
	expect(t, do(forged, "mount="+secret.String()+"&from=team-b/secret"), http.StatusAccepted, "")
	e.testEnv.handler = e.guarded
	head := e.do(t, req{method: "HEAD", path: "/v2/team-a/app/blobs/" + secret.String(), header: wide})
	e.testEnv.handler = open
	if head.Code != http.StatusNotFound {
		t.Errorf("team-b blob reachable in team-a: %d", head.Code)
	}
}
