package vulndb

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

func rich() *osv.Advisory {
	return &osv.Advisory{
		ID: "GHSA-1", Aliases: []string{"CVE-1", "PYSEC-1"}, Related: []string{"CVE-2"},
		Summary: "s", Details: "d é", Published: time.Date(2021, 12, 10, 0, 40, 56, 0, time.UTC),
		Severity:         []osv.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"}},
		DatabaseSeverity: "HIGH",
		Affected: []osv.Affected{{
			Ecosystem: "Maven", Name: "g:a", PURL: "pkg:maven/g/a",
			Ranges: []osv.Range{
				{Type: "ECOSYSTEM", Events: []osv.Event{{Introduced: "0"}, {Fixed: "2.3.1"}, {LastAffected: "3"}, {Limit: "4"}}},
				{Type: "GIT", Repo: "https://x", Events: []osv.Event{{Introduced: "abc"}}},
			},
			Versions: []string{"1.0", "1.1"}, Severity: []osv.Severity{{Type: "CVSS_V4", Score: "v"}}, Rating: "CVSS:3.0/x",
		}, {Ecosystem: "npm", Name: "b"}},
		References: []osv.Reference{{Type: "WEB", URL: "https://y"}},
		Source:     "ghsa",
	}
}

func TestRecordRoundTrip(t *testing.T) {
	advs := []*osv.Advisory{rich(), {ID: "EMPTY"}}
	files, _ := filepath.Glob("testdata/feed/osv/*/*.json")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if a, err := osv.Parse(b); err == nil {
			advs = append(advs, a)
		}
	}
	for _, a := range advs {
		got, err := decodeRecord(encodeRecord(a))
		if err != nil {
			t.Fatalf("%s: %v", a.ID, err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", a.ID, got, a)
		}
	}
}

func TestRecordCorrupt(t *testing.T) {
	b := encodeRecord(rich())
	for name, in := range map[string][]byte{
		"empty":     nil,
		"magic":     append([]byte{0}, b[1:]...),
		"truncated": b[:len(b)/2],
		"trailing":  append(append([]byte{}, b...), 0),
		"huge":      {recordMagic, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, err := decodeRecord(in); !errors.Is(err, errRecord) {
			t.Errorf("%s: err = %v, want errRecord", name, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(rich()))
	f.Add(encodeRecord(&osv.Advisory{ID: "X"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errRecord) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		// What decodes re-encodes to a record that decodes the same.
		again, err := decodeRecord(encodeRecord(a))
		if err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

// TestCVEKeyCanonicalOnly: only the canonical spelling of a CVE id gets a
// table key, so a zero-padded alias cannot overwrite the real record.
func TestCVEKeyCanonicalOnly(t *testing.T) {
	for id, want := range map[string]bool{
		"CVE-2021-44228": true, "CVE-2021-0001": true, "CVE-2024-1234567": true,
		"CVE-2021-044228": false, "CVE-2021-001": false, "CVE-02021-44228": false,
		"CVE-2021-": false, "CVE--1234": false, "CVE-2021-+123": false, "cve-2021-44228": false,
	} {
		if _, _, ok := cveKey(id); ok != want {
			t.Errorf("cveKey(%q) ok = %v, want %v", id, ok, want)
		}
	}
	m := map[string]EPSS{}
	if _, err := ParseEPSS(strings.NewReader("CVE-2021-044228;0.5;0.5\nCVE-2021-44228;0.9;1\n"), m); err != nil {
		t.Fatal(err)
	}
	tab, err := decodeEPSS(encodeEPSS(m))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tab.lookup("CVE-2021-44228"); !ok || got.Score != 0.9 {
		t.Errorf("CVE-2021-44228 = %v %v, want score 0.9", got, ok)
	}
}
