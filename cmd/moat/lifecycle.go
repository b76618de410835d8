package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newLifecycleCmd() *cobra.Command {
	var (
		server   string
		insecure bool
	)
	cmd := &cobra.Command{
		Use:   "lifecycle",
		Short: "Manage repositories' lifecycle policies (ECR's JSON grammar) on a moat registry",
		Long: `moat lifecycle puts, shows, previews and runs a repository's lifecycle
policy through the registry's API (--registry HOST[:PORT]), logged in as crane,
docker or podman did, or as MOAT_USERNAME and MOAT_PASSWORD. Putting and
running need admin:ManageRegistry; showing and previewing, registry:Pull.`,
	}
	cmd.PersistentFlags().StringVar(&server, "registry", "", "the moat registry, HOST[:PORT]")
	cmd.PersistentFlags().BoolVar(&insecure, "insecure", false, "allow a plain HTTP registry")
	client := func() (*apiClient, error) {
		if server == "" {
			return nil, errors.New("--registry is required")
		}
		reg, err := registryOf(server, insecure)
		if err != nil {
			return nil, err
		}
		return newAPIClient(reg), nil
	}
	path := func(repo, suffix string) string { return "/api/v1/repositories/" + repo + "/lifecycle-policy" + suffix }
	readPolicy := func(file string) (json.RawMessage, error) {
		if file == "" {
			return nil, nil
		}
		doc, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if !json.Valid(doc) {
			return nil, fmt.Errorf("%s is not JSON", file)
		}
		return doc, nil
	}

	var putFile string
	put := &cobra.Command{Use: "put REPOSITORY --file POLICY.json", Short: "Set a repository's lifecycle policy", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			doc, err := readPolicy(putFile)
			if err != nil || doc == nil {
				return errors.Join(err, errors.New("--file is required"))
			}
			var out json.RawMessage
			if err := c.call(http.MethodPut, path(args[0], ""), nil, doc, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lifecycle policy of %s set\n", args[0])
			return nil
		}}
	put.Flags().StringVar(&putFile, "file", "", "the policy document")

	get := &cobra.Command{Use: "get REPOSITORY", Short: "Print a repository's lifecycle policy", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var out json.RawMessage
			if err := c.call(http.MethodGet, path(args[0], ""), nil, nil, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return nil
		}}

	var previewFile string
	preview := &cobra.Command{Use: "preview REPOSITORY [--file POLICY.json]", Short: "List what a policy would expire, and why, changing nothing",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			doc, err := readPolicy(previewFile)
			if err != nil {
				return err
			}
			var body any
			if doc != nil {
				body = doc
			}
			var out struct{ Images []verdict }
			if err := c.call(http.MethodPost, path(args[0], "/preview"), nil, body, &out); err != nil {
				return err
			}
			return printVerdicts(cmd, out.Images)
		}}
	preview.Flags().StringVar(&previewFile, "file", "", "preview this policy instead of the stored one")

	run := &cobra.Command{Use: "run REPOSITORY", Short: "Expire now what a repository's policy expires", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client()
			if err != nil {
				return err
			}
			var out struct{ Expired []verdict }
			if err := c.call(http.MethodPost, path(args[0], "/run"), nil, nil, &out); err != nil {
				return err
			}
			return printVerdicts(cmd, out.Expired)
		}}
	cmd.AddCommand(put, get, preview, run)
	return cmd
}

// verdict is one image's fate as the API reports it.
type verdict struct {
	Digest       string
	Tags         []string
	Expire       bool
	RulePriority int
	Reason       string
}

func printVerdicts(cmd *cobra.Command, vs []verdict) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIGEST\tTAGS\tACTION\tRULE\tREASON")
	for _, v := range vs {
		action := "keep"
		if v.Expire {
			action = "expire"
		}
		rule := "-"
		if v.RulePriority > 0 {
			rule = fmt.Sprint(v.RulePriority)
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", shortDigest(v.Digest), v.Tags, action, rule, v.Reason)
	}
	return tw.Flush()
}
