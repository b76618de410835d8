package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/secrets"
)

// Fake values in valid formats, assembled so this file holds no literal
// token a scanner would flag.
var (
	fakeGHP    = "ghp_" + strings.Repeat("Ab3dE5gH7j", 3) + "K9mN1p"
	fakeAKID   = "AKIA" + "Q3VZ7HPLMX2RT5NW"
	fakeStripe = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
)

func scan(t *testing.T, s *secrets.Scanner, path, content string) []secrets.Finding {
	t.Helper()
	fs, err := s.Scan(context.Background(), path, strings.NewReader(content))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fs
}

func rules(fs []secrets.Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.RuleID)
	}
	return strings.Join(s, " ")
}

func TestSkips(t *testing.T) {
	s := newScanner(t, secrets.WithMaxFileSize(1<<10))
	// Binary: a NUL in the first 8 KiB.
	_, err := s.Scan(context.Background(), "/bin/app", strings.NewReader("\x7fELF\x00\x00"+fakeGHP))
	if !errors.Is(err, secrets.ErrSkipped) || !errors.Is(err, secrets.ErrBinary) {
		t.Errorf("binary: %v", err)
	}
	// Too large: the part read still reports.
	big := "token: " + fakeGHP + "\n" + strings.Repeat("x\n", 1<<10)
	fs, err := s.Scan(context.Background(), "/big.txt", strings.NewReader(big))
	if !errors.Is(err, secrets.ErrTooLarge) || rules(fs) != "github-token" {
		t.Errorf("too large: %v, %q", err, rules(fs))
	}
	if !s.Skips("/big.txt", 0o644, 2<<10) || s.Skips("/etc/app.conf", 0o644, 10) {
		t.Error("Skips by size")
	}
	for _, p := range []string{"/app/node_modules/a/test/k.pem", "/go/vendor/x/y.go", "/usr/share/doc/x/README", "/app/logo.PNG.png", "/src/testdata/k"} {
		if !s.Skips(p, 0o644, 1) {
			t.Errorf("%s not skipped", p)
		}
	}
	if d := newScanner(t); d.Skips("/usr/local/bin/run.sh", 0o755, 100<<10) || !d.Skips("/usr/local/bin/app", 0o755, 2<<20) || d.Skips("/srv/data.json", 0o644, 2<<20) {
		t.Error("executable size limit")
	}
	if !s.Skips("/usr/bin/ls", 0o755, 10) || !s.Skips("/lib/x86_64-linux-gnu/libc.so.6", 0o644, 10) ||
		s.Skips("/usr/local/bin/entrypoint.sh", 0o755, 10) || s.Skips("/usr/lib/app/config.py", 0o644, 10) {
		t.Error("executable skips")
	}
	for _, p := range []string{"/app/README.md", "/app/test.env", "/etc/vendor.conf", "/app/node_modules/a/index.js"} {
		if s.Skips(p, 0o644, 1) {
			t.Errorf("%s skipped", p)
		}
	}
}

