package main

import (
	"context"
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

	"github.com/moat-dev/moat/internal/audit"
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
	db       *sqldb.DB
	ids      *identity.Service // see identities
	policies *policystore.Store
	audit    *audit.Log
}

func (f *storeFlags) open(cmd *cobra.Command) (*adminStores, error) {
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
	cfg, err := loadConfig(path, fl)
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
	db, err := sqldb.Open(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", cfg.DatabaseForLog(), err)
	}
	s := &adminStores{db: db}
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
	as, err := sqlaudit.New(ctx, s.db)
	if err != nil {
		return err
	}
	s.audit, err = audit.New(as)
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

// record audits a change made from the command line.
func (s *adminStores) record(ctx context.Context, action, resource string, details map[string]any, err error) error {
	actor := "local:unknown"
	if u := os.Getenv("USER"); u != "" {
		actor = "local:" + u
	}
	e := audit.Entry{Actor: actor, Action: action, Resource: resource, Result: audit.ResultSuccess}
	if err != nil {
		e.Result = audit.ResultFailure
		if details == nil {
			details = map[string]any{}
		}
		details["error"] = err.Error()
	}
	if len(details) > 0 {
		b, merr := json.Marshal(details)
		if merr != nil {
			return errors.Join(err, merr)
		}
		e.Details = b
	}
	if _, aerr := s.audit.Append(ctx, e); aerr != nil {
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
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain; exit 1 naming the first bad record",
		Args:  cobra.NoArgs,
		RunE: withStores(&f, func(cmd *cobra.Command, _ []string, s *adminStores) error {
			rep, err := s.audit.Verify(cmd.Context())
			var te *audit.TamperError
			if errors.As(err, &te) {
				fmt.Fprintf(cmd.OutOrStdout(), "audit log TAMPERED: first bad record %d: %s\n", te.Seq, te.Reason)
				return exitError(1)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "audit log OK: %d records, head %d %x\n", rep.Records, rep.Head.Seq, rep.Head.Hash)
			return nil
		}),
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
	cmd.AddCommand(verify, export)
	return cmd
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
	cmd.AddCommand(create, list, del, join)
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
			err = s.policies.Put(cmd.Context(), args[0], k, doc)
			return s.record(cmd.Context(), "admin:PutPolicy", "policy/"+args[0], map[string]any{"kind": kind, "document": json.RawMessage(doc)}, err)
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
			typ, name, ok := strings.Cut(args[1], ":")
			if !ok {
				return fmt.Errorf("target %q: want TYPE:NAME", args[1])
			}
			err := s.policies.Attach(cmd.Context(), args[0], policystore.Target{Type: policystore.TargetType(typ), Name: name})
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
	cmd.AddCommand(put, attach, simulate)
	return cmd
}
