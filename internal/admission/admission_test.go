package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/events"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/imagefacts"
	"github.com/moat-dev/moat/internal/registry"
)

const host = "registry.example.com"

// fakeFacts answers from a map keyed by "repo:ref" and counts reads.
type fakeFacts struct {
	m     map[string]imagefacts.Facts
	err   error
	reads atomic.Int64
}

func (f *fakeFacts) Facts(_ context.Context, repo, ref, _ string) (imagefacts.Facts, error) {
	f.reads.Add(1)
	if f.err != nil {
		return imagefacts.Facts{}, f.err
	}
	v, ok := f.m[repo+":"+ref]
	if !ok {
		return imagefacts.Facts{}, registry.ErrManifestUnknown
	}
	return v, nil
}

func critical(n int) imagefacts.Facts {
	f := imagefacts.Facts{Repository: "prod/vuln", Digest: "sha256:" + strings.Repeat("a", 64), Scan: findings.Complete,
		Findings: imagefacts.Findings{Critical: n}}
	for i := range n {
		f.Findings.IDs = append(f.Findings.IDs, fmt.Sprintf("CVE-2024-%04d", i))
	}
	return f
}

var clean = imagefacts.Facts{Repository: "prod/clean", Digest: "sha256:" + strings.Repeat("b", 64), Scan: findings.Complete, Signed: true}

func newFacts() *fakeFacts {
	return &fakeFacts{m: map[string]imagefacts.Facts{"prod/vuln:1": critical(12), "prod/clean:1": clean, "prod/clean:" + clean.Digest: clean}}
}

var testRules = []config.AdmissionRule{
	{Name: "no-critical", Expression: `image.scan.status == "COMPLETE" && image.findings.critical == 0`, Namespaces: []string{"prod-*"}},
	{Name: "no-critical-audit", Expression: `image.findings.critical == 0`, Mode: "audit", Namespaces: []string{"staging"}},
	{Name: "signed", Expression: `image.signed`, Mode: "audit", ExcludeNamespaces: []string{"kube-system"}},
}

func newService(t *testing.T, f Facts, cfg config.Admission) *Service {
	t.Helper()
	s, err := New(f, cfg, []string{host})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		rule config.AdmissionRule
		want string
	}{
		{config.AdmissionRule{Name: "typo", Expression: "image.signd"}, "undefined field 'signd'"},
		{config.AdmissionRule{Name: "int", Expression: "image.ageDays"}, "want bool"},
		{config.AdmissionRule{Name: "syntax", Expression: "image.signed &&"}, "Syntax error"},
		{config.AdmissionRule{Name: "mode", Expression: "true", Mode: "warn"}, `mode "warn"`},
		{config.AdmissionRule{Name: "onerror", Expression: "true", OnError: "ignore"}, `onError "ignore"`},
		{config.AdmissionRule{Expression: "true"}, "name is empty"},
		{config.AdmissionRule{Name: "empty"}, "expression is empty"},
	} {
		if _, err := Compile("rules", []config.AdmissionRule{tc.rule}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.rule.Name, err, tc.want)
		}
	}
	dup := []config.AdmissionRule{{Name: "a", Expression: "true"}, {Name: "a", Expression: "false"}}
	if _, err := Compile("rules", dup); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate names: %v", err)
	}
	// Every fact the rules document is there.
	all := `image.digest != "" && image.repository != "" && image.host != "" && size(image.tags) >= 0 && image.signed &&
		size(image.signers) >= 0 && image.trustPolicy != "" && image.scan.status == "COMPLETE" && image.scan.reason == "" &&
		image.findings.critical + image.findings.high + image.findings.medium + image.findings.low + image.findings.unknown == 0 &&
		image.findings.kev == 0 && image.findings.fixable == 0 && !("CVE-1" in image.findings.ids) && !image.eol &&
		image.ageDays < 90 && image.pushedBy != "" && image.inUseCount >= 0`
	rs, err := Compile("rules", []config.AdmissionRule{{Name: "all", Expression: all}})
	if err != nil {
		t.Fatal(err)
	}
	img := ImageOf(imagefacts.Facts{Digest: "sha256:x", Repository: "a", Host: "h", Signed: true, TrustPolicy: "moat",
		Scan: findings.Complete, PushedBy: "robot:ci", PushedAt: time.Now()}, time.Now())
	img.Host = "h"
	if ok, err := rs[0].Eval(img); !ok || err != nil {
		t.Errorf("all facts: %v %v", ok, err)
	}
}

