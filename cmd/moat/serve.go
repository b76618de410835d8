package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/app"
	"github.com/moat-dev/moat/internal/config"
)

func newServeCmd() *cobra.Command {
	def := config.Default()
	var addr, dataDir, database, configFile string
	var tlsCert, tlsKey, tlsClientCA, tlsClientAuth string
	var authOn, tlsSelfSigned bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the registry (OCI Distribution API at /v2/)",
		Long: `Run the registry.

Settings come from, in rising precedence: built-in defaults, the YAML file
given with --config (or MOAT_CONFIG), environment variables, and flags.
Environment variables: ` + fmt.Sprint(config.EnvNames()) + `.

With no settings, blobs go to ./moat-data/blobs and metadata to the SQLite
database ./moat-data/moat.db; --database postgres://... selects PostgreSQL.

Access control is on: the first start creates the user admin with the
password in MOAT_ADMIN_PASSWORD or prints a generated one, and nothing is
anonymous unless a policy grants it. --auth=false (auth.enabled: false,
MOAT_AUTH_ENABLED=false) serves everyone without credentials.

HTTPS: --tls-cert and --tls-key serve a certificate (reloaded when the
files change); --tls-self-signed makes a local CA and certificate under
<data-dir>/tls on first start and prints how to trust it. Further named
listeners, each with its own TLS, come from "listeners" in the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f config.Flags
			if cmd.Flags().Changed("addr") {
				f.Addr = &addr
			}
			if cmd.Flags().Changed("data-dir") {
				f.DataDir = &dataDir
			}
			if cmd.Flags().Changed("database") {
				f.Database = &database
			}
			if cmd.Flags().Changed("auth") {
				f.Auth = &authOn
			}
			for name, dst := range map[string]**string{"tls-cert": &f.TLSCert, "tls-key": &f.TLSKey,
				"tls-client-ca": &f.TLSClientCA, "tls-client-auth": &f.TLSClientAuth} {
				if cmd.Flags().Changed(name) {
					v, _ := cmd.Flags().GetString(name)
					*dst = &v
				}
			}
			if cmd.Flags().Changed("tls-self-signed") {
				f.TLSSelfSigned = &tlsSelfSigned
			}
			if !cmd.Flags().Changed("config") {
				configFile = os.Getenv("MOAT_CONFIG")
			}
			cfg, err := loadConfig(configFile, f)
			if err != nil {
				return err
			}
			return app.Run(cmd.Context(), cfg, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", def.Addr, "listen address HOST:PORT")
	cmd.Flags().StringVar(&dataDir, "data-dir", def.DataDir, "directory for blobs and the default SQLite database")
	cmd.Flags().StringVar(&database, "database", "", "metadata database: a postgres:// URL or an SQLite file (default <data-dir>/moat.db)")
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file")
	cmd.Flags().BoolVar(&authOn, "auth", def.Auth.Enabled, "require authentication and enforce access policies (token endpoint at /auth/token); --auth=false serves everyone without credentials")
	cmd.Flags().StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate chain (with --tls-key)")
	cmd.Flags().StringVar(&tlsKey, "tls-key", "", "private key of --tls-cert")
	cmd.Flags().StringVar(&tlsClientCA, "tls-client-ca", "", "PEM CA certificates that client certificates must chain to")
	cmd.Flags().StringVar(&tlsClientAuth, "tls-client-auth", "", "client certificates: none, optional or require (default require with --tls-client-ca, else none)")
	cmd.Flags().BoolVar(&tlsSelfSigned, "tls-self-signed", false, "serve HTTPS with a certificate from a local CA made under <data-dir>/tls (for trying HTTPS out)")
	return cmd
}

func loadConfig(path string, f config.Flags) (config.Config, error) {
	var file io.Reader
	if path != "" {
		fh, err := os.Open(path)
		if err != nil {
			return config.Config{}, fmt.Errorf("config file: %w", err)
		}
		defer fh.Close()
		file = fh
	}
	cfg, err := config.Load(file, os.LookupEnv, f)
	if err != nil && path != "" {
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, err
}
