package main

import (
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/scan"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
	"github.com/moat-dev/moat/internal/scan/sbom"
)

func newSBOMCmd() *cobra.Command {
	var (
		format, output, cacheDir string
		insecure, noCache        bool
	)
	cmd := &cobra.Command{
		Use:   "sbom [flags] SOURCE",
		Short: "List the packages in an image and write an SBOM",
		Long: `List every OS and language package of an image, layer by layer.

SOURCE is an OCI image layout directory, an OCI archive, a docker-archive
(docker save), a root filesystem directory or a registry reference. The kind
is detected; a prefix oci-layout:, oci-archive:, docker-archive:, dir: or
registry: forces it. Layouts and archives take an optional :TAG suffix.

Layer results are cached in the user's cache directory, keyed by layer digest.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := sbom.ParseFormat(format)
			if err != nil {
				return err
			}
			var opts []scan.Option
			if insecure {
				opts = append(opts, scan.WithSourceOptions(source.WithPlainHTTPUnsafe()))
			}
			if !noCache {
				c, err := layerCache(cacheDir)
				if err != nil {
					return err
				}
				opts = append(opts, scan.WithCache(c))
			}
			sc, err := scan.New(opts...)
			if err != nil {
				return err
			}
			inv, err := sc.Inventory(cmd.Context(), args[0], nil)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			if output != "" {
				file, err := os.Create(output)
				if err != nil {
					return err
				}
				defer file.Close()
				w = file
			}
			if err := sbom.Write(w, f, inv, sbom.WithSubject(args[0])); err != nil {
				return err
			}
			if output != "" {
				return w.(*os.File).Close()
			}
			return nil
		},
	}
	names := make([]string, 0, 4)
	for _, f := range sbom.Formats() {
		names = append(names, string(f))
	}
	fl := cmd.Flags()
	fl.StringVarP(&format, "format", "f", string(sbom.Table), "output format: "+strings.Join(names, ", "))
	fl.StringVarP(&output, "output", "o", "", "write to FILE instead of standard output")
	fl.BoolVar(&insecure, "insecure", false, "allow plain HTTP registries")
	fl.StringVar(&cacheDir, "cache-dir", "", "layer cache directory (default: the user's cache directory)")
	fl.BoolVar(&noCache, "no-cache", false, "neither read nor write the layer cache")
	cmd.MarkFlagsMutuallyExclusive("cache-dir", "no-cache")
	return cmd
}
