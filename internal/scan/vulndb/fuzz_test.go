package vulndb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
)

func FuzzParseEPSS(f *testing.F) {
	b, err := os.ReadFile("testdata/feed/epss/CVE_EPSS.csv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("#model_version:v2025\ncve,epss,percentile\nCVE-2021-44228,0.9,1.0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := map[string]EPSS{}
		if _, err := ParseEPSS(bytes.NewReader(b), m); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("unclassified error %v", err)
		}
		// Whatever parsed must survive the on-disk table.
		tab, err := decodeEPSS(encodeEPSS(m))
		if err != nil {
			t.Fatal(err)
		}
		for cve, want := range m {
			y, n, ok := cveKey(cve)
			if !ok || fmt.Sprintf("CVE-%d-%04d", y, n) != cve {
				continue // only canonical spellings are looked up
			}
			if got, ok := tab.lookup(cve); !ok || got != want {
				t.Fatalf("%s: table gives %v %v, want %v", cve, got, ok, want)
			}
		}
	})
}

func FuzzParseKEV(f *testing.F) {
	b, err := os.ReadFile("testdata/feed/kev/known_exploited_vulnerabilities.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseKEV(bytes.NewReader(b)); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

func FuzzParseEOL(f *testing.F) {
	b, err := os.ReadFile("testdata/feed/eol/debian.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseEOL(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		for _, r := range p.Releases {
			r.EndOfLife(true)
		}
	})
}
