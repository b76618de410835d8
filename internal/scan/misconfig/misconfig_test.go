package misconfig_test

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/scan/misconfig"
)

// TestRelevantReplay: replaying only the entries Relevant keeps gives the
// same facts on the real image's headers, with far fewer entries.
func TestRelevantReplay(t *testing.T) {
	all, kept := misconfig.NewCollector(), misconfig.NewCollector()
	total, relevant := 0, 0
	for i := 1; i <= 4; i++ {
		f, err := os.Open(filepath.Join("testdata", "app", fmt.Sprintf("layer%d.tar.gz", i)))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		all.StartLayer(fmt.Sprint(i))
		kept.StartLayer(fmt.Sprint(i))
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			e := misconfig.EntryFromHeader(h)
			all.Add(e)
			total++
			if misconfig.Relevant(e) {
				kept.Add(e)
				relevant++
			}
		}
		f.Close()
	}
	a, k := fmt.Sprintf("%+v", all.Facts()), fmt.Sprintf("%+v", kept.Facts())
	if a != k {
		t.Errorf("facts differ:\nall  %s\nkept %s", a, k)
	}
	t.Logf("%d of %d entries relevant", relevant, total)
	if relevant*2 > total {
		t.Errorf("%d of %d entries kept: not a summary", relevant, total)
	}
	// chmod u-s in a later layer inside the kept trees is seen.
	c := misconfig.NewCollector()
	c.StartLayer("1")
	c.Add(file("usr/bin/passwd", 0o4755))
	c.StartLayer("2")
	if e := file("usr/bin/passwd", 0o755); misconfig.Relevant(e) {
		c.Add(e)
	}
	if len(c.Facts().Special) != 0 {
		t.Error("replaced setuid binary still reported")
	}
}

// collectFixture streams the headers-only copies of app-oci.tar's four
// layers (testdata/app, made from the real image with every file's
// content dropped) through a collector.
func collectFixture(t *testing.T) *misconfig.Collector {
	t.Helper()
	c := misconfig.NewCollector()
	for i := 1; i <= 4; i++ {
		f, err := os.Open(filepath.Join("testdata", "app", fmt.Sprintf("layer%d.tar.gz", i)))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		c.StartLayer(fmt.Sprintf("layer%d", i))
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			c.Add(misconfig.EntryFromHeader(h))
		}
		f.Close()
	}
	return c
}

// TestAppImage: the setuid/setgid list equals `find -perm /6000` on the
// extracted real image (testdata/app/find-perm-6000.txt), and the shells
// and package managers it holds are reported.
func TestAppImage(t *testing.T) {
	facts := collectFixture(t).Facts()
	want, err := os.ReadFile("testdata/app/find-perm-6000.txt")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range facts.Special {
		got = append(got, f.Path)
	}
	if strings.Join(got, "\n")+"\n" != string(want) {
		t.Errorf("setuid/setgid:\ngot  %v\nwant %v", got, strings.Fields(string(want)))
	}
	for _, f := range facts.Special {
		if f.Path == "/usr/bin/passwd" && (f.Mode != "4755" || f.UID != 0 || f.Layer != "layer1") {
			t.Errorf("passwd fact %+v", f)
		}
		if f.Path == "/usr/bin/chage" && (f.Mode != "2755" || f.GID != 42) {
			t.Errorf("chage fact %+v", f)
		}
	}
	var tools []string
	for _, x := range facts.Tools {
		tools = append(tools, x.Category+":"+x.Path)
	}
	wantTools := "package-manager:/usr/bin/apt package-manager:/usr/bin/apt-get shell:/usr/bin/bash shell:/usr/bin/dash package-manager:/usr/bin/dpkg shell:/usr/bin/sh"
	if strings.Join(tools, " ") != wantTools {
		t.Errorf("tools %v", tools)
	}
	if len(facts.WorldWritable) != 0 {
		t.Errorf("world-writable %v", facts.WorldWritable)
	}
	ids := map[string]int{}
	for _, f := range facts.Findings() {
		ids[f.ID]++
	}
	if ids[misconfig.CheckSetuid] != 13 || ids[misconfig.CheckShell] != 1 || ids[misconfig.CheckPackageManager] != 1 || ids[misconfig.CheckNetworkTool] != 0 {
		t.Errorf("findings by id %v", ids)
	}

	r, err := os.Open("testdata/app/config.json")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg, err := misconfig.ParseConfig(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := idList(misconfig.CheckConfig(cfg)); got != "MC001 MC003" {
		t.Errorf("config findings %q", got)
	}
}

func idList(fs []misconfig.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.ID)
	}
	return strings.Join(s, " ")
}

