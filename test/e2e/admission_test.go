package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/kubeproc"
	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/moat-dev/moat/internal/testutil/testpki"
)

// place is what the inventory endpoints list.
type place struct {
	Cluster, Namespace, WorkloadKind, WorkloadName, Pod, Container, Image, Repository, Digest string
}

func placesOf(t *testing.T, s *moatproc.Server, path string) []place {
	t.Helper()
	var out struct{ Places []place }
	s.API(t, "GET", path, nil, &out)
	return out.Places
}

func hasPod(ps []place, namespace, pod string) bool {
	for _, p := range ps {
		if p.Namespace == namespace && p.Pod == pod {
			return true
		}
	}
	return false
}

// TestAdmission runs moat as the validating webhook of a real
// kube-apiserver: a Deployment of an image with critical findings is
// refused with the CVE list, a signed clean image is admitted, audit mode
// admits with a warning; admitted pods are in the inventory, which the
// pod lister reconciles when pods go; and an advisory import that gives a
// running image a new finding names the pod, in the event and in
// /vulnerabilities/{id}/running.
func TestAdmission(t *testing.T) {
	skopeo := moatproc.RequireTool(t, "skopeo")
	kc := kubeproc.Start(t)

	r := moatproc.NewRunner(t)
	bin := moatproc.Binary(t)
	vulndb := filepath.Join(t.TempDir(), "vulndb")
	// The npm advisories but minimist's, which comes while pods run:
	// handlebars' CVE-2021-23369 makes the fixture critical.
	npm := filepath.Join(t.TempDir(), "npm")
	copyDir(t, matchData+"/advisories/ghsa-subset/npm", npm)
	if err := os.Remove(filepath.Join(npm, "GHSA-xvch-5gv4-984h.json")); err != nil {
		t.Fatal(err)
	}
	r.Run(bin, "db", "import", "--db", vulndb, matchData+"/advisories/osv", matchData+"/advisories/debian",
		matchData+"/epss", matchData+"/eol", "testdata/kev", npm)

	ca := testpki.NewCA(t, "webhook CA")
	certFile, keyFile := testpki.WriteKeyPair(t, ca.IssueServer(t, "127.0.0.1"))
	webhookAddr := moatproc.FreeAddr(t)
	hooks := newReceiver(t)
	cfgFile := filepath.Join(t.TempDir(), "moat.yaml")
	writeFile(t, cfgFile, fmt.Sprintf(`version: 1
listeners:
  - name: webhook
    addr: %s
    tls: {certFile: %s, keyFile: %s}
scanning:
  rules:
    - repositories: ["*"]
      frequency: continuous
signing:
  rules:
    - repositories: ["prod/clean"]
admission:
  listeners: [webhook]
  cluster: e2e
  rules:
    - name: no-critical
      expression: 'image.scan.status == "COMPLETE" && image.findings.critical == 0'
      namespaces: ["prod"]
    - name: signed
      expression: 'image.signed'
      namespaces: ["prod"]
    - name: no-critical-audit
      expression: 'image.findings.critical == 0'
      mode: audit
      namespaces: ["staging"]
  inventory:
    kubeconfig: %s
    interval: 1s
webhooks:
  - name: receiver
    url: %s
    secret: %s
    events: ["dev.moat.finding.new"]
`, webhookAddr, certFile, keyFile, kc.Kubeconfig, hooks.srv.URL, hookSecret))
	s := moatproc.Start(t, moatproc.WithArgs("--config", cfgFile), moatproc.WithEnv("MOAT_SCANNING_DB="+vulndb))

	// A vulnerable image (the fixture: critical findings) and a clean one
	// the registry signs.
	layout := fixtureLayout(t)
	r.Run(skopeo, "copy", "--dest-tls-verify=false", "--dest-creds="+s.Robot.Pair(), "oci:"+layout+":fixture", "docker://"+s.Addr+"/prod/vuln:1")
	clean := filepath.Join(t.TempDir(), "clean")
	writeLayout(t, clean, "v1", newImage(t, seededRand(t, "admission"), linuxAMD64, 1, 4096))
	r.Run(skopeo, "copy", "--dest-tls-verify=false", "--dest-creds="+s.Robot.Pair(), "oci:"+clean+":v1", "docker://"+s.Addr+"/prod/clean:1")
	waitSigned(t, s, "prod/clean", "1", 10*time.Second)
	for _, repo := range []string{"prod/vuln", "prod/clean"} {
		waitFor(t, "the scan of "+repo, 30*time.Second, func() (bool, string) {
			res := scanOf(t, s, repo, "1", false)
			return res.Status == "COMPLETE", res.Status + " " + res.Reason
		})
	}
	if res := scanOf(t, s, "prod/vuln", "1", false); res.Summary["CRITICAL"] == 0 {
		t.Fatalf("the fixture has no critical finding: %v", res.Summary)
	}

	// The webhook, over TLS, for the namespaces labelled for it.
	for _, ns := range []string{"prod", "staging"} {
		kc.Kubectl(t, "create", "namespace", ns)
		kc.Kubectl(t, "label", "namespace", ns, "moat-e2e=on")
	}
	webhook := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: moat
webhooks:
  - name: images.moat.dev
    admissionReviewVersions: ["v1"]
    sideEffects: NoneOnDryRun
    failurePolicy: Fail
    timeoutSeconds: 5
    clientConfig:
      url: https://%s/admission/v1/validate
      caBundle: %s
    namespaceSelector:
      matchLabels: {moat-e2e: "on"}
    rules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["pods"]
      - apiGroups: ["apps"]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
      - apiGroups: ["batch"]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["jobs", "cronjobs"]
`, webhookAddr, base64.StdEncoding.EncodeToString(ca.PEM()))
	kc.Apply(t, webhook)

	deployment := func(ns, name, image string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: %s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers:
        - {name: app, image: %q}
`, name, ns, name, name, image)
	}
	vuln, signed := s.Addr+"/prod/vuln:1", s.Addr+"/prod/clean:1"

	// The API server takes a moment to load the webhook configuration.
	var denial string
	waitFor(t, "the webhook to refuse a critical image", 30*time.Second, func() (bool, string) {
		out, err := kc.TryApply(t, deployment("prod", "vuln", vuln))
		if err == nil {
			kc.Kubectl(t, "-n", "prod", "delete", "deployment", "vuln")
			return false, "admitted: " + out
		}
		denial = err.Error()
		return strings.Contains(denial, "denied the request"), denial
	})
	for _, want := range []string{`admission webhook "images.moat.dev" denied the request`, "prod/vuln:1", "rule no-critical",
		"1 critical", "CVE-2021-23369", "and ", "more", "rule signed", "not signed by a trusted identity"} {
		if !strings.Contains(denial, want) {
			t.Errorf("denial lacks %q:\n%s", want, denial)
		}
	}
	if out, err := kc.TryApply(t, deployment("prod", "clean", signed)); err != nil {
		t.Fatalf("a signed clean image was refused: %v %s", err, out)
	}
	// Audit mode admits with the warning.
	out, err := applyCombined(t, kc, deployment("staging", "vuln", vuln))
	if err != nil || !strings.Contains(out, "Warning") || !strings.Contains(out, "no-critical-audit") {
		t.Fatalf("audit mode: %v\n%s", err, out)
	}
	// Other registries are refused in every judged namespace.
	if _, err := kc.TryApply(t, deployment("staging", "hub", "nginx:1.27")); err == nil || !strings.Contains(err.Error(), "not this registry") {
		t.Errorf("an image of Docker Hub: %v", err)
	}
	// moat check gives the same verdicts from the command line.
	// (the robot may only push and pull: the admin asks)
	client := moatproc.NewRunner(t, "MOAT_USERNAME="+s.Admin.Username, "MOAT_PASSWORD="+s.Admin.Password)
	if out, err := client.Try(bin, "check", "--insecure", "-n", "prod", vuln); err == nil || !strings.Contains(err.Error(), "exit status 1") ||
		!strings.Contains(out, "refused") {
		t.Errorf("moat check of the vulnerable image: %v\n%s", err, out)
	}
	client.Run(bin, "check", "--insecure", "-n", "prod", signed)

	// Pods: the API server names them before the webhook sees them, and
	// the admitted ones are in the inventory at once.
	pod := func(name string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: staging}
