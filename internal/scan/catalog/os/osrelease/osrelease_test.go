package osrelease_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/os/osrelease"
)

func analyze(t *testing.T, path, content string) (*catalog.Distro, error) {
	t.Helper()
	a := osrelease.Analyzer{}
	if !a.Wants(path, 0o644, int64(len(content))) {
		t.Fatalf("does not want %s", path)
	}
	res, err := a.Analyze(context.Background(), &catalog.File{Path: path, Content: strings.NewReader(content)})
	if err != nil {
		return nil, err
	}
	return res.Distro, nil
}

func TestRealDebian(t *testing.T) {
	b, err := os.ReadFile("../../testdata/fixture-src/1-debian/usr/lib/os-release")
	if err != nil {
		t.Fatal(err)
	}
	d, err := analyze(t, "/usr/lib/os-release", string(b))
	if err != nil {
		t.Fatal(err)
	}
	want := catalog.Distro{ID: "debian", VersionID: "12", Codename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)"}
	if *d != want {
		t.Errorf("got %+v", *d)
	}
}

func TestFallbacks(t *testing.T) {
	tests := []struct{ path, content, id, version string }{
		{"/etc/os-release", "ID='alpine'\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine \\\"Linux\\\" v3.19\"\n", "alpine", "3.19.1"},
		{"/etc/os-release", "# comment\nID=ubuntu\nVERSION_ID=\"22.04\"\n", "ubuntu", "22.04"},
		{"/etc/debian_version", "12.15\n", "debian", "12"},
		{"/etc/debian_version", "trixie/sid\n", "debian", ""},
		{"/etc/alpine-release", "3.19.1\n", "alpine", "3.19.1"},
		{"/etc/redhat-release", "Red Hat Enterprise Linux release 8.9 (Ootpa)\n", "rhel", "8"},
		{"/etc/redhat-release", "CentOS Linux release 7.9.2009 (Core)\n", "centos", "7"},
		{"/etc/redhat-release", "Rocky Linux release 9.3 (Blue Onyx)\n", "rocky", "9"},
	}
	for _, tc := range tests {
		d, err := analyze(t, tc.path, tc.content)
		if err != nil {
			t.Errorf("%s %q: %v", tc.path, tc.content, err)
			continue
		}
		if d.ID != tc.id || d.VersionID != tc.version {
			t.Errorf("%s %q: got %s %s", tc.path, tc.content, d.ID, d.VersionID)
		}
	}
	if _, err := analyze(t, "/etc/os-release", "NAME=nothing\n"); !errors.Is(err, osrelease.ErrNoID) {
		t.Errorf("no ID: err = %v", err)
	}
	if _, err := analyze(t, "/etc/redhat-release", "garbage"); err == nil {
		t.Error("garbage redhat-release accepted")
	}
	if (osrelease.Analyzer{}).Wants("/etc/os-release", 0o644, 1<<30) {
		t.Error("wants a 1 GiB os-release")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\n"))
	f.Add([]byte("ID=\"\\\nX='"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := osrelease.Parse(b)
		if err == nil && d.ID == "" {
			t.Fatal("distro without ID")
		}
	})
}
