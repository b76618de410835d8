package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/app"
	"github.com/moat-dev/moat/internal/sign"
	"github.com/moat-dev/moat/internal/sign/keystore"
	"github.com/moat-dev/moat/internal/sign/truststore"
)

// signingStores are the key and trust stores on the server's database.
type signingStores struct {
	*adminStores
	keys  *keystore.Store
	trust *truststore.Store
}

func withSigning(f *storeFlags, fn func(cmd *cobra.Command, args []string, s *signingStores) error) func(*cobra.Command, []string) error {
	return withStores(f, func(cmd *cobra.Command, args []string, s *adminStores) error {
		keys, trust, err := app.OpenSigningStores(cmd.Context(), s.cfg, s.db)
		if err != nil {
			return err
		}
		return fn(cmd, args, &signingStores{adminStores: s, keys: keys, trust: trust})
	})
}

func newSigningCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{Use: "signing", Short: "Manage the registry's image signing keys",
		Long: `The registry signs images with a key it keeps in its database, sealed with the
master key (MOAT_MASTER_KEY, or <data-dir>/master.key; replicas share it).
The key is made on first use, under a registry CA.`}
	f.add(cmd)
	keys := &cobra.Command{
		Use:   "keys",
		Short: "List the signing keys, the active one first",
		Args:  cobra.NoArgs,
		RunE: withSigning(&f, func(cmd *cobra.Command, _ []string, s *signingStores) error {
			ks, err := s.keys.Keys(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tALGORITHM\tCREATED\tSUBJECT")
			for _, k := range ks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Status, k.Algorithm, k.CreatedAt.Format(time.RFC3339), k.Chain[0].Subject)
			}
			return tw.Flush()
		}),
	}
	var format, keyID string
	export := &cobra.Command{
		Use:   "export",
		Short: "Print the public key (for cosign verify --key) or the CA certificates (for a Notation trust store)",
		Long: `--format pem prints the public key of the active signing key (or --key ID)
for "cosign verify --key". --format x509 prints the root certificates of every
key, current and retired, for a Notation trust store of type ca. The key is
made first if there is none yet.`,
		Args: cobra.NoArgs,
		RunE: withSigning(&f, func(cmd *cobra.Command, _ []string, s *signingStores) error {
			active, err := s.keys.Signer(cmd.Context())
			if err != nil {
				return err
			}
			switch format {
			case "pem":
				id := active.ID
				if keyID != "" {
					id = keyID
				}
				k, err := s.keys.Key(cmd.Context(), id)
				if err != nil {
					return err
				}
				b, err := keystore.PublicPEM(k.Public())
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			case "x509":
				roots, _, err := s.keys.Trusted(cmd.Context())
				if err != nil {
					return err
				}
				for _, r := range roots {
					if _, err := cmd.OutOrStdout().Write(keystore.CertificatePEM(r)); err != nil {
						return err
					}
				}
				return nil
			}
			return fmt.Errorf("--format %q: want pem or x509", format)
		}),
	}
	export.Flags().StringVar(&format, "format", "pem", "pem (public key) or x509 (CA certificates)")
	export.Flags().StringVar(&keyID, "key", "", "with --format pem: the key to print (default the active one)")
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Retire the active key and make a new one; what the old key signed still verifies",
		Args:  cobra.NoArgs,
		RunE: withSigning(&f, func(cmd *cobra.Command, _ []string, s *signingStores) error {
			k, err := s.keys.Rotate(cmd.Context())
			if err = s.record(cmd.Context(), "signing:RotateKey", "registry", map[string]any{"key": k.ID}, err); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.ID)
			return nil
		}),
	}
	var keyFile, certFile string
	importCmd := &cobra.Command{
		Use:   "import --key KEY.pem --cert CHAIN.pem",
		Short: "Make an existing key (with its certificate chain, signing certificate first) the active one",
		Args:  cobra.NoArgs,
		RunE: withSigning(&f, func(cmd *cobra.Command, _ []string, s *signingStores) error {
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			chainPEM, err := os.ReadFile(certFile)
			if err != nil {
				return err
			}
			k, err := s.keys.Import(cmd.Context(), keyPEM, chainPEM)
			if err = s.record(cmd.Context(), "signing:ImportKey", "registry", map[string]any{"key": k.ID}, err); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.ID)
			return nil
		}),
	}
	importCmd.Flags().StringVar(&keyFile, "key", "", "the private key, PEM (PKCS#8, PKCS#1 or SEC 1, unencrypted)")
	importCmd.Flags().StringVar(&certFile, "cert", "", "the certificate chain, PEM, signing certificate first")
	importCmd.MarkFlagRequired("key")
	importCmd.MarkFlagRequired("cert")
	cmd.AddCommand(keys, export, rotate, importCmd)
	return cmd
}

func newTrustCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{Use: "trust", Short: "Manage the trust stores and trust policies signatures are verified against",
		Long: `Trust policies are Notation trustpolicy.json documents (version 1.0), stored by
name; their statements name trust stores as TYPE:NAME, where TYPE is ca,
signingAuthority or tsa (certificates) or cosign (public keys). The store
"moat" of each type holds the registry's own keys, and the policy "moat"
trusts them for every repository.`}
	f.add(cmd)

	store := &cobra.Command{Use: "store", Short: "Manage trust stores"}
	var typ string
	add := &cobra.Command{
		Use:   "add NAME FILE",
		Short: "Create or replace a trust store from a PEM file of certificates or public keys",
		Args:  cobra.ExactArgs(2),
		RunE: withSigning(&f, func(cmd *cobra.Command, args []string, s *signingStores) error {
			t, err := sign.ParseStoreType(typ)
			if err != nil {
				return err
			}
			b, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			err = s.trust.PutStore(cmd.Context(), t, args[0], b)
			return s.record(cmd.Context(), "trust:PutStore", "truststore/"+typ+":"+args[0], nil, err)
		}),
	}
	add.Flags().StringVar(&typ, "type", "ca", "ca, signingAuthority, tsa or cosign")
	storeList := &cobra.Command{
		Use:  "list",
		Args: cobra.NoArgs,
		RunE: withSigning(&f, func(cmd *cobra.Command, _ []string, s *signingStores) error {
			ss, err := s.trust.Stores(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "STORE\tENTRIES\tBUILT-IN")
			for _, st := range ss {
				fmt.Fprintf(tw, "%s:%s\t%d\t%v\n", st.Type, st.Name, st.Entries, st.BuiltIn)
			}
			return tw.Flush()
		}),
	}
	storeDel := &cobra.Command{
		Use:  "delete TYPE NAME",
		Args: cobra.ExactArgs(2),
		RunE: withSigning(&f, func(cmd *cobra.Command, args []string, s *signingStores) error {
			t, err := sign.ParseStoreType(args[0])
			if err != nil {
				return err
			}
			err = s.trust.DeleteStore(cmd.Context(), t, args[1])
			return s.record(cmd.Context(), "trust:DeleteStore", "truststore/"+args[0]+":"+args[1], nil, err)
		}),
	}
	store.AddCommand(add, storeList, storeDel)

	pol := &cobra.Command{Use: "policy", Short: "Manage trust policy documents"}
	var file string
	put := &cobra.Command{
		Use:   "put NAME --file trustpolicy.json",
		Short: "Create or replace a trust policy document",
		Args:  cobra.ExactArgs(1),
		RunE: withSigning(&f, func(cmd *cobra.Command, args []string, s *signingStores) error {
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			err = s.trust.PutPolicy(cmd.Context(), args[0], b, localActor())
			return s.record(cmd.Context(), "trust:PutPolicy", "trustpolicy/"+args[0], map[string]any{"document": rawOrText(b)}, err)
		}),
	}
	put.Flags().StringVar(&file, "file", "", "the trustpolicy.json document")
	put.MarkFlagRequired("file")
	show := &cobra.Command{
		Use:  "show NAME",
		Args: cobra.ExactArgs(1),
		RunE: withSigning(&f, func(cmd *cobra.Command, args []string, s *signingStores) error {
			p, err := s.trust.Policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(p.Document))
			return err
		}),
	}
	polList := &cobra.Command{
		Use:  "list",
		Args: cobra.NoArgs,
		RunE: withSigning(&f, func(cmd *cobra.Command, _ []string, s *signingStores) error {
			ps, err := s.trust.Policies(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POLICY\tBUILT-IN\tUPDATED BY")
			for _, p := range ps {
				fmt.Fprintf(tw, "%s\t%v\t%s\n", p.Name, p.BuiltIn, p.UpdatedBy)
			}
			return tw.Flush()
		}),
	}
	polDel := &cobra.Command{
		Use:  "delete NAME",
		Args: cobra.ExactArgs(1),
		RunE: withSigning(&f, func(cmd *cobra.Command, args []string, s *signingStores) error {
			err := s.trust.DeletePolicy(cmd.Context(), args[0])
			return s.record(cmd.Context(), "trust:DeletePolicy", "trustpolicy/"+args[0], nil, err)
		}),
	}
	pol.AddCommand(put, show, polList, polDel)
	cmd.AddCommand(store, pol)
	return cmd
}

// localActor names the OS user, as the audit records of commands do.
func localActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "local:" + u
	}
	return "local:unknown"
}

// rawOrText keeps a document for the audit log as JSON when it is.
func rawOrText(b []byte) any {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}
