package moatproc

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// API calls the management API as admin, fails the test unless the answer
// is 2xx, and decodes its JSON into out when out is not nil.
func (s *Server) API(t testing.TB, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.Admin.Username, s.Admin.Password)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, data)
		}
	}
}

// createRobot creates RobotName with robotPolicy.
func (s *Server) createRobot(t testing.TB) Credentials {
	t.Helper()
	var r struct{ Username, Secret string }
	s.API(t, "POST", "/api/v1/robots", map[string]string{"name": RobotName, "description": "the tests' client"}, &r)
	if r.Username != "robot+"+RobotName || !strings.HasPrefix(r.Secret, "moat_rbt_") {
		t.Fatalf("robot created as %q with secret %q", r.Username, r.Secret)
	}
	policy := RobotName + "-policy"
	s.API(t, "PUT", "/api/v1/policies/"+policy, map[string]any{"kind": "identity", "document": json.RawMessage(robotPolicy)}, nil)
	s.API(t, "PUT", "/api/v1/policies/"+policy+"/attachments/robot/"+RobotName, nil, nil)
	return Credentials{r.Username, r.Secret}
}

// Transport returns base, adding the robot's credentials as Basic auth to
// every request for this server that carries none, for test code that
// talks HTTP to /v2/ itself. Without a robot it returns base.
func (s *Server) Transport(base http.RoundTripper) http.RoundTripper {
	if s.Robot == (Credentials{}) {
		return base
	}
	return &basicAuth{base: base, host: s.Addr, creds: s.Robot}
}

type basicAuth struct {
	base  http.RoundTripper
	host  string
	creds Credentials
}

func (b *basicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != b.host || req.Header.Get("Authorization") != "" {
		return b.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.SetBasicAuth(b.creds.Username, b.creds.Password)
	return b.base.RoundTrip(req)
}