func TestLongLinesAndCRLF(t *testing.T) {
	s := newScanner(t, secrets.WithMaxLineLength(1024))
	content := strings.Repeat("a", 5000) + " " + fakeGHP + " " + strings.Repeat("b", 5000) + "\r\nnext " + fakeStripe + "\r\n"
	fs := scan(t, s, "/x", content)
	if rules(fs) != "github-token stripe-live-key" || fs[0].Line != 1 || fs[1].Line != 2 {
		t.Errorf("got %v", fs)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{"": "********", "short": "********", "12345678": "12********", fakeGHP: "ghp_********"} {
		if got := secrets.Redact([]byte(in)); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUserRules(t *testing.T) {
	user := `version: 1
disable: [jwt]
skip: ["/opt/legacy/**"]
allow:
  values: ['^AKIAQ3VZ']
rules:
  - id: internal-token
    title: Internal service token
    severity: HIGH
    keywords: [itk_]
    regex: '(itk_[a-f0-9]{32})'
  - id: stripe-live-key
    title: Stripe key (user severity)
    severity: LOW
    keywords: [sk_live_]
    regex: '(sk_live_[0-9A-Za-z]{24,99})'
`
	s := newScanner(t, secrets.WithRules(strings.NewReader(user)))
	tok := "itk_" + strings.Repeat("0a1b2c3d", 4)
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhYmMxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl"
	fs := scan(t, s, "/etc/app", tok+"\n"+jwt+"\n"+fakeAKID+"\n"+fakeStripe+"\n")
	if rules(fs) != "internal-token stripe-live-key" || fs[1].Severity.String() != "LOW" {
		t.Errorf("got %v", fs)
	}
	if !s.Skips("/opt/legacy/a", 0o644, 1) {
		t.Error("user skip glob ignored")
	}
	for _, bad := range []string{
		"version: 2\n",
		"version: 1\ndisable: [nope]\n",
		"version: 1\nrules:\n  - id: x\n    title: X\n    regex: '('\n",
		"version: 1\nrules:\n  - id: x\n    regex: 'a'\n",
		"version: 1\nrules:\n  - id: x\n    title: X\n    severity: loud\n    regex: 'a'\n",
		"version: 1\nrules:\n  - id: x\n    title: X\n    regex: 'a'\n    entropy: 9\n",
		"version: 1\nskip: ['{a']\n",
		"version: 1\nunknown: true\n",
	} {
		if _, err := secrets.New(secrets.WithRules(strings.NewReader(bad))); !errors.Is(err, secrets.ErrBadRules) {
			t.Errorf("%q: err = %v, want ErrBadRules", bad, err)
		}
	}
}

func TestScanConfig(t *testing.T) {
	s := newScanner(t)
	img := &ocispec.Image{
		Config: ocispec.ImageConfig{
			Env:        []string{"PATH=/usr/bin", "GITHUB_TOKEN=" + fakeGHP, "DB_PASSWORD=changeme"},
			Labels:     map[string]string{"maintainer": "ops", "deploy.key": fakeAKID},
			Cmd:        []string{"app", "--stripe", fakeStripe},
			Entrypoint: []string{"/bin/app"},
		},
		History: []ocispec.History{
			{CreatedBy: "/bin/sh -c #(nop) ADD file:abc in /"},
			{CreatedBy: "RUN |1 NPM_TOKEN=npm_" + "Xq7LmP2vR9sT4wZ8bN3cK6dF1gH5jY0eUaQi" + " /bin/sh -c npm ci # buildkit"},
		},
	}
	fs := s.ScanConfig(img)
	var got []string
	for _, f := range fs {
		got = append(got, f.Path+":"+string(rune('0'+f.Line))+":"+f.RuleID)
	}
	want := "image-config:Env:2:github-token image-config:Labels:1:aws-access-key-id image-config:Cmd:1:stripe-live-key image-history:2:npm-token"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	var all bytes.Buffer
	for _, f := range fs {
		all.WriteString(f.String())
	}
	if strings.Contains(all.String(), fakeGHP) || strings.Contains(all.String(), fakeStripe) {
		t.Error("raw value in output")
	}
	if s.ScanConfig(nil) != nil {
		t.Error("nil image")
	}
}

func TestRequiresAndNextLine(t *testing.T) {
	s := newScanner(t)
	key := `"private_key": "-----BEGIN PRIVATE KEY-----\n` + strings.Repeat("MIIEvQIBADANBgkqhkiG9w0B", 3) + `\n-----END PRIVATE KEY-----\n",`
	// Without client_email this is an inline key, not a service account.
	if got := rules(scan(t, s, "/k.json", "{\n"+key+"\n}\n")); got != "private-key-inline" {
		t.Errorf("no client_email: %q", got)
	}
	// client_email after the key still counts (checked at end of file).
	if got := rules(scan(t, s, "/k.json", "{\n\"type\": \"service_account\",\n"+key+"\n\"client_email\": \"a@b.iam.gserviceaccount.com\"\n}\n")); got != "gcp-service-account" {
		t.Errorf("service account: %q", got)
	}
	// A PEM header at end of file has no body line.
	if got := rules(scan(t, s, "/k.pem", "-----BEGIN RSA PRIVATE KEY-----")); got != "" {
		t.Errorf("header only: %q", got)
	}
}

func TestAnalyzer(t *testing.T) {
	a := secrets.NewAnalyzer(newScanner(t))
	if a.Name() != "secrets" || a.Version() <= 0 {
		t.Errorf("name %q version %d", a.Name(), a.Version())
	}
	other := secrets.NewAnalyzer(newScanner(t, secrets.WithMaxFileSize(1<<20)))
	if other.Version() == a.Version() {
		t.Error("version ignores limits")
	}
	if a.Wants("/etc/x", fs.ModeSymlink, 10) || a.Wants("/etc/x", 0o644, 0) || !a.Wants("/etc/x", 0o644, 10) || a.Wants("/usr/share/doc/x", 0o644, 10) {
		t.Error("Wants")
	}
	fs, err := a.Findings(context.Background(), &catalog.File{Path: "/app/.env", Size: 40, Content: strings.NewReader("TOKEN=" + fakeGHP + "\n")})
	if err != nil || rules(fs) != "github-token" {
		t.Errorf("findings %v, %v", fs, err)
	}
	fs, err = a.Findings(context.Background(), &catalog.File{Path: "/bin/x", Size: 5, Content: strings.NewReader("a\x00b")})
	if err != nil || fs != nil {
		t.Errorf("binary: %v, %v", fs, err)
	}
}
