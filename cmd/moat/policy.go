package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/auth/policystore"
)

// targetTypes are the TYPE of a TYPE:NAME attachment target.
var targetTypes = []policystore.TargetType{
	policystore.TargetUser, policystore.TargetGroup, policystore.TargetRobot,
	policystore.TargetRepository, policystore.TargetListener,
}

// parseTarget reads TYPE:NAME.
func parseTarget(s string) (policystore.Target, error) {
	typ, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return policystore.Target{}, fmt.Errorf("target %q: want TYPE:NAME, e.g. robot:ci", s)
	}
	for _, t := range targetTypes {
		if string(t) == typ {
			return policystore.Target{Type: t, Name: name}, nil
		}
	}
	names := make([]string, len(targetTypes))
	for i, t := range targetTypes {
		names[i] = string(t)
	}
	return policystore.Target{}, fmt.Errorf("target %q: type %q is none of %s", s, typ, strings.Join(names, ", "))
}

// checkPolicyFile rejects a file that cannot be a policy document before
// it reaches the store (and the audit record, which embeds it as JSON).
func checkPolicyFile(path string, doc []byte) error {
	if len(bytes.TrimSpace(doc)) == 0 {
		return fmt.Errorf("policy file %s is empty: want a JSON policy document", path)
	}
	if !json.Valid(doc) {
		var v any
		err := json.Unmarshal(doc, &v)
		return fmt.Errorf("policy file %s is not JSON: %w", path, err)
	}
	return nil
}

func newPolicyListCmd(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List policies with their kind and attachments",
		Args:  cobra.NoArgs,
		RunE: withStores(f, func(cmd *cobra.Command, _ []string, s *adminStores) error {
			ps, _, err := s.policies.List(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tUPDATED\tATTACHED TO")
			for _, p := range ps {
				targets := make([]string, len(p.Targets))
				for i, t := range p.Targets {
					targets[i] = string(t.Type) + ":" + t.Name
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, kindName(p), p.UpdatedAt.Format(time.RFC3339), strings.Join(targets, " "))
			}
			return tw.Flush()
		}),
	}
}

// kindName is the --kind spelling of a stored policy's kind.
func kindName(p policystore.Stored) string {
	for name, k := range policyKinds {
		if k == p.Kind {
			return name
		}
	}
	return "?"
}

func newPolicyDetachCmd(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "detach NAME TYPE:TARGET",
		Short: "Detach a policy from user:NAME, group:NAME, robot:NAME, repository:NAME or listener:NAME",
		Args:  cobra.ExactArgs(2),
		RunE: withStores(f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			t, err := parseTarget(args[1])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			// The store treats a missing attachment as done; a typo here
			// must not look like success.
			ps, _, err := s.policies.List(ctx)
			if err != nil {
				return err
			}
			err = notAttached(ps, args[0], t)
			if err == nil {
				err = s.policies.Detach(ctx, args[0], t)
			}
			return s.record(ctx, "admin:DetachPolicy", "policy/"+args[0], map[string]any{"target": args[1]}, err)
		}),
	}
}

// notAttached says why policy name is not attached to t, or nil if it is.
func notAttached(ps []policystore.Stored, name string, t policystore.Target) error {
	for _, p := range ps {
		if p.Name != name {
			continue
		}
		for _, have := range p.Targets {
			if have == t {
				return nil
			}
		}
		return fmt.Errorf("policy %q is not attached to %s:%s (see moat policy list)", name, t.Type, t.Name)
	}
	return fmt.Errorf("policy %q: %w", name, policystore.ErrNotFound)
}

func newPolicyDeleteCmd(f *storeFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a policy and all its attachments",
		Args:  cobra.ExactArgs(1),
		RunE: withStores(f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			err := s.policies.Delete(cmd.Context(), args[0])
			if errors.Is(err, policystore.ErrNotFound) {
				err = fmt.Errorf("policy %q: %w", args[0], policystore.ErrNotFound)
			}
			return s.record(cmd.Context(), "admin:DeletePolicy", "policy/"+args[0], nil, err)
		}),
	}
}
