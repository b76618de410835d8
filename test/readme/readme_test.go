package readme

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

func TestMain(m *testing.M) { os.Exit(moatproc.Main(m)) }

// readmePath is the README, from this package's directory.
const readmePath = "../../README.md"

// TestREADME runs the README's client examples; see the package comment.
//
// It depends on the token realm naming the host the client used: crane,
// oras and moat sbom (go-containerregistry) refuse a Bearer realm on
// 127.0.0.1 when they were pointed at localhost.
func TestREADME(t *testing.T) {
	data, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseBlocks(string(data))
	if stray := strayExamples(blocks); len(stray) > 0 {
		t.Errorf("client examples outside a ```sh block, which this test would not run (make them ```sh blocks, or prose):\n%s", strings.Join(stray, "\n"))
	}
	var run []block
	used := map[string]bool{}
	for _, b := range blocks {
		if !runnable(b) {
			continue
		}
		run = append(run, b)
		for _, c := range commands(b.text) {
			used[program(c)] = true
		}
	}
	for _, c := range []string{"skopeo", "crane", "podman", "oras", "moat"} {
		if !used[c] {
			t.Errorf("README.md has no ```sh example of %s against %s: is a fence no longer marked sh?", c, readmeHost)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	s := moatproc.Start(t, moatproc.WithClientHost("localhost"), moatproc.WithoutRobot())
	env := newSandbox(t, s, used)
	for _, b := range run {
		script := strings.ReplaceAll(b.text, readmeHost, s.Addr)
		script = regexp.MustCompile(`\bPASSWORD\b`).ReplaceAllString(script, s.Admin.Password)
		if _, err := env.Try("bash", "-e", "-o", "pipefail", "-x", "-c", script); err != nil {
			t.Fatalf("README.md block at line %d failed:\n%s\n%v", b.line, b.text, err)
		}
	}

	// What the examples pushed is there.
	refs := regexp.MustCompile(regexp.QuoteMeta(readmeHost) + `/([a-z0-9./_-]+):([A-Za-z0-9._-]+)`)
	seen := map[string]bool{}
	for _, b := range run {
		for _, m := range refs.FindAllStringSubmatch(b.text, -1) {
			if seen[m[0]] {
				continue
			}
			seen[m[0]] = true
			if code := manifestStatus(t, s, m[1], m[2]); code != http.StatusOK {
				t.Errorf("%s, named in the README's examples: HEAD manifest %d, want 200", m[0], code)
			}
		}
	}
}

// manifestStatus is the status of HEAD /v2/REPO/manifests/TAG as admin.
func manifestStatus(t *testing.T, s *moatproc.Server, repo, tag string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodHead, s.URL+"/v2/"+repo+"/manifests/"+tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.Admin.Username, s.Admin.Password)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// newSandbox returns a runner for the README's blocks: a working
// directory holding the files they name, PATH with moat and the clients
// they use, podman's private sandbox (its storage holding the image
// myimage), a HOME of its own (where crane and oras keep logins), and
// docker.io served by an anonymous moat holding library/alpine:3.20.
func newSandbox(t *testing.T, s *moatproc.Server, used map[string]bool) *moatproc.Runner {
	t.Helper()
	bin := t.TempDir()
	link := func(name, target string) {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("moat", moatproc.Binary(t))
	tools := map[string]string{}
	for _, c := range clients {
		if !used[c] {
			continue
		}
		tools[c] = moatproc.RequireTool(t, c)
		link(c, tools[c])
	}

	work := t.TempDir()
	layers := [][]byte{ct.Gzip(ct.Tar(
		ct.File("etc/os-release", "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"),
		ct.File("lib/apk/db/installed", "P:musl\nV:1.2.5-r0\nA:x86_64\no:musl\nL:MIT\n\n"),
		ct.File("hello.txt", "hello from the README test\n"),
	))}
	layout := filepath.Join(work, "layout")
	if _, err := ct.WriteLayout(layout, "v1", layers); err != nil {
		t.Fatal(err)
	}
	files, err := ct.ReadTree(layout)
	if err != nil {
		t.Fatal(err)
	}
	// image.tar: an OCI archive; app.tar: one whose image is tagged app.
	if err := ct.TarFiles(filepath.Join(work, "image.tar"), files); err != nil {
		t.Fatal(err)
	}
	appLayout := filepath.Join(t.TempDir(), "app")
	if _, err := ct.WriteLayout(appLayout, "app", layers); err != nil {
		t.Fatal(err)
	}
	appFiles, err := ct.ReadTree(appLayout)
	if err != nil {
		t.Fatal(err)
	}
	if err := ct.TarFiles(filepath.Join(work, "app.tar"), appFiles); err != nil {
		t.Fatal(err)
	}

	// docker.io, for examples that copy from Docker Hub: an anonymous moat
	// that registries.conf puts in its place.
	hub := moatproc.Start(t, moatproc.WithoutAuth())
	r := moatproc.NewRunner(t)
	if tools["skopeo"] != "" {
		r.Run(tools["skopeo"], "copy", "--dest-tls-verify=false", "oci-archive:"+filepath.Join(work, "image.tar"), "docker://"+hub.Addr+"/library/alpine:3.20")
	}
	p := moatproc.NewPodman(t, s)
	// podman reads CONTAINERS_REGISTRIES_CONF, skopeo (1.9) only
	// $HOME/.config/containers/registries.conf.
	conf := filepath.Join(lookupEnv(p.Runner.Env, "HOME"), ".config", "containers", "registries.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("unqualified-search-registries = []\n\n[[registry]]\nprefix = \"docker.io\"\nlocation = %q\ninsecure = true\n", hub.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	if tools["podman"] != "" {
		// podman reads its auth file even to pull from an archive.
		if err := os.WriteFile(lookupEnv(p.Runner.Env, "REGISTRY_AUTH_FILE"), []byte(`{"auths":{}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSpace(p.Run("pull", "-q", "oci-archive:"+filepath.Join(work, "image.tar")))
		p.Run("tag", id, "myimage")
	}
	env := p.Runner
	env.Dir = work
	env.Env = append(env.Env,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"CONTAINERS_REGISTRIES_CONF="+conf,
		"DOCKER_CONFIG=", // crane and oras keep logins under HOME
	)
	return env
}

// lookupEnv returns the last value of key in env (KEY=VALUE entries).
func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
