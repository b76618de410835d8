package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print moat's version, source revision and Go version",
		Long: `Print the module version and source revision moat was built from (as
the Go toolchain recorded them: "go build" in a git checkout stamps the
commit, and "(devel)" stands for a build from a checkout rather than a
released module) and the Go version and platform.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, _ := debug.ReadBuildInfo()
			return writeVersion(cmd.OutOrStdout(), bi)
		},
	}
}

// writeVersion prints what bi records; bi may be nil (a binary built
// without module support).
func writeVersion(w io.Writer, bi *debug.BuildInfo) error {
	version, goVersion := "unknown", runtime.Version()
	var revision, at, modified string
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	if _, err := fmt.Fprintf(w, "moat %s\n", version); err != nil {
		return err
	}
	if revision != "" {
		line := "revision " + revision
		if at != "" {
			line += " (" + at + ")"
		}
		if modified == "true" {
			line += ", with uncommitted changes"
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "built with %s for %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return err
}
