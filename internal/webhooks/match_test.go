package webhooks

import (
	"net/http"
	"testing"
	"time"
)

func TestWildcard(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "anything/at/all", true},
		{"team-a/*", "team-a/app", true},
		{"team-a/*", "team-a/sub/app", true},
		{"team-a/*", "team-ab/app", false},
		{"team-a/*", "team-a", false},
		{"*/app", "team-a/app", true},
		{"*/app", "team-a/app2", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"**", "", true},
		{"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	} {
		if got := wildcard(tc.p, tc.s); got != tc.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

func TestFilters(t *testing.T) {
	types := []struct {
		filters []string
		typ     string
		want    bool
	}{
		{nil, "dev.moat.image.pushed", true},
		{[]string{"*"}, "dev.moat.image.pushed", true},
		{[]string{"dev.moat.finding.*"}, "dev.moat.finding.new", true},
		{[]string{"dev.moat.finding.*"}, "dev.moat.findings.new", false},
		{[]string{"dev.moat.finding.*"}, "dev.moat.image.pushed", false},
		{[]string{"dev.moat.image.pushed", "dev.moat.scan.*"}, "dev.moat.scan.failed", true},
		{[]string{"dev.moat.image.pushed"}, "dev.moat.image.pushed.v2", false},
	}
	for _, tc := range types {
		if got := wantsType(tc.filters, tc.typ); got != tc.want {
			t.Errorf("wantsType(%q, %q) = %v", tc.filters, tc.typ, got)
		}
	}
	if !wantsRepository(nil, "") || wantsRepository([]string{"*"}, "") || !wantsRepository([]string{"x", "team-a/*"}, "team-a/app") {
		t.Error("repository filters: an event without a repository passes only an empty filter list")
	}
}

func TestValidate(t *testing.T) {
	ok := Webhook{Name: "ci.hook-1", URL: "https://hooks.example/x?token=1", Secret: "0123456789abcdef",
		Events: []string{"dev.moat.finding.*", "*", "dev.moat.image.pushed"}, Repositories: []string{"team-a/*", "*"}}
	if err := ok.validate(); err != nil {
		t.Fatalf("valid webhook refused: %v", err)
	}
	for name, change := range map[string]func(w *Webhook){
		"uppercase name":     func(w *Webhook) { w.Name = "Hook" },
		"empty name":         func(w *Webhook) { w.Name = "" },
		"trailing dash":      func(w *Webhook) { w.Name = "hook-" },
		"ftp url":            func(w *Webhook) { w.URL = "ftp://hooks.example/x" },
		"file url":           func(w *Webhook) { w.URL = "file:///etc/passwd" },
		"relative url":       func(w *Webhook) { w.URL = "/hooks" },
		"userinfo":           func(w *Webhook) { w.URL = "https://user:pw@hooks.example/" },
		"no host":            func(w *Webhook) { w.URL = "http://:80/" },
		"short secret":       func(w *Webhook) { w.Secret = "short" },
		"inner wildcard":     func(w *Webhook) { w.Events = []string{"dev.*.pushed"} },
		"space in type":      func(w *Webhook) { w.Events = []string{"dev moat"} },
		"uppercase repo":     func(w *Webhook) { w.Repositories = []string{"Team-A/*"} },
		"empty repo filter":  func(w *Webhook) { w.Repositories = []string{""} },
		"empty event filter": func(w *Webhook) { w.Events = []string{""} },
	} {
		w := ok
		change(&w)
		if err := w.validate(); err == nil {
			t.Errorf("%s: %+v accepted", name, w)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":           0,
		"7":          7 * time.Second,
		"-1":         0,
		"soon":       0,
		"9999999999": maxRetryAfter,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

// FuzzRetryAfter: whatever a receiver sends, the wait is within bounds.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "120", "-5", "1e9", "99999999999999999999", now.Format(http.TimeFormat), "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if d := retryAfter(h, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("retryAfter(%q) = %v", h, d)
		}
	})
}
