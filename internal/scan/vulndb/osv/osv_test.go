package osv

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseReal(t *testing.T) {
	b, err := os.ReadFile("../testdata/feed/osv/Go/GO-2021-0052.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "GO-2021-0052" || len(a.Aliases) != 2 || !a.Modified.IsZero() || a.Published.IsZero() {
		t.Errorf("parsed %+v", a)
	}
	if len(a.Affected) != 1 || a.Affected[0].Ecosystem != "Go" || a.Affected[0].Ranges[0].Type != RangeSemver {
		t.Fatalf("affected %+v", a.Affected)
	}
	ev := a.Affected[0].Ranges[0].Events
	if ev[0].Introduced != "0" || ev[len(ev)-1].Fixed != "1.7.7" {
		t.Errorf("events %+v", ev)
	}
	if got := a.Keys(); len(got) != 1 || got[0] != [2]string{"Go", "github.com/gin-gonic/gin"} {
		t.Errorf("keys %v", got)
	}
}

func TestParseRatings(t *testing.T) {
	doc := `{"id":"RUSTSEC-1","database_specific":{"severity":"moderate"},
	  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
	  "affected":[{"package":{"ecosystem":"crates.io","name":"x"},"database_specific":{"cvss":"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"},
	    "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"last_affected":"1.2.3"},{"limit":"2.0.0"}]}]},
	    {"package":{"ecosystem":"","name":""},"ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"abc"}]}]}],
	  "details":"` + strings.Repeat("é", MaxDetails) + `"}`
	a, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if a.DatabaseSeverity != "MODERATE" || len(a.Severity) != 1 {
		t.Errorf("severity %q %v", a.DatabaseSeverity, a.Severity)
	}
	if len(a.Affected) != 1 || !strings.HasPrefix(a.Affected[0].Rating, "CVSS:3.0/") {
		t.Errorf("affected %+v (nameless entries must be skipped)", a.Affected)
	}
	ev := a.Affected[0].Ranges[0].Events
	if ev[1].LastAffected != "1.2.3" || ev[2].Limit != "2.0.0" {
		t.Errorf("events %+v", ev)
	}
	if len(a.Details) > MaxDetails+len("…") || !strings.HasSuffix(a.Details, "…") {
		t.Errorf("details not capped: %d bytes", len(a.Details))
	}
}

func TestParseInvalid(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":       `{"id":`,
		"no id":          `{"affected":[]}`,
		"unknown event":  `{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"fixd":"1"}]}]}]}`,
		"two keys":       `{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`,
		"empty version":  `{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"fixed":""}]}]}]}`,
		"bad date":       `{"id":"X","modified":"yesterday"}`,
		"event not text": `{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"fixed":1}]}]}]}`,
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"../testdata/feed/osv/Go/GO-2020-0001.json", "../testdata/feed/osv/Go/GO-2022-0617.json", "../testdata/feed/osv/PyPI/PYSEC-2023-192.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["1"],"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"*"}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if a.ID == "" {
			t.Fatal("accepted a record without id")
		}
		for _, af := range a.Affected {
			if af.Ecosystem == "" || af.Name == "" {
				t.Fatal("kept an affected entry without a key")
			}
			for _, r := range af.Ranges {
				for _, e := range r.Events {
					if e.Introduced+e.Fixed+e.LastAffected+e.Limit == "" {
						t.Fatal("empty event")
					}
				}
			}
		}
	})
}
