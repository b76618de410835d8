package moatproc

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestFindTrouble(t *testing.T) {
	clean := "level=INFO msg=\"moat listening\"\nlevel=INFO msg=\"moat stopped\"\n"
	if got := findTrouble(clean); got != "" {
		t.Errorf("clean log: %q", got)
	}
	log := clean + "==================\nWARNING: DATA RACE\nWrite at 0x1 by goroutine 7:\n" + strings.Repeat("frame\n", 200) + "panic: boom\n"
	got := findTrouble(log)
	if !strings.HasPrefix(got, "WARNING: DATA RACE\n") || strings.Count(got, "\n") != 119 {
		t.Errorf("race report: starts %q, %d lines", got[:min(len(got), 30)], strings.Count(got, "\n")+1)
	}
	if got := findTrouble("ok\npanic: runtime error\ngoroutine 1\n"); got != "panic: runtime error\ngoroutine 1\n" {
		t.Errorf("panic: %q", got)
	}
}

func TestTail(t *testing.T) {
	if got := tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("tail 2 = %q", got)
	}
	if got := tail("a\n", 5); got != "a" {
		t.Errorf("tail of a short text = %q", got)
	}
	long := strings.Repeat("x", 10000)
	if got := Clip(long); len(got) >= len(long) || !strings.Contains(got, "\n...\n") {
		t.Errorf("Clip kept %d of %d bytes", len(got), len(long))
	}
}

// TestTransport: the robot's credentials go to the server and nowhere
// else, and never replace credentials a request carries.
func TestTransport(t *testing.T) {
	var seen []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
	}))
	defer ts.Close()
	u, _ := url.Parse(ts.URL)
	robot := Credentials{"robot+tester", "moat_rbt_secret"}
	s := &Server{Addr: u.Host, Robot: robot}
	c := &http.Client{Transport: s.Transport(http.DefaultTransport)}

	get := func(rawURL string, auth string) {
		t.Helper()
		req, _ := http.NewRequest("GET", rawURL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get(ts.URL+"/v2/", "")
	get(ts.URL+"/v2/", "Bearer token")
	// Another host (the same server under another name) gets nothing.
	get(strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)+"/v2/", "")

	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(robot.Username, robot.Password)
	want := []string{req.Header.Get("Authorization"), "Bearer token", ""}
	if len(seen) != 3 || seen[0] != want[0] || seen[1] != want[1] || seen[2] != want[2] {
		t.Errorf("Authorization headers %q, want %q", seen, want)
	}
	if (&Server{}).Transport(http.DefaultTransport) != http.DefaultTransport {
		t.Error("a server without a robot wrapped the transport")
	}
	if robot.Pair() != "robot+tester:moat_rbt_secret" {
		t.Errorf("Pair = %q", robot.Pair())
	}
}
