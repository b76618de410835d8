package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/app"
	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
	"github.com/moat-dev/moat/internal/audit/sqlaudit"
	"github.com/moat-dev/moat/internal/auth/identity"
	"github.com/moat-dev/moat/internal/auth/identity/sqlidentity"
	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/policystore"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/sqldb"
)

// The administration commands work directly on the database "moat serve"
// uses (same --data-dir, --database and --config), so they need no
// running server and no credentials: whoever can read the database is
// already trusted. A running server (every replica) picks up identity and
// policy changes within about a second: the stores bump the identity
// generation and the policy version, which servers poll. Changes are
// recorded in the audit log with the actor
// "local:<OS user>".

// storeFlags are the flags that locate the database, as for serve.
type storeFlags struct {
	dataDir, database, configFile string
}

func (f *storeFlags) add(cmd *cobra.Command) {
	def := config.Default()
	cmd.PersistentFlags().StringVar(&f.dataDir, "data-dir", def.DataDir, "data directory of the registry (holds the default SQLite database)")
	cmd.PersistentFlags().StringVar(&f.database, "database", "", "database: a postgres:// URL or an SQLite file (default <data-dir>/moat.db)")
	cmd.PersistentFlags().StringVar(&f.configFile, "config", "", "YAML configuration file (as for serve)")
}

// adminStores are the access-control stores opened on one database.
type adminStores struct {
	cfg      config.Config
	db       *sqldb.DB
	ids      *identity.Service // see identities
	policies *policystore.Store
	chain    *sqlaudit.Store
	audit    *audit.Log
}

// config loads the configuration as serve does, with the flags given.
func (f *storeFlags) config(cmd *cobra.Command) (config.Config, error) {
	var fl config.Flags
	if cmd.Flags().Changed("data-dir") {
		fl.DataDir = &f.dataDir
	}
	if cmd.Flags().Changed("database") {
		fl.Database = &f.database
	}
	path := f.configFile
	if !cmd.Flags().Changed("config") {
		path = os.Getenv("MOAT_CONFIG")
	}
	return loadConfig(path, fl)
}

func (f *storeFlags) open(cmd *cobra.Command) (*adminStores, error) {
	cfg, err := f.config(cmd)
	if err != nil {
		return nil, err
	}
	dsn := cfg.DatabaseDSN()
	if !sqldb.IsPostgres(dsn) {
		// Never create an empty database by mistake: a wrong --data-dir
		// would otherwise "verify" a fresh, empty log.
		if _, err := os.Stat(dsn); err != nil {
			return nil, fmt.Errorf("database %s: %w (is --data-dir or --database right?)", cfg.DatabaseForLog(), err)
		}
	}
	ctx := cmd.Context()
	db, err := app.OpenDatabase(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &adminStores{cfg: cfg, db: db}
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *adminStores) init(ctx context.Context) error {
	var err error
	if s.policies, err = policystore.New(ctx, s.db); err != nil {
		return err
	}
	if s.chain, err = sqlaudit.New(ctx, s.db); err != nil {
		return err
	}
	s.audit, err = audit.New(s.chain)
	return err
}

func (s *adminStores) Close() error { return s.db.Close() }

// identities opens the identity service on first use: it computes a
// password hash when built, which the audit commands need not pay for.
func (s *adminStores) identities(ctx context.Context) (*identity.Service, error) {
	if s.ids != nil {
		return s.ids, nil
	}
	is, err := sqlidentity.New(ctx, s.db)
	if err != nil {
		return nil, err
	}
	s.ids, err = identity.NewService(is)
	return s.ids, err
}

// record audits a change made from the command line and returns err,
// joined with a failure to record it.
func (s *adminStores) record(ctx context.Context, action, resource string, details map[string]any, err error) error {
	if aerr := s.audit.Record(ctx, audit.Op{Actor: localActor(), Action: action, Resource: resource, Details: details, Err: err}); aerr != nil {
		return errors.Join(err, fmt.Errorf("audit: %w", aerr))
	}
	return err
}

// withStores runs fn with the stores open.
func withStores(f *storeFlags, fn func(cmd *cobra.Command, args []string, s *adminStores) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		s, err := f.open(cmd)
		if err != nil {
			return err
		}
		defer s.Close()
		return fn(cmd, args, s)
	}
}

// withIdentities is withStores with the identity service open too.
func withIdentities(f *storeFlags, fn func(cmd *cobra.Command, args []string, s *adminStores) error) func(*cobra.Command, []string) error {
	return withStores(f, func(cmd *cobra.Command, args []string, s *adminStores) error {
		if _, err := s.identities(cmd.Context()); err != nil {
			return err
		}
		return fn(cmd, args, s)
	})
}

