package app

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/admission"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/findings"
	"github.com/moat-dev/moat/internal/imagefacts"
	"github.com/moat-dev/moat/internal/inventory"
	"github.com/moat-dev/moat/internal/inventory/kubereport"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/kube"
	"github.com/moat-dev/moat/internal/meta/sqlstore"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/server"
	"github.com/moat-dev/moat/internal/signing"
	"github.com/moat-dev/moat/internal/sqldb"
)

type admissionDeps struct {
	db    *sqldb.DB
	reg   *registry.Registry
	md    *sqlstore.Store
	scans *findings.Store
	sig   *signing.Service
	inv   *inventory.Store
	socks []net.Listener
	specs []listenerSpec
	log   *slog.Logger
}

// admissionStack is admission and what serves it.
type admissionStack struct {
	service  *admission.Service
	details  func(ctx context.Context, repo, ref string) (imagefacts.Facts, error)
	reporter *kubereport.Reporter // nil unless serve lists pods itself
	inv      *inventory.Store
	cluster  string
	log      *slog.Logger
}

// defaultCluster names the cluster in the inventory when admission.cluster
// is not set.
const defaultCluster = "default"

func openAdmission(ctx context.Context, cfg config.Config, d admissionDeps) (*admissionStack, error) {
	tags := func(ctx context.Context, repo, dg string) (tags []string, err error) {
		err = d.db.Read(ctx, func(tx *sql.Tx) error {
			locs, err := d.md.LocateTx(ctx, tx, digest.Digest(dg))
			for _, l := range locs {
				if l.Repository == repo {
					tags = l.Tags
				}
			}
			return err
		})
		return tags, err
	}
	facts, err := imagefacts.New(imagefacts.Deps{Registry: d.reg, Scans: d.scans, Signatures: d.sig, Tags: tags, Usage: d.inv.Usage})
	if err != nil {
		return nil, err
	}
	rules, err := admission.NewRuleStore(ctx, d.db)
	if err != nil {
		return nil, err
	}
	svc, err := admission.New(facts, cfg.Admission, registryHosts(d.specs, d.socks),
		admission.WithLogger(d.log), admission.WithTrustVersion(d.sig.TrustVersion), admission.WithRuleStore(rules))
	if err != nil {
		return nil, err
	}
	if err := svc.LoadRules(ctx); err != nil {
		return nil, err
	}
	st := &admissionStack{service: svc, inv: d.inv, cluster: cfg.Admission.Cluster, log: d.log,
		details: func(ctx context.Context, repo, ref string) (imagefacts.Facts, error) {
			return facts.Facts(ctx, repo, ref, "")
		}}
	if st.cluster == "" {
		st.cluster = defaultCluster
	}
	if src := cfg.Admission.Inventory; src.Enabled() {
		var cl *kube.Client
		if src.InCluster {
			cl, err = kube.InCluster()
		} else {
			cl, err = kube.FromKubeconfig(src.Kubeconfig, src.Context)
		}
		if err != nil {
			return nil, fmt.Errorf("admission.inventory: %w", err)
		}
		st.reporter = &kubereport.Reporter{Lister: cl, Sink: d.inv, Cluster: st.cluster, Interval: src.Interval,
			Resolve: svc.Resolve, Log: d.log}
	}
	return st, nil
}

// inventoryJob is the job kind of the pod listing.
const inventoryJob = "inventory-report"

// register schedules the pod listing through the jobs runner, so that it
// runs once per interval across all replicas.
func (a *admissionStack) register(r *jobs.Runner) error {
	if a.reporter == nil {
		return nil
	}
	if err := r.Handle(inventoryJob, jobs.Kind{Handler: func(ctx context.Context, _ *jobs.Job) error {
		_, _, err := a.reporter.Once(ctx)
		return err
	}, Lease: 2 * time.Minute}); err != nil {
		return err
	}
	every := a.reporter.Interval
	if every <= 0 {
		every = time.Minute
	}
	return r.Every(inventoryJob, every, jobs.Job{Kind: inventoryJob, MaxAttempts: 1})
}

// registryHosts are the names pods may give this registry by default:
// each listener's address as clients write it, and localhost's for a
// listener on every address.
func registryHosts(specs []listenerSpec, socks []net.Listener) []string {
	var hosts []string
	for i, sp := range specs {
		_, port, err := net.SplitHostPort(socks[i].Addr().String())
		if err != nil {
			continue
		}
		host := config.ClientHost(sp.addr)
		hosts = append(hosts, net.JoinHostPort(host, port))
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			hosts = append(hosts, net.JoinHostPort("localhost", port), net.JoinHostPort("127.0.0.1", port))
		}
	}
	return hosts
}

// webhook serves /admission/v1/validate on the listeners admission names
// (with access control off, on all); admitted pods are recorded in the
// inventory.
func (a *admissionStack) webhook(listeners []string, open bool) http.Handler {
	h := admission.Handler(a.service, a.record, a.log)
	mux := http.NewServeMux()
	mux.Handle("/admission/v1/validate", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, _ := server.ListenerName(r.Context()); !open && !slices.Contains(listeners, name) {
			http.Error(w, "the admission webhook is not served on this listener (admission.listeners)", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	}))
	return mux
}

// record adds an admitted pod's containers to the inventory.
func (a *admissionStack) record(ctx context.Context, pod admission.Pod, containers []admission.Container, images []admission.ImageDecision) {
	byImage := map[string]admission.ImageDecision{}
	for _, im := range images {
		byImage[im.Image] = im
	}
	places := make([]inventory.Place, 0, len(containers))
	for _, c := range containers {
		im := byImage[c.Image]
		p := inventory.Place{Source: inventory.Kubernetes, Cluster: a.cluster, Namespace: pod.Namespace,
			WorkloadKind: pod.OwnerKind, WorkloadName: pod.OwnerName, Pod: pod.Name, Container: c.Name,
			ContainerType: c.Type, Image: c.Image, Digest: im.Digest}
		if im.Digest != "" {
			p.Repository = im.Repository
		}
		places = append(places, p)
	}
	if pod.Name == "" {
		return // a pod is named before validating admission; nothing to key it by otherwise
	}
	if err := a.inv.Record(context.WithoutCancel(ctx), places...); err != nil {
		a.log.Warn("inventory: recording an admitted pod", "namespace", pod.Namespace, "pod", pod.Name, "err", err)
	}
}
