package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/tlsconf"
	"github.com/moat-dev/moat/internal/tlsconf/localca"
)

// listenerSpec is one listener to open: the main one (addr, tls) or one
// of cfg.Listeners, with its TLS loaded. realm is its configured token
// realm, or "".
type listenerSpec struct {
	name, addr, realm string
	tls               *tlsconf.Server // nil: plain HTTP
	clientAuth        string
	certIdentity      bool
	// newCA is the CA file to print trust instructions for, when this
	// start made the local CA.
	newCA string
}

// listenerSpecs loads the TLS of every listener, making the local CA and
// certificate first when a listener asks for a self-signed one. Bad
// certificate files stop the start with the listener's config key named.
func listenerSpecs(cfg config.Config, log *slog.Logger) ([]listenerSpec, error) {
	type entry struct {
		key, name, addr, realm string
		tls                    config.TLS
	}
	// The main listener's realm is auth.realm, which covers every
	// listener without one of its own.
	entries := []entry{{"tls", cfg.Auth.Listener, cfg.Addr, "", cfg.TLS}}
	for i, l := range cfg.Listeners {
		entries = append(entries, entry{fmt.Sprintf("listeners[%d].tls", i), l.Name, l.Addr, l.Realm, l.TLS})
	}
	var local *localca.Result
	for _, e := range entries {
		if !e.tls.SelfSigned || local != nil {
			continue
		}
		// One server certificate covers every self-signed listener.
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		for _, e := range entries {
			if h := config.ClientHost(e.addr); e.tls.SelfSigned && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
		res, err := localca.Ensure(filepath.Join(cfg.DataDir, "tls"), hosts)
		if err != nil {
			return nil, fmt.Errorf("--tls-self-signed: %w", err)
		}
		local = &res
		if res.IssuedLeaf {
			log.Info("issued self-signed server certificate", "cert_file", res.CertFile, "hosts", strings.Join(hosts, ","), "not_after", res.NotAfter)
		}
		if !res.CreatedCA {
			log.Info("using local CA; clients must trust it", "ca_file", res.CAFile)
		}
	}
	specs := make([]listenerSpec, 0, len(entries))
	printed := false
	for _, e := range entries {
		sp := listenerSpec{name: e.name, addr: e.addr, realm: e.realm, clientAuth: "none", certIdentity: e.tls.ClientCertIdentity}
		if e.tls.Enabled() {
			files := tlsconf.Files{CertFile: e.tls.CertFile, KeyFile: e.tls.KeyFile,
				ClientCAFile: e.tls.ClientCAFile, ClientAuth: tlsconf.ClientAuth(e.tls.ClientAuthMode())}
			if e.tls.SelfSigned {
				files.CertFile, files.KeyFile = local.CertFile, local.KeyFile
				if local.CreatedCA && !printed {
					sp.newCA, printed = local.CAFile, true
				}
			}
			ts, err := tlsconf.Load(files, tlsconf.WithLogger(log.With("listener", e.name)))
			if err != nil {
				return nil, fmt.Errorf("%s (listener %s): %w", e.key, e.name, err)
			}
			sp.tls, sp.clientAuth = ts, e.tls.ClientAuthMode()
		}
		specs = append(specs, sp)
	}
	return specs, nil
}

// bindListeners opens the socket of every listener, in listenerSpecs'
// order: the main one (cfg.Addr), then cfg.Listeners. serve binds them
// before it touches the data directory or the database, so a start that
// cannot bind creates nothing. On error none stays open.
func bindListeners(cfg config.Config) ([]net.Listener, error) {
	type named struct{ name, addr string }
	all := []named{{cfg.Auth.Listener, cfg.Addr}}
	for _, l := range cfg.Listeners {
		all = append(all, named{l.Name, l.Addr})
	}
	lns := make([]net.Listener, 0, len(all))
	for _, a := range all {
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("listener %s: %w", a.name, err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// makeDataDir creates the data directory, private to moat's user and
// group (it holds the database and the token signing key). Missing
// parents get the usual 0755: with one mode for the whole path, a data
// directory under a new ./.tmp made .tmp unreachable for other users,
// such as the one scripts/postgres.sh runs PostgreSQL as.
func makeDataDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
