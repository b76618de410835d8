package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/scan/vulndb"
)

// defaultDBDir is the advisory database in the user's cache directory.
func defaultDBDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache directory: %w (use --db)", err)
	}
	return filepath.Join(d, "moat", "db"), nil
}

// dbLocation names the advisory database a db command works on: --db,
// or the server's (<data-dir>/vulndb, or scanning.db of --config) with
// --data-dir or --config, or else the user's cache directory, which moat
// scan reads by default.
type dbLocation struct {
	db, dataDir, config string
}

func (l *dbLocation) add(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&l.db, "db", "", "advisory database directory (default: the user's cache directory)/moat/db")
	f.StringVar(&l.dataDir, "data-dir", "", "work on the database of the server with this data directory (<data-dir>/vulndb)")
	f.StringVar(&l.config, "config", "", "work on the database of the server with this configuration file (scanning.db)")
	cmd.MarkFlagsMutuallyExclusive("db", "data-dir")
	cmd.MarkFlagsMutuallyExclusive("db", "config")
}

func (l *dbLocation) resolve(cmd *cobra.Command) (string, error) {
	if l.db != "" || !cmd.Flags().Changed("data-dir") && !cmd.Flags().Changed("config") {
		return resolveDBDir(l.db)
	}
	var fl config.Flags
	if cmd.Flags().Changed("data-dir") {
		fl.DataDir = &l.dataDir
	}
	cfg, err := loadConfig(l.config, fl)
	if err != nil {
		return "", err
	}
	return cfg.VulnDBDir(), nil
}

func resolveDBDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return defaultDBDir()
}

func newDBCmd() *cobra.Command {
	var loc dbLocation
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the advisory database (OSV, CISA KEV, EPSS, end-of-life data)",
		Long: `Manage an advisory database: the one moat scan reads (--db, default the
user's cache directory), or the one a server scans with (--data-dir or
--config: <data-dir>/vulndb or scanning.db). A running server picks an
update up within seconds and re-matches the images it affects.`,
	}
	loc.add(cmd)
	cmd.AddCommand(newDBUpdateCmd(&loc), newDBImportCmd(&loc), newDBStatusCmd(&loc))
	return cmd
}

