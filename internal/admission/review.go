package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/moat-dev/moat/internal/kube"
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
	containers           []Container
}

// Containers lists the pod's containers, init and ephemeral ones too.
func (p Pod) Containers() []Container { return p.containers }

// errUnknownKind: the review is about a kind that holds no pod template.
var errUnknownKind = errors.New("not a kind moat judges")

// object is the part of a pod or workload admission reads; decoding only
// it keeps a review cheap whatever else the object holds.
type object struct {
	Metadata struct {
		Name            string                  `json:"name"`
		Namespace       string                  `json:"namespace"`
		Labels          map[string]string       `json:"labels"`
		OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		podSpec
		Template    template `json:"template"`
		JobTemplate struct {
			Spec struct {
				Template template `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

type template struct {
	Spec podSpec `json:"spec"`
}

type podSpec struct {
	InitContainers      []container `json:"initContainers"`
	Containers          []container `json:"containers"`
	EphemeralContainers []container `json:"ephemeralContainers"`
}

type container struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

func (s podSpec) containers() []Container {
	out := make([]Container, 0, len(s.InitContainers)+len(s.Containers)+len(s.EphemeralContainers))
	for _, set := range []struct {
		typ string
		cs  []container
	}{{"initContainer", s.InitContainers}, {"container", s.Containers}, {"ephemeralContainer", s.EphemeralContainers}} {
		for _, c := range set.cs {
			out = append(out, Container{Name: c.Name, Type: set.typ, Image: c.Image})
		}
	}
	return out
}

// workloads are the kinds holding a pod template, by API group.
var workloads = map[string][]string{
	"apps":  {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"},
	"batch": {"Job", "CronJob"},
}

// PodOf returns the pod or pod template of req's object.
func PodOf(req *admissionv1.AdmissionRequest) (Pod, error) {
	gvk := req.Kind
	isPod := gvk.Group == "" && gvk.Kind == "Pod"
	if !isPod && !slices.Contains(workloads[gvk.Group], gvk.Kind) {
		return Pod{}, fmt.Errorf("%w: %s", errUnknownKind, kindName(gvk))
	}
	if len(req.Object.Raw) == 0 {
		return Pod{}, fmt.Errorf("%w: the request has no object", ErrBadReview)
	}
	var o object
	if err := json.Unmarshal(req.Object.Raw, &o); err != nil {
		return Pod{}, fmt.Errorf("%w: the %s object: %v", ErrBadReview, gvk.Kind, err)
	}
	p := Pod{Kind: gvk.Kind, Namespace: req.Namespace, Name: req.Name}
	if p.Name == "" {
		p.Name = o.Metadata.Name
	}
	if p.Namespace == "" {
		p.Namespace = o.Metadata.Namespace
	}
	switch {
	case isPod:
		p.containers = o.Spec.podSpec.containers()
		p.OwnerKind, p.OwnerName = kube.ControllerOf(o.Metadata.OwnerReferences)
		// A Deployment's ReplicaSet is named after it and the template hash.
		if h := o.Metadata.Labels["pod-template-hash"]; p.OwnerKind == "ReplicaSet" && h != "" {
			if d, ok := strings.CutSuffix(p.OwnerName, "-"+h); ok && d != "" {
				p.OwnerKind, p.OwnerName = "Deployment", d
			}
		}
	case gvk.Kind == "CronJob":
		p.containers = o.Spec.JobTemplate.Spec.Template.Spec.containers()
	default:
		p.containers = o.Spec.Template.Spec.containers()
	}
	return p, nil
}

func kindName(gvk metav1.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Version + "/" + gvk.Kind
	}
	return gvk.Group + "/" + gvk.Version + "/" + gvk.Kind
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
