package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/dockerfile"
)

type lintFlags struct {
	format, config, failOn string
}

func newLintCmd() *cobra.Command {
	var fl lintFlags
	cmd := &cobra.Command{
		Use:   "lint [flags] Dockerfile...",
		Short: "Check Dockerfiles for insecure and fragile instructions",
		Long: `Lint Dockerfiles with BuildKit's parser. "-" reads standard input.

Silence a rule for one instruction with a comment directly above it:

  # moat-ignore ML003 ML004
  ADD app.tar.gz /srv/

("# moat-ignore" alone silences every rule there; an empty "#" line ends a
comment block). Disable rules for a project with --config FILE:

  version: 1
  disable: [ML006, ML015]
  failOn: warning        # optional, overridden by --fail-on

Exit status: 0 when no finding is at or above --fail-on (default error;
"none" never fails), 1 when one is, 2 when a file cannot be read or parsed
(the other files are still linted). Rules: moat lint --rules.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rules, _ := cmd.Flags().GetBool("rules"); rules {
				return printRules(cmd.OutOrStdout())
			}
			if len(args) == 0 {
				return fmt.Errorf("lint: name at least one Dockerfile (or - for standard input)")
			}
			return runLint(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args, fl, cmd.Flags().Changed("fail-on"))
		},
	}
	f := cmd.Flags()
	f.StringVarP(&fl.format, "format", "f", string(dockerfile.Table), "output format: table, json, sarif")
	f.StringVar(&fl.config, "config", "", "YAML file of disabled rules (version: 1, disable: [ids])")
	f.StringVar(&fl.failOn, "fail-on", "error", "exit 1 when a finding at or above this severity exists: error, warning, info or none")
	f.Bool("rules", false, "list the rules with their rationale and fix, then exit")
	return cmd
}

func runLint(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, files []string, fl lintFlags, failOnSet bool) error {
	format, err := dockerfile.ParseFormat(fl.format)
	if err != nil {
		return err
	}
	var opts []dockerfile.Option
	failOn := fl.failOn
	if fl.config != "" {
		c, err := readLintConfig(fl.config)
		if err != nil {
			return err
		}
		opts = append(opts, dockerfile.WithConfig(c))
		if c.FailOn != "" && !failOnSet {
			failOn = c.FailOn
		}
	}
	threshold := dockerfile.Severity(0)
	if failOn != "none" {
		if threshold, err = dockerfile.ParseSeverity(failOn); err != nil {
			return fmt.Errorf("--fail-on: %w", err)
		}
	}
	l, err := dockerfile.New(opts...)
	if err != nil {
		return err
	}
	var all []dockerfile.Finding
	failed := 0
	for _, name := range files {
		fs, err := lintFile(ctx, l, stdin, name)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintln(stderr, "moat lint:", err)
			failed++
			continue
		}
		all = append(all, fs...)
	}
	if err := dockerfile.Write(stdout, format, all); err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d files could not be linted", failed, len(files))
	}
	for _, f := range all {
		if threshold > 0 && f.Severity >= threshold {
			return exitError(1)
		}
	}
	return nil
}

func lintFile(ctx context.Context, l *dockerfile.Linter, stdin io.Reader, name string) ([]dockerfile.Finding, error) {
	if name == "-" {
		return l.Lint(ctx, "Dockerfile", stdin)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", name)
	}
	return l.Lint(ctx, name, f)
}

func readLintConfig(path string) (*dockerfile.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	defer f.Close()
	c, err := dockerfile.ParseConfig(f)
	if err != nil {
		return nil, fmt.Errorf("--config %s: %w", path, err)
	}
	return c, nil
}

func printRules(w io.Writer) error {
	for _, r := range dockerfile.Rules() {
		if _, err := fmt.Fprintf(w, "%s  %-8s %s\n    why: %s\n    fix: %s\n", r.ID, r.Severity, r.Name, r.Rationale, r.Fix); err != nil {
			return err
		}
	}
	return nil
}