type layer []misconfig.Entry

func collect(layers ...layer) misconfig.Facts {
	c := misconfig.NewCollector()
	for i, l := range layers {
		c.StartLayer(fmt.Sprint("L", i+1))
		for _, e := range l {
			c.Add(e)
		}
	}
	return c.Facts()
}

func file(p string, mode int64) misconfig.Entry {
	return misconfig.Entry{Path: p, Mode: mode, Typeflag: tar.TypeReg}
}

func dir(p string, mode int64) misconfig.Entry {
	return misconfig.Entry{Path: p, Mode: mode, Typeflag: tar.TypeDir}
}

func paths(fs []misconfig.FileFact) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.Path+"@"+f.Layer)
	}
	return strings.Join(s, " ")
}

func TestSquash(t *testing.T) {
	l1 := layer{
		dir("usr/bin", 0o755),
		file("usr/bin/su", 0o4755),
		file("usr/bin/passwd", 0o4755),
		file("./usr/bin/curl", 0o755),
		{Path: "usr/bin/sh", Typeflag: tar.TypeSymlink, Linkname: "dash", Mode: 0o777},
		file("opt/app/helper", 0o2755),
		file("opt/keep/tool", 0o4700),
		file("/etc/shadow-", 0o666),
		file("var/tmp/scratch", 0o666),                                  // not a system directory
		dir("usr/tmp", 0o1777),                                          // sticky: fine
		dir("usr/share/open", 0o777),                                    // world-writable directory
		file("usr/lib/x.so", 0o6755),                                    // both bits
		{Path: "usr/bin/ping", Typeflag: tar.TypeSymlink, Mode: 0o4777}, // symlinks have no setuid
	}
	l2 := layer{
		file("usr/bin/.wh.su", 0),
		file("usr/bin/passwd", 0o755), // replaced without the bit
		file("opt/app/.wh..wh..opq", 0),
		file("opt/app/new", 0o4755), // same layer as the opaque marker: stays
		file("usr/bin/.wh.curl", 0),
		{Path: "usr/bin/passwd2", Typeflag: tar.TypeLink, Linkname: "usr/lib/x.so"},
		dir("etc", 0o755),
	}
	l3 := layer{
		file("opt/keep", 0o644), // a file replaces the directory and hides its content
		file("usr/bin/wget", 0o755),
	}
	f := collect(l1, l2, l3)
	if got, want := paths(f.Special), "/opt/app/new@L2 /usr/bin/passwd2@L2 /usr/lib/x.so@L1"; got != want {
		t.Errorf("special\ngot  %s\nwant %s", got, want)
	}
	if got, want := paths(f.WorldWritable), "/etc/shadow-@L1 /usr/share/open@L1"; got != want {
		t.Errorf("world-writable\ngot  %s\nwant %s", got, want)
	}
	var tools []string
	for _, x := range f.Tools {
		tools = append(tools, x.Name+"@"+x.Layer)
	}
	if got := strings.Join(tools, " "); got != "sh@L1 wget@L3" {
		t.Errorf("tools %s", got)
	}
	for _, fi := range f.Findings() {
		if fi.ID == misconfig.CheckSetuid && fi.Path == "/usr/lib/x.so" && (fi.Severity.String() != "HIGH" || !strings.Contains(fi.Message, "setuid+setgid file (mode 6755")) {
			t.Errorf("finding %v", fi)
		}
	}
	// Whiting out a directory removes what lower layers put beneath it.
	f = collect(layer{file("srv/bin/x", 0o4755), file("srv/bin/y/z", 0o2755)}, layer{file("srv/.wh.bin", 0)})
	if len(f.Special) != 0 {
		t.Errorf("after directory whiteout: %v", f.Special)
	}
}

