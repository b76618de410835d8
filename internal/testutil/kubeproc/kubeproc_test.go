package kubeproc

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStart: a Pod can be created, read back and deleted in a new
// namespace.
func TestStart(t *testing.T) {
	c := Start(t)
	c.Apply(t, `apiVersion: v1
kind: Namespace
metadata:
  name: kubeproc-test
---
apiVersion: v1
kind: Pod
metadata:
  name: a
  namespace: kubeproc-test
spec:
  containers:
  - name: a
    image: example.com/a:1
`)
	var pod struct {
		Spec struct {
			Containers []struct{ Image string }
		}
	}
	out := c.Kubectl(t, "get", "pod", "a", "-n", "kubeproc-test", "-o", "json")
	if err := json.Unmarshal([]byte(out), &pod); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Image != "example.com/a:1" {
		t.Errorf("pod read back with containers %+v", pod.Spec.Containers)
	}
	c.Kubectl(t, "delete", "pod", "a", "-n", "kubeproc-test", "--wait=false")
	if _, err := c.TryKubectl(t, "get", "pod", "a", "-n", "kubeproc-test"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("deleted pod: %v", err)
	}
}

// TestLoopbackWebhook: the apiserver calls a validating webhook on a
// loopback https URL, and its denial reaches TryApply's error.
func TestLoopbackWebhook(t *testing.T) {
	const denial = "kubeproc test denies every pod"
	hook := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review struct {
			Request struct{ UID string }
		}
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "admission.k8s.io/v1",
			"kind":       "AdmissionReview",
			"response": map[string]any{
				"uid":     review.Request.UID,
				"allowed": false,
				"status":  map[string]any{"code": 403, "message": denial},
			},
		})
	}))
	defer hook.Close()
	caBundle := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.Certificate().Raw}))

	c := Start(t)
	c.Apply(t, `apiVersion: v1
kind: Namespace
metadata:
  name: hooked
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: kubeproc-test
webhooks:
- name: deny.kubeproc.test
  clientConfig:
    url: `+hook.URL+`/admission/v1/validate
    caBundle: `+caBundle+`
  rules:
  - operations: ["CREATE"]
    apiGroups: [""]
    apiVersions: ["v1"]
    resources: ["pods"]
  namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: hooked
  failurePolicy: Fail
  sideEffects: None
  admissionReviewVersions: ["v1"]
`)
	pod := `apiVersion: v1
kind: Pod
metadata:
  name: a
  namespace: hooked
spec:
  containers:
  - name: a
    image: example.com/a:1
`
	// The apiserver picks up a new webhook configuration asynchronously.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.TryApply(t, pod)
		if err != nil && strings.Contains(err.Error(), denial) {
			t.Logf("denied as expected: %v", err)
			break
		}
		if err == nil {
			c.Kubectl(t, "delete", "pod", "a", "-n", "hooked")
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not denied by the webhook; last error: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