spec:
  containers:
    - {name: app, image: %q}
`, name, vuln)
	}
	kc.Apply(t, pod("web-1"))
	kc.Apply(t, pod("web-2"))
	inv := placesOf(t, s, "/api/v1/inventory?namespace=staging")
	if !hasPod(inv, "staging", "web-1") || !hasPod(inv, "staging", "web-2") {
		t.Fatalf("inventory after admission: %+v", inv)
	}
	for _, p := range inv {
		if p.Repository != "prod/vuln" || !strings.HasPrefix(p.Digest, "sha256:") || p.Cluster != "e2e" {
			t.Errorf("inventory record %+v", p)
		}
	}
	// A deleted pod leaves once the lister has seen it gone.
	kc.Kubectl(t, "-n", "staging", "delete", "pod", "web-1", "--wait=false")
	waitFor(t, "the deleted pod to leave the inventory", 15*time.Second, func() (bool, string) {
		inv := placesOf(t, s, "/api/v1/inventory?namespace=staging")
		return !hasPod(inv, "staging", "web-1") && hasPod(inv, "staging", "web-2"), fmt.Sprintf("%+v", inv)
	})

	// New advisories: the running image gains a finding, and the event and
	// the running endpoint name web-2.
	r.Run(bin, "db", "import", "--db", vulndb, matchData+"/advisories/ghsa-subset/npm")
	took := waitFor(t, "finding.new naming the running pod", 60*time.Second, func() (bool, string) {
		evs := hooks.events("dev.moat.finding.new", func(d map[string]any) bool {
			f, _ := d["finding"].(map[string]any)
			running, _ := d["runningIn"].([]any)
			if f == nil || f["id"] != "CVE-2021-44906" || len(running) == 0 {
				return false
			}
			p, _ := running[0].(map[string]any)
			return p["pod"] == "web-2" && p["namespace"] == "staging" && p["cluster"] == "e2e"
		})
		return len(evs) > 0, fmt.Sprintf("%d finding.new events", len(hooks.events("dev.moat.finding.new", nil)))
	})
	t.Logf("finding.new naming the pod %s after the import", took.Round(time.Millisecond))
	running := placesOf(t, s, "/api/v1/vulnerabilities/CVE-2021-44906/running")
	if len(running) != 1 || running[0].Pod != "web-2" || running[0].Namespace != "staging" {
		t.Errorf("running: %+v", running)
	}
	var details struct {
		InUseCount  int
		LastInUseAt time.Time
	}
	s.API(t, "GET", "/api/v1/repositories/prod/vuln/manifests/1", nil, &details)
	if details.InUseCount != 1 || details.LastInUseAt.IsZero() {
		t.Errorf("image details: %+v", details)
	}

	// The reporter run from the command line, outside the cluster.
	client.Run(bin, "inventory", "report", "--once", "--insecure", "--registry", s.Addr, "--cluster", "e2e-cli", "--kubeconfig", kc.Kubeconfig)
	if cli := placesOf(t, s, "/api/v1/inventory?cluster=e2e-cli"); len(cli) != 1 || cli[0].Pod != "web-2" ||
		cli[0].Repository != "prod/vuln" || !strings.HasPrefix(cli[0].Digest, "sha256:") {
		t.Errorf("moat inventory report: %+v", cli)
	}
	// An ECS task state change, running and then stopped.
	task := map[string]any{"clusterArn": "arn:aws:ecs:eu-west-1:111122223333:cluster/prod", "taskArn": "arn:aws:ecs:eu-west-1:111122223333:task/prod/0123",
		"group": "service:api", "lastStatus": "RUNNING", "containers": []map[string]string{{"name": "api", "image": vuln}}}
	s.API(t, "POST", "/api/v1/inventory/ecs", task, nil)
	if ps := placesOf(t, s, "/api/v1/vulnerabilities/CVE-2021-44906/running"); len(ps) != 3 || !slices.ContainsFunc(ps, func(p place) bool {
		return p.Pod == task["taskArn"] && p.WorkloadKind == "service" && p.WorkloadName == "api" && strings.HasPrefix(p.Digest, "sha256:")
	}) {
		t.Errorf("running with the ECS task: %+v", ps)
	}
	task["lastStatus"] = "STOPPED"
	s.API(t, "POST", "/api/v1/inventory/ecs", task, nil)
	if ps := placesOf(t, s, "/api/v1/inventory?cluster="+url.QueryEscape(task["clusterArn"].(string))); len(ps) != 0 {
		t.Errorf("a stopped task stays: %+v", ps)
	}

	// Rules managed through the API apply at once; a bad one is refused.
	young := map[string]any{"rules": []map[string]any{{"name": "young", "expression": "image.ageDays < 0", "namespaces": []string{"staging"}}}}
	s.API(t, "PUT", "/api/v1/admission/rules", young, nil)
	if _, err := kc.TryApply(t, pod("web-3")); err == nil || !strings.Contains(err.Error(), "rule young") {
		t.Errorf("a rule added through the API: %v", err)
	}
	if code, body := adminCall(t, s, "PUT", "/api/v1/admission/rules", `{"rules":[{"name":"typo","expression":"image.signd"}]}`); code != 400 ||
		!strings.Contains(body, "undefined field 'signd'") {
		t.Errorf("a rule that does not compile: %d %s", code, body)
	}
	s.API(t, "PUT", "/api/v1/admission/rules", map[string]any{"rules": []any{}}, nil)
	kc.Apply(t, pod("web-3"))

	// Bad input on the webhook itself: a clear 400, nothing admitted.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM())
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := hc.Post("https://"+webhookAddr+"/admission/v1/validate", "application/json", bytes.NewReader([]byte(`{"kind":"AdmissionReview"`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("a malformed review: %d", resp.StatusCode)
	}
	// The webhook has no login: it answers on its listener only.
	if code, body := adminCall(t, s, "POST", "/admission/v1/validate", "{}"); code != 404 || !strings.Contains(body, "admission.listeners") {
		t.Errorf("the webhook on the registry's listener: %d %s", code, body)
	}
	// A pod of 10,000 containers of one image is judged once, quickly.
	var cs []string
	for i := range 10000 {
		cs = append(cs, fmt.Sprintf(`{"name":"c%d","image":%q}`, i, vuln))
	}
	big := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"big","kind":{"group":"","version":"v1","kind":"Pod"},` +
		`"operation":"CREATE","namespace":"prod","dryRun":true,"object":{"metadata":{"name":"big"},"spec":{"containers":[` + strings.Join(cs, ",") + `]}}}}`
	start := time.Now()
	resp, err = hc.Post("https://"+webhookAddr+"/admission/v1/validate", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	var answer struct {
		Response struct {
			UID     string
			Allowed bool
			Status  struct{ Message string }
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if err != nil || answer.Response.UID != "big" || answer.Response.Allowed || !strings.Contains(answer.Response.Status.Message, "rule no-critical") {
		t.Errorf("10,000 containers: %v %+v", err, answer)
	}
	t.Logf("a review of 10,000 containers (%d KiB) answered in %s", len(big)>>10, time.Since(start).Round(time.Millisecond))

	// The shipped manifests are valid for this API server.
	kc.Kubectl(t, "create", "namespace", "moat")
	manifests, err := os.ReadFile("../../deploy/kubernetes/webhook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	manifests = bytes.ReplaceAll(manifests, []byte("LS0tLS1CRUdJTi...REPLACE-WITH-YOUR-CA"), []byte(base64.StdEncoding.EncodeToString(ca.PEM())))
	kc.Kubectl(t, "apply", "--dry-run=server", "-f", "../../deploy/kubernetes/moat.yaml")
	f := filepath.Join(t.TempDir(), "webhook.yaml")
	if err := os.WriteFile(f, manifests, 0o644); err != nil {
		t.Fatal(err)
	}
	kc.Kubectl(t, "apply", "--dry-run=server", "-f", f)
}

// applyCombined runs kubectl apply and returns its stdout and stderr
// together, where kubectl prints admission warnings.
func applyCombined(t *testing.T, kc *kubeproc.Cluster, yaml string) (string, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "apply.yaml")
	writeFile(t, f, yaml)
	out, err := exec.Command(moatproc.RequireTool(t, "kubectl"), "--kubeconfig", kc.Kubeconfig, "apply", "-f", f).CombinedOutput()
	return string(out), err
}

// adminCall sends body as the admin and returns the status and body.
func adminCall(t *testing.T, s *moatproc.Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.Admin.Username, s.Admin.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