// readSecret reads a password from stdin (one line).
func readSecret(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, identity.MaxPasswordLen+2))
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func newAuditCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{Use: "audit", Short: "Verify and export the tamper-evident audit log"}
	f.add(cmd)
	var pubkeyFile string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain against its newest signed checkpoint; exit 1 naming what is wrong",
		Long: `Check the audit log's hash chain from its first record to its head, and
that it still holds the newest signed checkpoint (in <storage root>/audit-checkpoints)
with the hash that was signed: records removed from the end, even with the head
rewritten to match, or changed and rehashed, fail here.

The checkpoint's signature is checked with the public key of the checkpoint key
file (audit.checkpoint.keyFile, default <data-dir>/audit-checkpoint.key) or the
PEM public key given with --checkpoint-pubkey (see "moat audit pubkey").
Exit status 1 means tampered; 2 means it could not be checked.`,
		Args: cobra.NoArgs,
		RunE: withStores(&f, func(cmd *cobra.Command, _ []string, s *adminStores) error {
			pub, keyErr := checkpointPublicKey(s.cfg, pubkeyFile)
			if keyErr != nil && pubkeyFile != "" {
				return keyErr
			}
			cps, err := app.CheckpointStore(s.cfg)
			if err != nil {
				return err
			}
			res, err := checkpoint.Verify(cmd.Context(), s.chain, cps, pub)
			out := cmd.OutOrStdout()
			var (
				te *audit.TamperError
				me *checkpoint.MismatchError
			)
			switch {
			case errors.As(err, &te):
				fmt.Fprintf(out, "audit log TAMPERED: first bad record %d: %s\n", te.Seq, te.Reason)
				return exitError(1)
			case errors.As(err, &me):
				fmt.Fprintf(out, "audit log TAMPERED: checkpoint %d (signed %s): %s\n", me.Checkpoint.Seq, me.Checkpoint.Time.Format(time.RFC3339), me.Reason)
				return exitError(1)
			case errors.Is(err, audit.ErrTampered):
				fmt.Fprintf(out, "audit log TAMPERED: %v\n", err)
				return exitError(1)
			case errors.Is(err, checkpoint.ErrUnverifiable) && keyErr != nil:
				return fmt.Errorf("%w (checkpoint key: %v; give the public key with --checkpoint-pubkey)", err, keyErr)
			case err != nil:
				return err
			}
			fmt.Fprintf(out, "audit log OK: %d records, head %d %x", res.Report.Records, res.Report.Head.Seq, res.Report.Head.Hash)
			if cp := res.Checkpoint; cp != nil {
				fmt.Fprintf(out, "; holds checkpoint %d signed %s by key %s\n", cp.Seq, cp.Time.Format(time.RFC3339), cp.KeyID)
			} else {
				fmt.Fprintln(out, "; no checkpoint written yet")
			}
			return nil
		}),
	}
	verify.Flags().StringVar(&pubkeyFile, "checkpoint-pubkey", "", "PEM public key that verifies checkpoints (default: derived from the checkpoint key file)")
	pubkey := &cobra.Command{
		Use:   "pubkey",
		Short: "Print the PEM public key that verifies audit checkpoints, for verifiers who should not hold the private key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config(cmd)
			if err != nil {
				return err
			}
			key, err := checkpoint.LoadKey(cfg.AuditCheckpointKeyFile())
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(checkpoint.MarshalPublicKey(key.Public().(ed25519.PublicKey)))
			return err
		},
	}
	var fl struct{ actor, action, resource, result, since, until string }
	export := &cobra.Command{
		Use:   "export",
		Short: "Write audit records as JSON lines to stdout",
		Args:  cobra.NoArgs,
		RunE: withStores(&f, func(cmd *cobra.Command, _ []string, s *adminStores) error {
			filter := audit.Filter{Actor: fl.actor, Action: fl.action, ResourcePrefix: fl.resource, Result: fl.result}
			for _, p := range []struct {
				name, v string
				dst     *time.Time
			}{{"since", fl.since, &filter.Since}, {"until", fl.until, &filter.Until}} {
				if p.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, p.v)
				if err != nil {
					return fmt.Errorf("--%s %q: want RFC 3339 (2026-01-02T15:04:05Z)", p.name, p.v)
				}
				*p.dst = t
			}
			_, err := s.audit.Export(cmd.Context(), cmd.OutOrStdout(), filter)
			return err
		}),
	}
	export.Flags().StringVar(&fl.actor, "actor", "", "only records by this actor (user:alice, robot:ci)")
	export.Flags().StringVar(&fl.action, "action", "", "only this action (registry:Push)")
	export.Flags().StringVar(&fl.resource, "resource", "", "only resources with this prefix (repository/team-a/)")
	export.Flags().StringVar(&fl.result, "result", "", "only this result (success, failure, denied)")
	export.Flags().StringVar(&fl.since, "since", "", "only records at or after this time (RFC 3339)")
	export.Flags().StringVar(&fl.until, "until", "", "only records before this time (RFC 3339)")
	cmd.AddCommand(verify, export, pubkey)
	return cmd
}

