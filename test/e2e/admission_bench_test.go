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
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/kubeproc"
	"github.com/moat-dev/moat/internal/testutil/moatproc"
	"github.com/moat-dev/moat/internal/testutil/testpki"
)

// BenchmarkAdmission measures the webhook's decision for a pod of 8
// containers running 3 distinct images: warm (facts cached) at 50
// concurrent reviews, and cold (images never judged before), beside the
// time a real kube-apiserver takes to create a pod without the webhook
// and with it. It runs once whatever b.N:
//
//	go test -run '^$' -bench Admission -benchtime 1x ./test/e2e/
func BenchmarkAdmission(b *testing.B) {
	skopeo := moatproc.RequireTool(b, "skopeo")
	kc := kubeproc.Start(b)
	ca := testpki.NewCA(b, "webhook CA")
	certFile, keyFile := testpki.WriteKeyPair(b, ca.IssueServer(b, "127.0.0.1"))
	webhookAddr := moatproc.FreeAddr(b)
	cfgFile := filepath.Join(b.TempDir(), "moat.yaml")
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, `version: 1
listeners:
  - name: webhook
    addr: %s
    tls: {certFile: %s, keyFile: %s}
admission:
  listeners: [webhook]
  rules:
    - name: no-critical
      expression: 'image.findings.critical == 0'
      onError: allow
    - name: signed
      expression: 'image.signed'
      mode: audit
`, webhookAddr, certFile, keyFile), 0o600); err != nil {
		b.Fatal(err)
	}
	s := moatproc.Start(b, moatproc.WithArgs("--config", cfgFile), moatproc.WithEnv("MOAT_LOG_LEVEL=warn"))

	// 3 images for the warm pod and 3 more for each cold review.
	const coldReviews = 20
	r := moatproc.NewRunner(b)
	var images []string
	for i := range 3 * (coldReviews + 1) {
		layout := filepath.Join(b.TempDir(), "img")
		writeLayout(b, layout, "v1", newImage(b, seededRand(b, fmt.Sprint("bench", i)), linuxAMD64, 1, 1024))
		ref := fmt.Sprintf("%s/bench/app%d:1", s.Addr, i)
		r.Run(skopeo, "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds="+s.Robot.Pair(), "oci:"+layout+":v1", "docker://"+ref)
		images = append(images, ref)
	}
	review := func(imgs []string) []byte {
		var cs []map[string]string
		for i := range 8 {
			cs = append(cs, map[string]string{"name": fmt.Sprint("c", i), "image": imgs[i%3]})
		}
		pod, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": "p", "namespace": "bench"}, "spec": map[string]any{"containers": cs}})
		body, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
			"request": map[string]any{"uid": "u", "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
				"operation": "CREATE", "namespace": "bench", "dryRun": true, "object": json.RawMessage(pod)}})
		return body
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM())
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64,
		TLSClientConfig: &tls.Config{RootCAs: roots}}}
	url := "https://" + webhookAddr + "/admission/v1/validate"
	post := func(body []byte) time.Duration {
		start := time.Now()
		resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		var out struct{ Response struct{ Allowed bool } }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !out.Response.Allowed {
			b.Fatalf("review: %d %v %+v", resp.StatusCode, err, out)
		}
		return time.Since(start)
	}

	// Cold: each review names images never judged.
	var cold []time.Duration
	for i := 1; i <= coldReviews; i++ {
		cold = append(cold, post(review(images[3*i:3*i+3])))
	}
	// Warm: 50 concurrent reviewers.
	warmBody := review(images[:3])
	post(warmBody)
	before := serverBuckets(b, s)
	const workers, perWorker = 50, 400
	warm := make([]time.Duration, workers*perWorker)
	var wg sync.WaitGroup
	began := time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				warm[w*perWorker+i] = post(warmBody)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	after := serverBuckets(b, s)

	// The API server creating pods, without the webhook and with it.
	kc.Kubectl(b, "create", "namespace", "bench")
	podCreate := func(n int, prefix string) []time.Duration {
		var out []time.Duration
		for i := range n {
			yaml := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s-%d, namespace: bench}\nspec:\n  containers:\n", prefix, i)
			for c := range 8 {
				yaml += fmt.Sprintf("    - {name: c%d, image: %q}\n", c, images[c%3])
			}
			start := time.Now()
			kc.Apply(b, yaml)
			out = append(out, time.Since(start))
		}
		return out
	}
	without := podCreate(30, "plain")
	kc.Apply(b, fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: moat}
webhooks:
  - name: images.moat.dev
    admissionReviewVersions: ["v1"]
    sideEffects: NoneOnDryRun
    failurePolicy: Fail
    clientConfig: {url: "%s", caBundle: %s}
    rules: [{apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"]}]
`, url, base64.StdEncoding.EncodeToString(ca.PEM())))
	time.Sleep(2 * time.Second) // the API server loads webhook configurations asynchronously
	with := podCreate(30, "judged")

	p := func(ds []time.Duration, q float64) string {
		return fmt.Sprintf("%.2fms", float64(percentile(ds, q).Microseconds())/1000)
	}
	fmt.Printf("\nadmission decision, pod of 8 containers (3 distinct images), HTTPS keep-alive\n")
	fmt.Printf("%-44s %10s %10s %10s\n", "", "p50", "p99", "max")
	fmt.Printf("%-44s %10s %10s %10s\n", fmt.Sprintf("warm, %d concurrent (%d reviews, %.0f/s)", workers, len(warm), float64(len(warm))/elapsed.Seconds()),
		p(warm, 0.5), p(warm, 0.99), p(warm, 1))
	var within []string
	for _, le := range []string{"0.001", "0.0025", "0.005", "0.01"} {
		within = append(within, fmt.Sprintf("%.2f%% ≤ %sms", 100*(after[le]-before[le])/(after["+Inf"]-before["+Inf"]), fmt.Sprintf("%g", 1000*atof(le))))
	}
	fmt.Printf("%-44s %s\n", "  in the server (its request histogram)", strings.Join(within, ", "))
	fmt.Printf("%-44s %10s %10s %10s\n", fmt.Sprintf("cold, sequential (%d reviews)", len(cold)), p(cold, 0.5), p(cold, 0.99), p(cold, 1))
	fmt.Printf("%-44s %10s %10s %10s\n", "kubectl apply of a pod, no webhook", p(without, 0.5), p(without, 0.99), p(without, 1))
	fmt.Printf("%-44s %10s %10s %10s\n", "kubectl apply of a pod, moat webhook", p(with, 0.5), p(with, 0.99), p(with, 1))
	b.ReportMetric(float64(percentile(warm, 0.99).Microseconds())/1000, "warm-p99-ms")
	b.ReportMetric(float64(percentile(cold, 0.99).Microseconds())/1000, "cold-p99-ms")
}

func percentile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// serverBuckets reads moat's request-duration histogram of the webhook
// route: cumulative counts by upper bound.
func serverBuckets(b *testing.B, s *moatproc.Server) map[string]float64 {
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	re := regexp.MustCompile(`moat_http_request_duration_seconds_bucket\{method="POST",route="/admission/v1/validate",le="([^"]+)"\} (\S+)`)
	for _, m := range re.FindAllStringSubmatch(string(body), -1) {
		out[m[1]] = atof(m[2])
	}
	return out
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}
