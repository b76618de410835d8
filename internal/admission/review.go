package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrBadReview: the body is not an AdmissionReview moat can answer.
var ErrBadReview = errors.New("bad AdmissionReview")

// DecodeReview parses an AdmissionReview v1 request.
func DecodeReview(body []byte) (*admissionv1.AdmissionReview, error) {
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReview, err)
	}
	if r.APIVersion != "admission.k8s.io/v1" || r.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("%w: apiVersion %q kind %q, want admission.k8s.io/v1 AdmissionReview", ErrBadReview, r.APIVersion, r.Kind)
	}
	if r.Request == nil {
		return nil, fmt.Errorf("%w: no request", ErrBadReview)
	}
	if r.Request.UID == "" {
		return nil, fmt.Errorf("%w: the request has no uid", ErrBadReview)
	}
	return &r, nil
}

// Pod is what a review is about: a pod, or a workload's pod template.
type Pod struct {
	Kind      string // Pod, Deployment, ...
	Namespace string
	Name      string
	// OwnerKind and OwnerName name the pod's controller.
	OwnerKind, OwnerName string
	Spec                 *corev1.PodSpec
}

// Containers lists the pod's containers, init and ephemeral ones too.
func (p Pod) Containers() []Container {
	var out []Container
	for _, c := range p.Spec.InitContainers {
		out = append(out, Container{Name: c.Name, Type: "initContainer", Image: c.Image})
	}
	for _, c := range p.Spec.Containers {
		out = append(out, Container{Name: c.Name, Type: "container", Image: c.Image})
	}
	for _, c := range p.Spec.EphemeralContainers {
		out = append(out, Container{Name: c.Name, Type: "ephemeralContainer", Image: c.Image})
	}
	return out
}

// errUnknownKind: the review is about a kind that holds no pod template.
var errUnknownKind = errors.New("not a kind moat judges")

// PodOf returns the pod or pod template of req's object.
func PodOf(req *admissionv1.AdmissionRequest) (Pod, error) {
	gvk := req.Kind
	obj := req.Object.Raw
	if len(obj) == 0 {
		return Pod{}, fmt.Errorf("%w: the request has no object", ErrBadReview)
	}
	p := Pod{Kind: gvk.Kind, Namespace: req.Namespace, Name: req.Name}
	decode := func(v any, meta *metav1.ObjectMeta) error {
		if err := json.Unmarshal(obj, v); err != nil {
			return fmt.Errorf("%w: the %s object: %v", ErrBadReview, gvk.Kind, err)
		}
		if p.Name == "" {
			p.Name = meta.Name
		}
		if p.Namespace == "" {
			p.Namespace = meta.Namespace
		}
		return nil
	}
	switch {
	case gvk.Group == "" && gvk.Kind == "Pod":
		var o corev1.Pod
		if err := decode(&o, &o.ObjectMeta); err != nil {
			return Pod{}, err
		}
		p.Spec = &o.Spec
		p.OwnerKind, p.OwnerName = owner(o.OwnerReferences)
		// A Deployment's ReplicaSet is named after it and the template hash.
		if h := o.Labels["pod-template-hash"]; p.OwnerKind == "ReplicaSet" && h != "" {
			if d, ok := strings.CutSuffix(p.OwnerName, "-"+h); ok && d != "" {
				p.OwnerKind, p.OwnerName = "Deployment", d
			}
		}
	case gvk.Group == "apps" && gvk.Kind == "Deployment":
		var o appsv1.Deployment
		if err := decode(&o, &o.ObjectMeta); err != nil {
			return Pod{}, err
		}
		p.Spec = &o.Spec.Template.Spec
	case gvk.Group == "apps" && gvk.Kind == "ReplicaSet":
		var o appsv1.ReplicaSet
		if err := decode(&o, &o.ObjectMeta); err != nil {
			return Pod{}, err
		}
		p.Spec = &o.Spec.Template.Spec
	case gvk.Group == "apps" && gvk.Kind == "StatefulSet":
		var o appsv1.StatefulSet
		if err := decode(&o, &o.ObjectMeta); err != nil {
			return Pod{}, err
		}
		p.Spec = &o.Spec.Template.Spec
	case gvk.Group == "apps" && gvk.Kind == "DaemonSet":
		var o appsv1.DaemonSet
		if err := decode(&o, &o.ObjectMeta); err != nil {
			return Pod{}, err
		}
		p.Spec = &o.Spec.Template.Spec
	case gvk.Group == "batch" && gvk.Kind == "Job":
		var o batchv1.Job
		if err := decode(&o, &o.ObjectMeta); err != nil {
			return Pod{}, err
		}
		p.Spec = &o.Spec.Template.Spec
	case gvk.Group == "batch" && gvk.Kind == "CronJob":
		var o batchv1.CronJob
		if err := decode(&o, &o.ObjectMeta); err != nil {
			return Pod{}, err
		}
		p.Spec = &o.Spec.JobTemplate.Spec.Template.Spec
	default:
		return Pod{}, fmt.Errorf("%w: %s", errUnknownKind, kindName(gvk))
	}
	return p, nil
}

func kindName(gvk metav1.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Version + "/" + gvk.Kind
	}
	return gvk.Group + "/" + gvk.Version + "/" + gvk.Kind
}

// owner returns the controller among refs (else the first).
func owner(refs []metav1.OwnerReference) (kind, name string) {
	for _, r := range refs {
		if r.Controller != nil && *r.Controller {
			return r.Kind, r.Name
		}
	}
	if len(refs) > 0 {
		return refs[0].Kind, refs[0].Name
	}
	return "", ""
}

// Admitted is told of every pod admitted for real (not a dry run), with
// the verdict of each of its images, for the inventory.
type Admitted func(ctx context.Context, pod Pod, containers []Container, images []ImageDecision)

// Review answers an admission request. Objects that hold no pod are
// allowed with a warning saying so; deletions and connections, which
// start nothing, are allowed.
func (s *Service) Review(ctx context.Context, req *admissionv1.AdmissionRequest, admitted Admitted) *admissionv1.AdmissionResponse {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return resp
	}
	pod, err := PodOf(req)
	if errors.Is(err, errUnknownKind) {
		resp.Warnings = []string{fmt.Sprintf("moat admission: %v; only pods and their workloads are judged", err)}
		return resp
	}
	if err != nil {
		return deny(resp, err.Error())
	}
	containers := pod.Containers()
	d := s.Decide(ctx, Request{Namespace: pod.Namespace, Containers: containers})
	resp.Warnings = d.Warnings
	if len(d.Warnings) > 0 {
		resp.AuditAnnotations = map[string]string{"warnings": clip(strings.Join(d.Warnings, "\n"), 4096)}
	}
	if !d.Allowed {
		return deny(resp, strings.Join(d.Denials, "\n"))
	}
	if admitted != nil && pod.Kind == "Pod" && req.Kind.Group == "" && req.SubResource == "" && (req.DryRun == nil || !*req.DryRun) {
		admitted(ctx, pod, containers, d.Images)
	}
	return resp
}

func deny(resp *admissionv1.AdmissionResponse, msg string) *admissionv1.AdmissionResponse {
	resp.Allowed = false
	resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: "moat: " + clip(msg, 16<<10)}
	return resp
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