// checkpointPublicKey reads the key that verifies checkpoints: the PEM
// public key in file, or else the public half of the checkpoint key file.
func checkpointPublicKey(cfg config.Config, file string) (ed25519.PublicKey, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--checkpoint-pubkey: %w", err)
		}
		pub, err := checkpoint.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("--checkpoint-pubkey %s: %w", file, err)
		}
		return pub, nil
	}
	key, err := checkpoint.LoadKey(cfg.AuditCheckpointKeyFile())
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}

func newUserCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{Use: "user", Short: "Manage users and group membership"}
	f.add(cmd)
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user; the password is read from stdin",
		Args:  cobra.ExactArgs(1),
		RunE: withIdentities(&f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			pw, err := readSecret(cmd.InOrStdin())
			if err != nil {
				return err
			}
			_, err = s.ids.CreateUser(cmd.Context(), args[0], pw)
			return s.record(cmd.Context(), "admin:CreateUser", "user/"+args[0], nil, err)
		}),
	}
	list := &cobra.Command{
		Use:  "list",
		Args: cobra.NoArgs,
		RunE: withIdentities(&f, func(cmd *cobra.Command, _ []string, s *adminStores) error {
			us, err := s.ids.Users(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDISABLED\tCREATED")
			for _, u := range us {
				fmt.Fprintf(tw, "%s\t%v\t%s\n", u.Name, u.Disabled, u.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		}),
	}
	del := &cobra.Command{
		Use:  "delete NAME",
		Args: cobra.ExactArgs(1),
		RunE: withIdentities(&f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			err := s.ids.DeleteUser(cmd.Context(), args[0])
			return s.record(cmd.Context(), "admin:DeleteUser", "user/"+args[0], nil, err)
		}),
	}
	join := &cobra.Command{
		Use:   "add-to-group USER GROUP",
		Short: "Put a user in a group, creating the group if needed",
		Args:  cobra.ExactArgs(2),
		RunE: withIdentities(&f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			ctx := cmd.Context()
			if _, err := s.ids.CreateGroup(ctx, args[1]); err == nil {
				if err := s.record(ctx, "admin:CreateGroup", "group/"+args[1], nil, nil); err != nil {
					return err
				}
			} else if !errors.Is(err, identity.ErrExists) {
				return err
			}
			err := s.ids.AddMember(ctx, args[1], args[0])
			return s.record(ctx, "admin:AddMember", "group/"+args[1], map[string]any{"user": args[0]}, err)
		}),
	}
	cmd.AddCommand(create, newUserPasswdCmd(&f), list, del, join)
	return cmd
}

func newRobotCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{Use: "robot", Short: "Manage robot accounts for automation"}
	f.add(cmd)
	var desc string
	var expires time.Duration
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a robot and print its username and secret (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: withIdentities(&f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			o := identity.RobotOptions{Description: desc}
			if expires > 0 {
				o.ExpiresAt = time.Now().Add(expires)
			}
			_, secret, err := s.ids.CreateRobot(cmd.Context(), args[0], o)
			if err = s.record(cmd.Context(), "admin:CreateRobot", "robot/"+args[0], nil, err); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "username: %s%s\nsecret: %s\n", identity.RobotUserPrefix, args[0], secret)
			return nil
		}),
	}
	create.Flags().StringVar(&desc, "description", "", "what the robot is for")
	create.Flags().DurationVar(&expires, "expires-in", 0, "expire the robot after this long (0: never)")
	list := &cobra.Command{
		Use:  "list",
		Args: cobra.NoArgs,
		RunE: withIdentities(&f, func(cmd *cobra.Command, _ []string, s *adminStores) error {
			rs, err := s.ids.Robots(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDISABLED\tEXPIRES\tDESCRIPTION")
			for _, r := range rs {
				exp := "never"
				if !r.ExpiresAt.IsZero() {
					exp = r.ExpiresAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", r.Name, r.Disabled, exp, r.Description)
			}
			return tw.Flush()
		}),
	}
	del := &cobra.Command{
		Use:  "delete NAME",
		Args: cobra.ExactArgs(1),
		RunE: withIdentities(&f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			err := s.ids.DeleteRobot(cmd.Context(), args[0])
			return s.record(cmd.Context(), "admin:DeleteRobot", "robot/"+args[0], nil, err)
		}),
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

var policyKinds = map[string]policy.Kind{"identity": policy.Identity, "resource": policy.Resource, "listener": policy.Listener}

func newPolicyCmd() *cobra.Command {
	var f storeFlags
	cmd := &cobra.Command{Use: "policy", Short: "Manage access policies and simulate decisions"}
	f.add(cmd)
	var kind, file string
	put := &cobra.Command{
		Use:   "put NAME --kind identity|resource|listener --file DOC.json",
		Short: "Create or replace a policy (validated before it is stored)",
		Args:  cobra.ExactArgs(1),
		RunE: withStores(&f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			k, ok := policyKinds[kind]
			if !ok {
				return fmt.Errorf("--kind %q: want identity, resource or listener", kind)
			}
			doc, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			details := map[string]any{"kind": kind}
			if err := checkPolicyFile(file, doc); err != nil {
				return s.record(cmd.Context(), "admin:PutPolicy", "policy/"+args[0], details, err)
			}
			details["document"] = json.RawMessage(doc)
			err = s.policies.Put(cmd.Context(), args[0], k, doc)
			return s.record(cmd.Context(), "admin:PutPolicy", "policy/"+args[0], details, err)
		}),
	}
	put.Flags().StringVar(&kind, "kind", "identity", "policy kind")
	put.Flags().StringVar(&file, "file", "", "JSON policy document")
	_ = put.MarkFlagRequired("file")
	attach := &cobra.Command{
		Use:   "attach NAME TYPE:TARGET",
		Short: "Attach a policy to user:NAME, group:NAME, robot:NAME, repository:NAME or listener:NAME",
		Args:  cobra.ExactArgs(2),
		RunE: withStores(&f, func(cmd *cobra.Command, args []string, s *adminStores) error {
			t, err := parseTarget(args[1])
			if err != nil {
				return err
			}
			err = s.policies.Attach(cmd.Context(), args[0], t)
			return s.record(cmd.Context(), "admin:AttachPolicy", "policy/"+args[0], map[string]any{"target": args[1]}, err)
		}),
	}
	var sim struct{ principal, action, resource, sourceIP, listener string }
	simulate := &cobra.Command{
		Use:   "simulate --principal user:alice --action registry:Push --resource team-a/app",
		Short: "Say whether the stored policies allow a request, and which statement decided",
		Args:  cobra.NoArgs,
		RunE: withIdentities(&f, func(cmd *cobra.Command, _ []string, s *adminStores) error {
			ctx := cmd.Context()
			set, _, err := s.policies.Load(ctx)
			if err != nil {
				return err
			}
			e, err := policy.Compile(set)
			if err != nil {
				return err
			}
			req := policy.Request{Action: policy.Action(sim.action), Resource: sim.resource, Context: policy.Context{Time: time.Now(), Listener: sim.listener}}
			if req.Resource != policy.RegistryResource && !strings.HasPrefix(req.Resource, policy.RepositoryPrefix) {
				req.Resource = policy.RepositoryResource(req.Resource)
			}
			if sim.sourceIP != "" {
				if req.Context.SourceIP, err = netip.ParseAddr(sim.sourceIP); err != nil {
					return fmt.Errorf("--source-ip: %w", err)
				}
			}
			if sim.principal == "anonymous" {
				req.Principal = policy.Principal{Type: policy.Anonymous}
			} else {
				p, err := s.ids.Lookup(ctx, sim.principal)
				if err != nil {
					return fmt.Errorf("--principal %q: %w", sim.principal, err)
				}
				req.Principal = p.Principal
			}
			var d policy.Decision
			if req.Action == policy.ActionListRepositories && req.Resource == policy.RegistryResource {
				d = e.DecideAny(req)
			} else {
				d = e.Decide(req)
			}
			fmt.Fprintln(cmd.OutOrStdout(), d.String())
			if !d.Allowed {
				return exitError(1)
			}
			return nil
		}),
	}
	simulate.Flags().StringVar(&sim.principal, "principal", "", "user:NAME, robot:NAME or anonymous")
	simulate.Flags().StringVar(&sim.action, "action", "", "action, e.g. registry:Pull")
	simulate.Flags().StringVar(&sim.resource, "resource", "", "repository name, repository/NAME or registry")
	simulate.Flags().StringVar(&sim.sourceIP, "source-ip", "", "source address for IpAddress conditions")
	simulate.Flags().StringVar(&sim.listener, "listener", "", "listener name for listener policies")
	for _, n := range []string{"principal", "action", "resource"} {
		_ = simulate.MarkFlagRequired(n)
	}
	cmd.AddCommand(put, newPolicyListCmd(&f), attach, newPolicyDetachCmd(&f), newPolicyDeleteCmd(&f), simulate)
	return cmd
}
