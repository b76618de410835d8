// Package kubereport lists a Kubernetes cluster's pods and reconciles
// the inventory with them, so pods deleted while no admission saw it
// leave the inventory. serve runs it with a configured kubeconfig, and
// `moat inventory report` runs it in the cluster, reporting over the API.
package kubereport

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/moat-dev/moat/internal/inventory"
	"github.com/moat-dev/moat/internal/kube"
)

// Lister reads the cluster; *kube.Client is one.
type Lister interface {
	ListPods(ctx context.Context) ([]corev1.Pod, error)
	ReplicaSetOwner(ctx context.Context, namespace, name string) (kind, owner string, err error)
}

// Sink takes a full listing; *inventory.Store is one, the API client of
// `moat inventory report` another.
type Sink interface {
	Reconcile(ctx context.Context, source, cluster string, listedAt time.Time, places []inventory.Place) (int64, error)
}

// Reporter reconciles one cluster's inventory every Interval.
type Reporter struct {
	Lister   Lister
	Sink     Sink
	Cluster  string
	Interval time.Duration
	// Resolve names the repository and digest of an image of this
	// registry; nil leaves them to the sink.
	Resolve func(ctx context.Context, image string) (repo, digest string)
	Log     *slog.Logger
}

// Once lists the pods and reconciles: it returns the containers recorded
// and the records removed.
func (r *Reporter) Once(ctx context.Context) (recorded int, removed int64, err error) {
	if r.Cluster == "" {
		return 0, 0, errors.New("kubereport: no cluster name")
	}
	listedAt := time.Now()
	pods, err := r.Lister.ListPods(ctx)
	if err != nil {
		return 0, 0, err
	}
	places := r.places(ctx, pods)
	removed, err = r.Sink.Reconcile(ctx, inventory.Kubernetes, r.Cluster, listedAt, places)
	return len(places), removed, err
}

// Run reports every Interval (default a minute) until ctx ends, logging
// failures and going on.
func (r *Reporter) Run(ctx context.Context) {
	interval := r.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, removed, err := r.Once(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("inventory: listing the cluster's pods", "cluster", r.Cluster, "err", err)
		case err == nil:
			log.Debug("inventory: reconciled", "cluster", r.Cluster, "containers", n, "removed", removed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// places turns the pods that run or are about to into inventory places.
func (r *Reporter) places(ctx context.Context, pods []corev1.Pod) []inventory.Place {
	owners := map[string][2]string{} // ReplicaSet → its controller, looked up once per listing
	var out []inventory.Place
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || pod.Name == "" {
			continue
		}
		kind, name := kube.Owner(pod)
		if kind == "ReplicaSet" {
			key := pod.Namespace + "/" + name
			o, ok := owners[key]
			if !ok {
				if k, n, err := r.Lister.ReplicaSetOwner(ctx, pod.Namespace, name); err == nil && k != "" {
					o = [2]string{k, n}
				} else {
					o = [2]string{kind, name}
				}
				owners[key] = o
			}
			kind, name = o[0], o[1]
		}
		ids := imageIDs(pod)
		add := func(typ string, c corev1.Container) {
			if c.Image == "" {
				return
			}
			p := inventory.Place{Source: inventory.Kubernetes, Cluster: r.Cluster, Namespace: pod.Namespace,
				WorkloadKind: kind, WorkloadName: name, Pod: pod.Name, Container: c.Name, ContainerType: typ,
				Image: c.Image, Digest: ids[c.Name]}
			if r.Resolve != nil {
				repo, d := r.Resolve(ctx, c.Image)
				p.Repository = repo
				if p.Digest == "" {
					p.Digest = d
				}
			}
			out = append(out, p)
		}
		for _, c := range pod.Spec.InitContainers {
			add("initContainer", c)
		}
		for _, c := range pod.Spec.Containers {
			add("container", c)
		}
		for _, c := range pod.Spec.EphemeralContainers {
			add("ephemeralContainer", corev1.Container{Name: c.Name, Image: c.Image})
		}
	}
	return out
}

// imageIDs maps container names to the digests the kubelet reports they
// run ("docker-pullable://host/repo@sha256:…", "host/repo@sha256:…").
func imageIDs(pod corev1.Pod) map[string]string {
	ids := map[string]string{}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, st := range list {
			if _, d, ok := strings.Cut(st.ImageID, "@"); ok && strings.HasPrefix(d, "sha256:") {
				ids[st.Name] = d
			}
		}
	}
	return ids
}