func TestParseImage(t *testing.T) {
	for _, tc := range []struct{ in, host, repo, ref, err string }{
		{in: "nginx", host: "docker.io", repo: "library/nginx", ref: "latest"},
		{in: "nginx:1.27", host: "docker.io", repo: "library/nginx", ref: "1.27"},
		{in: "bitnami/redis", host: "docker.io", repo: "bitnami/redis", ref: "latest"},
		{in: "Registry.Example.com/prod/app:1", host: "registry.example.com", repo: "prod/app", ref: "1"},
		{in: "localhost:5000/a/b", host: "localhost:5000", repo: "a/b", ref: "latest"},
		{in: "localhost/a", host: "localhost", repo: "a", ref: "latest"},
		{in: "[::1]:5000/a:v1", host: "[::1]:5000", repo: "a", ref: "v1"},
		{in: "h.io/a:v1@sha256:" + strings.Repeat("c", 64), host: "h.io", repo: "a", ref: "sha256:" + strings.Repeat("c", 64)},
		{in: "", err: "empty"},
		{in: " nginx", err: "white space"},
		{in: "h.io/App:1", err: "h.io/App:1"},
		{in: "h.io/a@sha256:abc", err: "h.io/a@sha256:abc"},
		{in: "h.io:0/a", err: "port"},
		{in: "h.io:99999/a", err: "port"},
		{in: "h.io:/a", err: "empty port"},
		{in: "[::1/a", err: "IPv6"},
		{in: "h_x.io/a", err: "not allowed"},
		{in: "h.io/a:", err: "h.io/a:"},
		{in: "h.io//a", err: "h.io//a"},
		{in: strings.Repeat("a", 5000), err: "bytes long"},
	} {
		r, err := ParseImage(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %+v %v, want error with %q", tc.in, r, err, tc.err)
			}
			continue
		}
		if err != nil || r.Host != tc.host || r.Repository != tc.repo || r.Ref() != tc.ref {
			t.Errorf("%q: %+v %v", tc.in, r, err)
		}
	}
	h := NewHosts("Registry.example.com", "10.0.0.1:5000")
	for in, want := range map[string]bool{"registry.example.com": true, "registry.example.com:443": true, "REGISTRY.EXAMPLE.COM": true,
		"10.0.0.1:5000": true, "10.0.0.1": false, "registry.example.com:5000": false, "example.com": false} {
		if h.Has(in) != want {
			t.Errorf("Has(%q) = %v", in, !want)
		}
	}
}

