package rpm_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/os/rpm"
)

type entry struct {
	tag, typ uint32
	val      any // string, []string or []int32
}

// encode writes a header blob the way rpm stores it in its databases.
func encode(entries ...entry) []byte {
	var index, data bytes.Buffer
	for _, e := range entries {
		off := data.Len()
		var cnt int
		switch v := e.val.(type) {
		case string:
			data.WriteString(v)
			data.WriteByte(0)
			cnt = 1
		case []string:
			for _, s := range v {
				data.WriteString(s)
				data.WriteByte(0)
			}
			cnt = len(v)
		case []int32:
			for data.Len()%4 != 0 {
				data.WriteByte(0)
			}
			off = data.Len()
			for _, n := range v {
				binary.Write(&data, binary.BigEndian, n)
			}
			cnt = len(v)
		}
		binary.Write(&index, binary.BigEndian, []uint32{e.tag, e.typ, uint32(off), uint32(cnt)})
	}
	var out bytes.Buffer
	binary.Write(&out, binary.BigEndian, []uint32{uint32(len(entries)), uint32(data.Len())})
	out.Write(index.Bytes())
	out.Write(data.Bytes())
	return out.Bytes()
}

func pkgHeader(name, ver, rel string, epoch int32, src string) []byte {
	es := []entry{
		{1000, 6, name}, {1001, 6, ver}, {1002, 6, rel}, {1022, 6, "x86_64"},
		{1014, 6, "GPLv3+"}, {1044, 6, src},
		{1118, 8, []string{"/usr/bin/", "/etc/"}}, {1117, 8, []string{name, name + ".conf"}}, {1116, 4, []int32{0, 1}},
	}
	if epoch != 0 {
		es = append(es, entry{1003, 4, []int32{epoch}})
	}
	return encode(es...)
}

func sqliteDB(t *testing.T, blobs ...[]byte) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		if _, err := db.Exec("INSERT INTO Packages (blob) VALUES (?)", b); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSQLite(t *testing.T) {
	db := sqliteDB(t,
		pkgHeader("bash", "5.1.8", "6.el9", 0, "bash-5.1.8-6.el9.src.rpm"),
		pkgHeader("openssl-libs", "3.0.7", "24.el9", 1, "openssl-3.0.7-24.el9.src.rpm"),
		encode(entry{1000, 6, "gpg-pubkey"}, entry{1001, 6, "fd431d51"}),
		[]byte("garbage"),
	)
	a := rpm.Analyzer{TempDir: t.TempDir()}
	p := "/usr/lib/sysimage/rpm/rpmdb.sqlite"
	if !a.Wants(p, 0o644, int64(len(db))) {
		t.Fatal("does not want rpmdb.sqlite")
	}
	res, err := a.Analyze(context.Background(), &catalog.File{Path: p, Content: bytes.NewReader(db)})
	if !errors.Is(err, rpm.ErrBadHeader) {
		t.Errorf("garbage blob: err = %v", err)
	}
	var got []string
	for _, p := range res.Packages {
		got = append(got, strings.Join([]string{p.Name, p.Version, p.SourceName, p.SourceVersion, p.PURL, p.Licenses[0]}, " "))
	}
	want := []string{
		"bash 5.1.8-6.el9   pkg:rpm/bash@5.1.8-6.el9?arch=x86_64 GPLv3+",
		"openssl-libs 1:3.0.7-24.el9 openssl  pkg:rpm/openssl-libs@3.0.7-24.el9?arch=x86_64&epoch=1 GPLv3+",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, o := range []string{"/usr/bin/bash", "/etc/bash.conf", "/usr/bin/openssl-libs"} {
		if !slices.Contains(res.Owned, o) {
			t.Errorf("%s not owned: %v", o, res.Owned)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(a.TempDir, "*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestMalformedDatabases(t *testing.T) {
	a := rpm.Analyzer{TempDir: t.TempDir()}
	for _, p := range []string{"/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db", "/var/lib/rpm/rpmdb.sqlite"} {
		for _, b := range [][]byte{nil, []byte("not a database"), bytes.Repeat([]byte{0xff}, 8192)} {
			if _, err := a.Analyze(context.Background(), &catalog.File{Path: p, Content: bytes.NewReader(b)}); err == nil {
				t.Errorf("%s with %d garbage bytes: no error", p, len(b))
			}
		}
	}
	if (rpm.Analyzer{}).Wants("/var/lib/rpm/Name", 0o644, 10) || (rpm.Analyzer{}).Wants("/tmp/var/lib/rpm/Packages", 0o644, 10) {
		t.Error("wants a file that is no package database")
	}
}

func TestParseHeaderBounds(t *testing.T) {
	good := pkgHeader("a", "1", "1", 0, "a-1-1.src.rpm")
	for name, b := range map[string][]byte{
		"short":        good[:6],
		"truncated":    good[:len(good)-3],
		"huge count":   append([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1}, good[8:]...),
		"offset past":  encodeBadOffset(),
		"wrong type":   encode(entry{1000, 4, []int32{1}}),
		"string count": encode(entry{1117, 8, []string{"x"}}, entry{1118, 8, []string{}})[:0],
	} {
		if _, err := rpm.ParseHeader(b); !errors.Is(err, rpm.ErrBadHeader) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	h, err := rpm.ParseHeader(good)
	if err != nil || h.Name != "a" || len(h.BaseNames) != 2 {
		t.Errorf("good header: %+v %v", h, err)
	}
}

func encodeBadOffset() []byte {
	b := encode(entry{1000, 6, "name"})
	binary.BigEndian.PutUint32(b[8+8:], 1000)
	return b
}

func FuzzParseHeader(f *testing.F) {
	f.Add(pkgHeader("bash", "5.1.8", "6.el9", 1, "bash-5.1.8-6.el9.src.rpm"))
	f.Add(encode(entry{1117, 8, []string{"a", "b"}}, entry{1116, 4, []int32{5, -1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := rpm.ParseHeader(b)
		if err == nil && h == nil {
			t.Fatal("nil header without error")
		}
	})
}

// TestRealDatabases reads a SQLite database written by rpm itself and a
// BerkeleyDB hash database holding the same header (see testdata/README.md).
func TestRealDatabases(t *testing.T) {
	for _, name := range []string{"rpmdb.sqlite", "Packages"} {
		t.Run(name, func(t *testing.T) { checkHello(t, name) })
	}
}

func checkHello(t *testing.T, name string) {
	db, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := rpm.Analyzer{TempDir: t.TempDir()}.Analyze(context.Background(), &catalog.File{Path: "/var/lib/rpm/" + name, Content: bytes.NewReader(db)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Packages) != 1 {
		t.Fatalf("%d packages", len(res.Packages))
	}
	p := res.Packages[0]
	if p.Name != "moat-hello" || p.Version != "2:1.2.3-4.fixture" || p.SourceName != "" || p.SourceVersion != "" ||
		!slices.Equal(p.Licenses, []string{"MIT AND Apache-2.0"}) || p.PURL != "pkg:rpm/moat-hello@1.2.3-4.fixture?arch=noarch&epoch=2" {
		t.Errorf("package %+v", p)
	}
	for _, o := range []string{"/usr/share/moat-hello/hello.txt", "/etc/moat-hello.conf"} {
		if !slices.Contains(res.Owned, o) {
			t.Errorf("%s not owned: %v", o, res.Owned)
		}
	}
}