func newDBUpdateCmd(loc *dbLocation) *cobra.Command {
	feeds := vulndb.DefaultFeeds()
	var ecosystems, eolProducts string
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download advisories and context feeds and swap them in atomically",
		Long: `Download OSV advisories (<base-url>/<Ecosystem>/all.zip for each ecosystem),
the CISA KEV catalog, EPSS scores and endoflife.date release data, then make
them the current database in one atomic step. An empty URL skips that feed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := loc.resolve(cmd)
			if err != nil {
				return err
			}
			feeds.Ecosystems = splitList(ecosystems)
			feeds.EOLProducts = splitList(eolProducts)
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			b := vulndb.NewBatch(time.Now)
			if err := vulndb.Fetch(cmd.Context(), nil, feeds, d, b); err != nil {
				return withOfflineHint(err)
			}
			m, err := vulndb.Commit(cmd.Context(), d, b)
			if err != nil {
				return err
			}
			return printMeta(cmd.OutOrStdout(), d, m, b.Sources(), time.Now())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&feeds.OSVBase, "base-url", feeds.OSVBase, "OSV bucket base URL")
	fl.StringVar(&ecosystems, "ecosystems", strings.Join(vulndb.DefaultEcosystems, ","), "OSV ecosystems to fetch, comma separated")
	fl.StringVar(&feeds.KEVURL, "kev-url", feeds.KEVURL, "CISA KEV JSON feed URL")
	fl.StringVar(&feeds.EPSSURL, "epss-url", feeds.EPSSURL, "EPSS CSV (optionally gzip) URL")
	fl.StringVar(&feeds.EOLBase, "eol-url", feeds.EOLBase, "endoflife.date release-data base URL (<url>/<product>.json)")
	fl.StringVar(&eolProducts, "eol-products", strings.Join(vulndb.DefaultEOLProducts, ","), "endoflife.date products, comma separated")
	return cmd
}

// feedSources says where each feed comes from, for offline imports.
func feedSources() string {
	return fmt.Sprintf(`Where to get the feeds (what moat db update downloads):
  OSV advisories  %s/<Ecosystem>/all.zip
                  (ecosystems: %s)
  CISA KEV        %s
  EPSS            %s
  end of life     %s/<product>.json
                  (products: %s)`,
		vulndb.DefaultOSVBase, strings.Join(vulndb.DefaultEcosystems, ", "),
		vulndb.DefaultKEVURL, vulndb.DefaultEPSSURL,
		vulndb.DefaultEOLBase, strings.Join(vulndb.DefaultEOLProducts, ", "))
}

// withOfflineHint adds to a download failure (no network, DNS, a proxy
// refusing) how to import the feeds without one.
func withOfflineHint(err error) error {
	var ue *url.Error
	var hs *vulndb.HTTPStatusError
	if !errors.As(err, &ue) && !errors.As(err, &hs) {
		return err
	}
	return fmt.Errorf(`%w

moat db update could not download the feeds. Without network access, fetch
them on another machine and import them here:
  moat db import DIR|FILE...   (see moat db import --help)

%s`, err, feedSources())
}

func newDBImportCmd(loc *dbLocation) *cobra.Command {
	return &cobra.Command{
		Use:   "import PATH...",
		Short: "Import advisories from local files (air-gapped sites)",
		Long: `Import from OSV zips, feed files or directory trees without network access.

A file is read by its own kind, whatever folder it is in:
  *.zip                   an OSV zip (<Ecosystem>/all.zip names the source)
  *.csv, *.csv.gz         EPSS scores (CVE;epss;percentile or FIRST's CSV)
  *.json                  the CISA KEV catalog, or an endoflife.date product
                          file (<product>.json)

A directory is read as follows:
  kev/*.json              CISA KEV catalog
  epss/**/*.csv[.gz]      EPSS scores
  eol/**/<product>.json   endoflife.date release data
  **/*.json               OSV records; the directory names the source
  **/*.zip                OSV zips (<Ecosystem>/all.zip names the source)

Each source found replaces the records previously imported from it; other
sources stay. Files of one kind given in one command add up (EPSS files
per CVE year, end-of-life files per product). The new database version
becomes current atomically.

` + feedSources(),
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := loc.resolve(cmd)
			if err != nil {
				return err
			}
			b := vulndb.NewBatch(time.Now)
			for _, p := range args {
				if err := b.AddPath(cmd.Context(), p); err != nil {
					return fmt.Errorf("import %s: %w", p, err)
				}
			}
			if len(b.Sources()) == 0 {
				return fmt.Errorf("import: nothing to import in %s", strings.Join(args, ", "))
			}
			m, err := vulndb.Commit(cmd.Context(), d, b)
			if err != nil {
				return err
			}
			return printMeta(cmd.OutOrStdout(), d, m, b.Sources(), time.Now())
		},
	}
}

func newDBStatusCmd(loc *dbLocation) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the database's sources, record counts and age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := loc.resolve(cmd)
			if err != nil {
				return err
			}
			db, err := vulndb.Open(d)
			if errors.Is(err, vulndb.ErrNoDatabase) {
				return fmt.Errorf("%w: run `moat db update` or `moat db import PATH`", err)
			}
			if err != nil {
				return err
			}
			defer db.Close()
			m := db.Meta()
			return printMeta(cmd.OutOrStdout(), d, m, m.Sources, time.Now())
		},
	}
}

func printMeta(w io.Writer, dir string, m vulndb.Meta, sources []vulndb.Source, now time.Time) error {
	fmt.Fprintf(w, "database  %s\nversion   %s (built %s, %s ago)\n", dir, m.Version,
		m.Created.Format(time.RFC3339), now.Sub(m.Created).Round(time.Second))
	fmt.Fprintf(w, "records   %d advisories for %d packages, %d KEV, %d EPSS, %d end-of-life products; %d package keys changed\n\n",
		m.Advisories, m.Keys, m.KEV, m.EPSS, m.EOL, m.Changed)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tRECORDS\tWITHDRAWN\tWARNINGS\tIMPORTED\tAGE")
	for _, s := range sources {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Kind, s.Records, s.Withdrawn, s.Warnings,
			s.Imported.Format(time.RFC3339), now.Sub(s.Imported).Round(time.Second))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range sources {
		for _, msg := range s.Messages {
			fmt.Fprintf(w, "warning: %s: %s\n", s.Name, msg)
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