func TestDecide(t *testing.T) {
	f := newFacts()
	s := newService(t, f, config.Admission{Rules: testRules})
	ctx := context.Background()

	d := s.Decide(ctx, Request{Namespace: "prod-eu", Containers: []Container{{Name: "app", Image: host + "/prod/vuln:1"}}})
	if d.Allowed || len(d.Denials) != 1 {
		t.Fatalf("critical image in prod: %+v", d)
	}
	msg := d.Denials[0]
	for _, want := range []string{host + "/prod/vuln:1", "sha256:aaaaaaaaaaa", "rule no-critical", "12 critical",
		"CVE-2024-0000", "CVE-2024-0009", "and 2 more"} {
		if !strings.Contains(msg, want) {
			t.Errorf("denial lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "CVE-2024-0010") {
		t.Errorf("denial lists more than 10 ids: %s", msg)
	}

	// Audit mode admits with a warning; the enforce rule does not apply.
	d = s.Decide(ctx, Request{Namespace: "staging", Containers: []Container{{Image: host + "/prod/vuln:1"}}})
	if !d.Allowed || len(d.Warnings) != 2 || !strings.Contains(d.Warnings[0], "no-critical-audit") {
		t.Fatalf("audit: %+v", d)
	}
	// A signed clean image passes everything, by tag or digest; an
	// excluded namespace skips the audit rule.
	for _, img := range []string{host + "/prod/clean:1", host + "/prod/clean@" + clean.Digest} {
		if d := s.Decide(ctx, Request{Namespace: "prod-us", Containers: []Container{{Image: img}}}); !d.Allowed || len(d.Warnings) != 0 {
			t.Errorf("%s: %+v", img, d)
		}
	}
	if d := s.Decide(ctx, Request{Namespace: "kube-system", Containers: []Container{{Image: host + "/prod/vuln:1"}}}); !d.Allowed || len(d.Warnings) != 0 {
		t.Errorf("kube-system: %+v", d)
	}
	// Images of other registries and bad references.
	d = s.Decide(ctx, Request{Namespace: "prod-eu", Containers: []Container{{Image: "nginx"}, {Image: "bad image"}, {Image: host + "/prod/missing:1"}}})
	if d.Allowed || len(d.Denials) != 3 || !strings.Contains(d.Denials[0], "not this registry") ||
		!strings.Contains(d.Denials[1], "invalid image reference") || !strings.Contains(d.Denials[2], "not in this registry") {
		t.Errorf("bad images: %+v", d.Denials)
	}
	allow := newService(t, f, config.Admission{Rules: testRules, OtherRegistries: config.OtherRegistries{Hosts: []string{"mirror.example.com"}}})
	if d := allow.Decide(ctx, Request{Containers: []Container{{Image: "mirror.example.com/x:1"}}}); !d.Allowed {
		t.Errorf("allowed host: %+v", d)
	}
	if d := allow.Decide(ctx, Request{Containers: []Container{{Image: "docker.io/x:1"}}}); d.Allowed || !strings.Contains(d.Denials[0], "neither") {
		t.Errorf("host not allowed: %+v", d)
	}
}

func TestDecideErrors(t *testing.T) {
	f := newFacts()
	f.err = errors.New("database is down")
	rules := []config.AdmissionRule{{Name: "strict", Expression: "image.signed"}}
	s := newService(t, f, config.Admission{Rules: rules})
	ctx := context.Background()
	// Facts that cannot be read never allow, unless the rule says so.
	d := s.Decide(ctx, Request{Containers: []Container{{Image: host + "/prod/clean:1"}}})
	if d.Allowed || !strings.Contains(d.Denials[0], "cannot be judged") || !strings.Contains(d.Denials[0], "database is down") {
		t.Fatalf("facts unreadable: %+v", d)
	}
	rules[0].OnError = config.OnErrorAllow
	s = newService(t, f, config.Admission{Rules: rules})
	d = s.Decide(ctx, Request{Containers: []Container{{Image: host + "/prod/clean:1"}}})
	if !d.Allowed || len(d.Warnings) != 1 || !strings.Contains(d.Warnings[0], "onError: allow") {
		t.Fatalf("onError allow: %+v", d)
	}
	// An expression that fails at run time is an error too, not a pass.
	s = newService(t, newFacts(), config.Admission{Rules: []config.AdmissionRule{{Name: "idx", Expression: `image.tags[3] == "x"`}}})
	if d := s.Decide(ctx, Request{Containers: []Container{{Image: host + "/prod/clean:1"}}}); d.Allowed {
		t.Fatalf("run-time error allowed: %+v", d)
	}
}

func TestDecideOncePerImageAndCache(t *testing.T) {
	f := newFacts()
	s := newService(t, f, config.Admission{Rules: testRules})
	ctx := context.Background()
	// 10,000 containers of one image: one read.
	var cs []Container
	for i := range 10000 {
		cs = append(cs, Container{Name: fmt.Sprint("c", i), Image: host + "/prod/clean:1"})
	}
	if d := s.Decide(ctx, Request{Namespace: "prod-a", Containers: cs}); !d.Allowed || len(d.Images) != 1 {
		t.Fatalf("10k containers: %+v", d.Images)
	}
	if n := f.reads.Load(); n != 1 {
		t.Fatalf("%d reads for one image", n)
	}
	s.Decide(ctx, Request{Namespace: "prod-a", Containers: cs[:1]})
	if n := f.reads.Load(); n != 1 {
		t.Fatalf("warm decision read facts again (%d reads)", n)
	}
	// A scan of the image drops its facts; so does a move of its tag.
	s.invalidate(events.Event{Type: events.ScanCompleted, Subject: "prod/clean@" + clean.Digest})
	s.Decide(ctx, Request{Namespace: "prod-a", Containers: cs[:1]})
	if n := f.reads.Load(); n != 2 {
		t.Fatalf("after a scan event: %d reads", n)
	}
	data, _ := json.Marshal(events.ImageData{Repository: "prod/clean", Digest: "sha256:" + strings.Repeat("d", 64), Tag: "1"})
	s.invalidate(events.Event{Type: events.ImagePushed, Subject: "prod/clean@sha256:" + strings.Repeat("d", 64), Data: data})
	s.Decide(ctx, Request{Namespace: "prod-a", Containers: cs[:1]})
	if n := f.reads.Load(); n != 3 {
		t.Fatalf("after a tag move: %d reads", n)
	}
	// Too many distinct images: refused with the reason.
	cs = cs[:0]
	for i := range maxImages + 1 {
		cs = append(cs, Container{Image: fmt.Sprintf("%s/prod/app%d:1", host, i)})
	}
	if d := s.Decide(ctx, Request{Containers: cs}); d.Allowed || !strings.Contains(d.Denials[0], "distinct images") {
		t.Fatalf("too many images: %+v", d.Denials)
	}
}

func review(t *testing.T, kind metav1.GroupVersionKind, op admissionv1.Operation, obj string) *admissionv1.AdmissionRequest {
	t.Helper()
	return &admissionv1.AdmissionRequest{UID: "u-1", Kind: kind, Operation: op, Namespace: "prod-eu", Object: runtimeRaw(obj)}
}

func TestReviewKinds(t *testing.T) {
	s := newService(t, newFacts(), config.Admission{Rules: testRules})
	ctx := context.Background()
	spec := `{"containers":[{"name":"a","image":"` + host + `/prod/clean:1"}],"initContainers":[{"name":"i","image":"` + host + `/prod/vuln:1"}]}`
	tmpl := `{"template":{"spec":` + spec + `}}`
	for _, tc := range []struct {
		group, kind, obj string
	}{
		{"", "Pod", `{"metadata":{"name":"p"},"spec":` + spec + `}`},
		{"apps", "Deployment", `{"spec":` + tmpl + `}`},
		{"apps", "ReplicaSet", `{"spec":` + tmpl + `}`},
		{"apps", "StatefulSet", `{"spec":` + tmpl + `}`},
		{"apps", "DaemonSet", `{"spec":` + tmpl + `}`},
		{"batch", "Job", `{"spec":` + tmpl + `}`},
		{"batch", "CronJob", `{"spec":{"schedule":"* * * * *","jobTemplate":{"spec":` + tmpl + `}}}`},
	} {
		req := review(t, metav1.GroupVersionKind{Group: tc.group, Version: "v1", Kind: tc.kind}, admissionv1.Create, tc.obj)
		resp := s.Review(ctx, req, nil)
		if resp.Allowed || resp.UID != "u-1" || !strings.Contains(resp.Result.Message, "prod/vuln:1") {
			t.Errorf("%s with a critical init container: %+v", tc.kind, resp)
		}
	}
	// Ephemeral containers count.
	req := review(t, metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, admissionv1.Update,
		`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"`+host+`/prod/clean:1"}],"ephemeralContainers":[{"name":"dbg","image":"busybox"}]}}`)
	if resp := s.Review(ctx, req, nil); resp.Allowed || !strings.Contains(resp.Result.Message, "busybox") {
		t.Errorf("ephemeral container of another registry: %+v", resp)
	}
	// Unknown kinds: allowed, with a warning saying so.
	resp := s.Review(ctx, review(t, metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, admissionv1.Create, `{}`), nil)
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "v1/ConfigMap") {
		t.Errorf("unknown kind: %+v", resp)
	}
	// Deletions start nothing.
	if resp := s.Review(ctx, &admissionv1.AdmissionRequest{UID: "u", Operation: admissionv1.Delete, Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}}, nil); !resp.Allowed {
		t.Errorf("delete: %+v", resp)
	}
	// A malformed object is refused with the reason.
	resp = s.Review(ctx, review(t, metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, admissionv1.Create, `{"spec":{"containers":"x"}}`), nil)
	if resp.Allowed || !strings.Contains(resp.Result.Message, "Pod object") {
		t.Errorf("malformed pod: %+v", resp)
	}
	// Admitted pods are reported, dry runs not.
	var admitted []Pod
	rec := func(_ context.Context, p Pod, _ []Container, _ []ImageDecision) { admitted = append(admitted, p) }
	ok := `{"metadata":{"name":"web-7d9f-x","labels":{"pod-template-hash":"7d9f"},"ownerReferences":[{"kind":"ReplicaSet","name":"web-7d9f","controller":true}]},"spec":{"containers":[{"name":"a","image":"` + host + `/prod/clean:1"}]}}`
	req = review(t, metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, admissionv1.Create, ok)
	if resp := s.Review(ctx, req, rec); !resp.Allowed {
		t.Fatalf("clean pod: %+v", resp)
	}
	dry := true
	req.DryRun = &dry
	s.Review(ctx, req, rec)
	if len(admitted) != 1 || admitted[0].OwnerKind != "Deployment" || admitted[0].OwnerName != "web" || admitted[0].Name != "web-7d9f-x" {
		t.Errorf("admitted: %+v", admitted)
	}
}

