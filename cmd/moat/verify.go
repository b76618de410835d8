package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"
)

// Exit statuses of moat verify.
const (
	verifyUntrusted = 1 // signed by no trusted identity, or signatures invalid
	verifyCannot    = 2 // could not verify: no trust policy, registry unreachable
)

func newVerifyCmd() *cobra.Command {
	var (
		insecure bool
		policy   string
	)
	cmd := &cobra.Command{
		Use:   "verify [flags] REGISTRY/REPOSITORY[:TAG|@DIGEST]",
		Short: "Check that an image in a moat registry is signed by a trusted identity",
		Long: `moat verify asks the registry to verify the image's signatures (Notation and
cosign, the registry's own and clients') against a trust policy: --trust-policy,
or else the repository's signature gate's, or else the built-in "moat". It
logs in as crane, docker or podman did (their credentials file), prints each
signature's outcome, and exits 0 when a trusted identity signed the image, 1
when none did (no signature, signatures by untrusted keys, or invalid
signatures: broken, or of another image), and 2 when it could not verify (no
trust policy applies, the registry cannot be reached).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []name.Option
			if insecure {
				opts = append(opts, name.Insecure)
			}
			ref, err := name.ParseReference(args[0], opts...)
			if err != nil {
				return err
			}
			res, err := fetchSignatures(ref, policy)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "moat verify: could not verify %s: %v\n", ref, err)
				return exitError(verifyCannot)
			}
			return printVerification(cmd.OutOrStdout(), cmd.ErrOrStderr(), ref.String(), res)
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "allow a plain HTTP registry")
	cmd.Flags().StringVar(&policy, "trust-policy", "", "the trust policy to verify against (default: the repository's gate's, else moat)")
	return cmd
}

// verification is what the registry's signatures endpoint answers.
type verification struct {
	Digest      string
	Status      string
	TrustPolicy string
	Statement   string
	Level       string
	Trusted     bool
	Error       string
	Signatures  []struct {
		Format, Manifest, Signer, Error string
		Managed, Verified               bool
	}
}

func fetchSignatures(ref name.Reference, policy string) (*verification, error) {
	q := url.Values{}
	if policy != "" {
		q.Set("trustPolicy", policy)
	}
	var v verification
	path := fmt.Sprintf("/api/v1/repositories/%s/manifests/%s/signatures", ref.Context().RepositoryStr(), ref.Identifier())
	if err := newAPIClient(ref.Context().Registry).call(http.MethodGet, path, q, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func printVerification(out, errw io.Writer, ref string, v *verification) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FORMAT\tSIGNATURE\tSIGNER\tRESULT")
	for _, s := range v.Signatures {
		result := "verified"
		if !s.Verified {
			result = s.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Format, shortDigest(s.Manifest), s.Signer, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case v.Trusted:
		fmt.Fprintf(out, "%s@%s: trusted (trust policy %q, statement %q, %s)\n", strings.SplitN(ref, "@", 2)[0], v.Digest, v.TrustPolicy, v.Statement, v.Level)
		return nil
	case v.Statement == "":
		// No statement applied: nothing could be checked.
		fmt.Fprintf(errw, "moat verify: could not verify %s: %s\n", ref, v.Error)
		return exitError(verifyCannot)
	}
	fmt.Fprintf(errw, "moat verify: %s is not trusted (trust policy %q): %s\n", ref, v.TrustPolicy, v.Error)
	return exitError(verifyUntrusted)
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
