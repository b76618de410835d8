package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/admission"
	"github.com/moat-dev/moat/internal/inventory"
	"github.com/moat-dev/moat/internal/inventory/kubereport"
	"github.com/moat-dev/moat/internal/kube"
)

// Exit statuses of moat check.
const (
	checkDenied = 1 // an image is refused
	checkCannot = 2 // the registry could not be asked
)

func newCheckCmd() *cobra.Command {
	var (
		insecure  bool
		server    string
		namespace string
	)
	cmd := &cobra.Command{
		Use:   "check [flags] IMAGE...",
		Short: "Ask a moat registry whether images may run under its admission rules",
		Long: `moat check asks the registry (--registry, else the first image's host) to judge
the images as its Kubernetes admission webhook would judge a pod running them
in --namespace: the rules of the admission section, other registries' images,
references that do not parse. It prints each image's verdict and the failed
rules with their reasons, and exits 0 when every image may run, 1 when one is
refused, and 2 when the registry could not answer. It logs in as crane,
docker or podman did, or as MOAT_USERNAME and MOAT_PASSWORD; the caller needs
admission:Check.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := server
			if host == "" {
				ref, err := admission.ParseImage(args[0])
				if err != nil {
					return err
				}
				host = ref.Host
			}
			reg, err := registryOf(host, insecure)
			if err != nil {
				return err
			}
			var d struct {
				Allowed bool
				Images  []admission.ImageDecision
			}
			body := map[string]any{"images": args, "namespace": namespace}
			if err := newAPIClient(reg).call(http.MethodPost, "/api/v1/check", nil, body, &d); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "moat check: %v\n", err)
				return exitError(checkCannot)
			}
			printCheck(cmd.OutOrStdout(), d.Images)
			if !d.Allowed {
				return exitError(checkDenied)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "allow a plain HTTP registry")
	cmd.Flags().StringVar(&server, "registry", "", "the moat registry to ask, HOST[:PORT] (default: the first image's host)")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "judge as for a pod in this Kubernetes namespace")
	return cmd
}

func printCheck(w io.Writer, images []admission.ImageDecision) {
	for _, im := range images {
		verdict := "allowed"
		if !im.Allowed {
			verdict = "refused"
		}
		at := ""
		if im.Digest != "" {
			at = " (" + im.Digest + ")"
		}
		fmt.Fprintf(w, "%s%s: %s\n", im.Image, at, verdict)
		if im.Reason != "" {
			fmt.Fprintf(w, "  %s\n", im.Reason)
		}
		for _, r := range im.Results {
			if r.Passed {
				fmt.Fprintf(w, "  rule %s (%s): passed\n", r.Rule, r.Mode)
				continue
			}
			fmt.Fprintf(w, "  rule %s (%s): failed: %s\n", r.Rule, r.Mode, r.Message)
		}
	}
}

func newInventoryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "inventory", Short: "Tell a moat registry where its images run"}
	cmd.AddCommand(newInventoryReportCmd())
	return cmd
}

func newInventoryReportCmd() *cobra.Command {
	var (
		kubeconfig, kubeContext, cluster, server string
		inCluster, insecure, once                bool
		interval                                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "report --registry HOST[:PORT] --cluster NAME (--kubeconfig FILE | --in-cluster)",
		Short: "List a cluster's pods every interval and report them to the registry's inventory",
		Long: `moat inventory report lists every pod of a Kubernetes cluster (with a
kubeconfig, or the pod's service account with --in-cluster; it needs list on
pods and get on replicasets) and sends the listing to the registry, which
records each container's image and removes the pods that are gone. It runs
every --interval until stopped, or once with --once. It logs in as crane,
docker or podman did, or as MOAT_USERNAME and MOAT_PASSWORD; the caller needs
inventory:Report.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if server == "" || cluster == "" {
				return errors.New("--registry and --cluster are required")
			}
			var (
				cl  *kube.Client
				err error
			)
			switch {
			case inCluster && kubeconfig != "":
				return errors.New("--kubeconfig and --in-cluster exclude each other")
			case inCluster:
				cl, err = kube.InCluster()
			case kubeconfig != "":
				cl, err = kube.FromKubeconfig(kubeconfig, kubeContext)
			default:
				return errors.New("--kubeconfig FILE or --in-cluster is required")
			}
			if err != nil {
				return err
			}
			reg, err := registryOf(server, insecure)
			if err != nil {
				return err
			}
			rep := &kubereport.Reporter{Lister: cl, Sink: apiSink{newAPIClient(reg)}, Cluster: cluster, Interval: interval}
			if once {
				n, removed, err := rep.Once(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "reported %d containers of cluster %s; %d records removed\n", n, cluster, removed)
				return nil
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep.Run(ctx)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "registry", "", "the moat registry, HOST[:PORT]")
	f.BoolVar(&insecure, "insecure", false, "allow a plain HTTP registry")
	f.StringVar(&cluster, "cluster", "", "the cluster's name in the inventory")
	f.StringVar(&kubeconfig, "kubeconfig", "", "a kubeconfig file")
	f.StringVar(&kubeContext, "context", "", "the kubeconfig context (default: its current context)")
	f.BoolVar(&inCluster, "in-cluster", false, "use the pod's service account")
	f.DurationVar(&interval, "interval", time.Minute, "how often to list the pods")
	f.BoolVar(&once, "once", false, "report once and exit")
	return cmd
}

// apiSink sends a listing to POST /api/v1/inventory/kubernetes, where the
// registry resolves images to digests.
type apiSink struct{ c *apiClient }

func (s apiSink) Reconcile(_ context.Context, _, cluster string, listedAt time.Time, places []inventory.Place) (int64, error) {
	var out struct{ Removed int64 }
	body := map[string]any{"cluster": cluster, "listedAt": listedAt, "places": places}
	if err := s.c.call(http.MethodPost, "/api/v1/inventory/kubernetes", nil, body, &out); err != nil {
		return 0, err
	}
	return out.Removed, nil
}