func TestHandler(t *testing.T) {
	s := newService(t, newFacts(), config.Admission{Rules: testRules})
	srv := httptest.NewServer(Handler(s, nil, discardLogger()))
	defer srv.Close()
	post := func(body []byte) (*http.Response, string) {
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.String()
	}
	for body, want := range map[string]string{
		`not json`: "bad AdmissionReview",
		`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x"}}`: "want admission.k8s.io/v1",
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`:                            "no request",
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`:               "no uid",
	} {
		if resp, out := post([]byte(body)); resp.StatusCode != 400 || !strings.Contains(out, want) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, out)
		}
	}
	if resp, _ := post(bytes.Repeat([]byte("x"), maxReviewBytes+1)); resp.StatusCode != 413 {
		t.Errorf("huge body: %d", resp.StatusCode)
	}
	if resp, err := http.Get(srv.URL); err != nil || resp.StatusCode != 405 {
		t.Errorf("GET: %v %v", resp, err)
	}
	in := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: review(t, metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, admissionv1.Create,
			`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"`+host+`/prod/vuln:1"}]}}`)}
	b, _ := json.Marshal(in)
	resp, out := post(b)
	var got admissionv1.AdmissionReview
	if err := json.Unmarshal([]byte(out), &got); err != nil || resp.StatusCode != 200 || got.APIVersion != "admission.k8s.io/v1" ||
		got.Kind != "AdmissionReview" || got.Response == nil || got.Response.UID != "u-1" || got.Response.Allowed || got.Response.Result.Code != 403 {
		t.Fatalf("review: %d %s", resp.StatusCode, out)
	}
}

func runtimeRaw(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkReview is one warm decision of a pod of 8 containers running
// 3 distinct images, without HTTP.
func BenchmarkReview(b *testing.B) {
	s, err := New(newFacts(), config.Admission{Rules: testRules}, []string{host})
	if err != nil {
		b.Fatal(err)
	}
	var cs []string
	for i := range 8 {
		cs = append(cs, fmt.Sprintf(`{"name":"c%d","image":"%s/prod/%s"}`, i, host, []string{"clean:1", "vuln:1", "clean@" + clean.Digest}[i%3]))
	}
	body := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"staging","object":{"metadata":{"name":"p"},"spec":{"containers":[` + strings.Join(cs, ",") + `]}}}}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := DecodeReview(body)
		if err != nil {
			b.Fatal(err)
		}
		resp := s.Review(ctx, r.Request, nil)
		if !resp.Allowed {
			b.Fatal(resp.Result)
		}
		if _, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: r.TypeMeta, Response: resp}); err != nil {
			b.Fatal(err)
		}
	}
}