func TestCheckConfig(t *testing.T) {
	img := func(mut func(*dockerspec.DockerOCIImage)) *dockerspec.DockerOCIImage {
		i := &dockerspec.DockerOCIImage{}
		i.Config.User = "app"
		i.Config.Healthcheck = &dockerspec.HealthcheckConfig{Test: []string{"CMD", "true"}}
		mut(i)
		return i
	}
	hist := func(lines ...string) func(*dockerspec.DockerOCIImage) {
		return func(i *dockerspec.DockerOCIImage) {
			for _, l := range lines {
				i.History = append(i.History, ocispec.History{CreatedBy: l})
			}
		}
	}
	cases := []struct {
		name string
		img  *dockerspec.DockerOCIImage
		want string
	}{
		{"clean", img(func(*dockerspec.DockerOCIImage) {}), ""},
		{"no user", img(func(i *dockerspec.DockerOCIImage) { i.Config.User = "" }), "MC001"},
		{"uid 0 with group", img(func(i *dockerspec.DockerOCIImage) { i.Config.User = "0:1000" }), "MC001"},
		{"root name", img(func(i *dockerspec.DockerOCIImage) { i.Config.User = "root" }), "MC001"},
		{"uid 1000", img(func(i *dockerspec.DockerOCIImage) { i.Config.User = "1000:0" }), ""},
		{"healthcheck none is a choice", img(func(i *dockerspec.DockerOCIImage) { i.Config.Healthcheck.Test = []string{"NONE"} }), ""},
		{"no healthcheck", img(func(i *dockerspec.DockerOCIImage) { i.Config.Healthcheck = nil }), "MC003"},
		{"ports", img(func(i *dockerspec.DockerOCIImage) {
			i.Config.ExposedPorts = map[string]struct{}{"22/tcp": {}, "8080/tcp": {}, "2375": {}, "6379/tcp": {}, "bad/tcp": {}}
		}), "MC002 MC002"},
		{"env secret", img(func(i *dockerspec.DockerOCIImage) {
			i.Config.Env = []string{"PATH=/bin", "DB_PASSWORD=hunter2hunter2", "TOKEN_FILE=/run/secrets/t", "API_KEY=$API_KEY"}
		}), "MC006"},
		{"buildkit args", img(hist(`RUN |3 NPM_TOKEN=s3cr3tvalue VERSION=1.2 GITHUB_TOKEN="abc def" /bin/sh -c make PASSWORD=notanarg # buildkit`)), "MC005 MC005"},
		{"arg and env", img(hist(`ARG DEPLOY_SECRET=v4lue`, `/bin/sh -c #(nop)  ENV ADMIN_PASSWORD=pa55 LOG=1`, `ENV SECRET_PATH=/etc/x`)), "MC005 MC005"},
		{"add remote", img(hist(`ADD https://bob:pw1234@example.com/a.tgz /opt/ # buildkit`, `/bin/sh -c #(nop) ADD file:abc in /`, `ADD --chmod=755 http://example.com/x?sig=pw1234 /x`)), "MC004 MC004"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := misconfig.CheckConfig(c.img)
			if got := idList(fs); got != c.want {
				t.Errorf("got %q, want %q: %v", got, c.want, fs)
			}
			for _, f := range fs {
				for _, secret := range []string{"hunter2", "s3cr3t", "abc def", "v4lue", "pa55", "pw1234"} {
					if strings.Contains(f.Message, secret) {
						t.Errorf("message leaks %q: %s", secret, f.Message)
					}
				}
			}
		})
	}
	if misconfig.CheckConfig(nil) != nil {
		t.Error("nil image")
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, bad := range []string{"", "{", "[]", `{"config": 5}`} {
		if _, err := misconfig.ParseConfig(strings.NewReader(bad)); !errors.Is(err, misconfig.ErrBadConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	huge := `{"history":[` + strings.Repeat(`{"created_by":"x"},`, 600_000) + `{}]}`
	if _, err := misconfig.ParseConfig(strings.NewReader(huge)); !errors.Is(err, misconfig.ErrBadConfig) {
		t.Errorf("huge: %v", err)
	}
}

// FuzzConfig feeds arbitrary configuration blobs through parsing and the
// checks.
func FuzzConfig(f *testing.F) {
	if b, err := os.ReadFile("testdata/app/config.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"config":{"User":"0","ExposedPorts":{"22/tcp":{}}},"history":[{"created_by":"RUN |2 A=1 TOKEN=x sh"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := misconfig.ParseConfig(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for _, x := range misconfig.CheckConfig(cfg) {
			if x.ID == "" || x.Message == "" {
				t.Fatalf("bad finding %+v", x)
			}
		}
	})
}

// FuzzCollector adds entries with arbitrary names, modes and types.
func FuzzCollector(f *testing.F) {
	f.Add("usr/bin/.wh.su", int64(0o4755), byte(tar.TypeReg), "x", "a/.wh..wh..opq")
	f.Fuzz(func(t *testing.T, name string, mode int64, typ byte, link, second string) {
		c := misconfig.NewCollector()
		c.StartLayer("a")
		c.Add(misconfig.Entry{Path: name, Mode: mode, Typeflag: typ, Linkname: link})
		c.StartLayer("b")
		c.Add(misconfig.Entry{Path: second, Mode: mode, Typeflag: tar.TypeLink, Linkname: name})
		for _, fact := range c.Facts().Special {
			if !strings.HasPrefix(fact.Path, "/") {
				t.Fatalf("path %q not absolute", fact.Path)
			}
		}
		_ = c.Findings()
	})
}
