package config

import (
	"errors"
	"strings"
	"testing"
)

func TestTLSEnvAndFlags(t *testing.T) {
	cfg, err := Load(nil, env("MOAT_TLS_CERT_FILE", "/env/c.pem", "MOAT_TLS_KEY_FILE", "/env/k.pem",
		"MOAT_TLS_CLIENT_CA_FILE", "/env/ca.pem", "MOAT_TLS_CLIENT_AUTH", "optional",
		"MOAT_TLS_CLIENT_CERT_IDENTITY", "true"), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	want := TLS{CertFile: "/env/c.pem", KeyFile: "/env/k.pem", ClientCAFile: "/env/ca.pem", ClientAuth: "optional", ClientCertIdentity: true}
	if cfg.TLS != want {
		t.Errorf("env: %+v, want %+v", cfg.TLS, want)
	}
	// Flags win; --tls-self-signed needs the file settings cleared.
	empty, yes, req := "", true, "require"
	cfg, err = Load(nil, env("MOAT_TLS_CERT_FILE", "/env/c.pem", "MOAT_TLS_KEY_FILE", "/env/k.pem"),
		Flags{TLSCert: &empty, TLSKey: &empty, TLSSelfSigned: &yes, TLSClientCA: ptr("/flag/ca.pem"), TLSClientAuth: &req})
	if err != nil {
		t.Fatal(err)
	}
	want = TLS{SelfSigned: true, ClientCAFile: "/flag/ca.pem", ClientAuth: "require"}
	if cfg.TLS != want {
		t.Errorf("flags: %+v, want %+v", cfg.TLS, want)
	}
	if _, err := Load(nil, env("MOAT_TLS_SELF_SIGNED", "maybe"), Flags{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "MOAT_TLS_SELF_SIGNED") {
		t.Errorf("bad bool: %v", err)
	}
}

func TestTLSClientAuthDefault(t *testing.T) {
	for _, tc := range []struct {
		tls  TLS
		want string
	}{
		{TLS{}, "none"},
		{TLS{ClientCAFile: "ca.pem"}, "require"},
		{TLS{ClientCAFile: "ca.pem", ClientAuth: "optional"}, "optional"},
	} {
		if got := tc.tls.ClientAuthMode(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.tls, got, tc.want)
		}
	}
}

func TestParseListeners(t *testing.T) {
	const file = `version: 1
addr: :443
tls:
  certFile: /etc/moat/cert.pem
  keyFile: /etc/moat/key.pem
auth:
  listener: public
listeners:
  - name: private
    addr: 10.0.0.5:5000
  - name: mtls
    addr: :8443
    realm: https://registry.internal:8443/auth/token
    tls:
      selfSigned: true
      clientCAFile: /etc/moat/clients.pem
      clientAuth: require
      clientCertIdentity: true
`
	cfg, err := Load(strings.NewReader(file), env(), Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 2 || cfg.Listeners[0].Name != "private" || cfg.Listeners[1].TLS.ClientAuthMode() != "require" ||
		!cfg.Listeners[1].TLS.ClientCertIdentity || cfg.Listeners[0].TLS.Enabled() {
		t.Fatalf("listeners %+v", cfg.Listeners)
	}
	// Only a configured realm is fixed; without one, challenges name the
	// host each client used.
	if cfg.Listeners[0].Realm != "" || cfg.Listeners[1].Realm != "https://registry.internal:8443/auth/token" {
		t.Errorf("listener realms %q %q", cfg.Listeners[0].Realm, cfg.Listeners[1].Realm)
	}
	if _, err := Parse(strings.NewReader("version: 1\nlisteners:\n  - name: a\n    adress: :1\n")); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown listener key: %v", err)
	}
}

func TestValidateTLSAndListeners(t *testing.T) {
	files := TLS{CertFile: "c.pem", KeyFile: "k.pem"}
	tests := []validateCase{
		{"cert and key", func(c *Config) { c.TLS = files }, ""},
		{"self-signed", func(c *Config) { c.TLS.SelfSigned = true }, ""},
		{"client certificates as identity", func(c *Config) {
			c.TLS = files
			c.TLS.ClientCAFile, c.TLS.ClientCertIdentity = "ca.pem", true
		}, ""},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "c.pem" }, "tls.certFile \"c.pem\" is set without keyFile"},
		{"key without cert", func(c *Config) { c.TLS.KeyFile = "k.pem" }, "tls.keyFile \"k.pem\" is set without certFile"},
		{"self-signed and files", func(c *Config) { c.TLS = files; c.TLS.SelfSigned = true }, "tls.selfSigned excludes"},
		{"client CA without TLS", func(c *Config) { c.TLS.ClientCAFile = "ca.pem" }, "need TLS"},
		{"identity without TLS", func(c *Config) { c.TLS.ClientCertIdentity = true }, "need TLS"},
		{"client auth without CA", func(c *Config) { c.TLS = files; c.TLS.ClientAuth = "require" }, "tls.clientAuth require needs clientCAFile"},
		{"CA with client auth none", func(c *Config) { c.TLS = files; c.TLS.ClientCAFile, c.TLS.ClientAuth = "ca.pem", "none" }, "clientAuth is none"},
		{"unknown client auth", func(c *Config) { c.TLS = files; c.TLS.ClientAuth = "sometimes" }, "want none, optional or require"},
		{"identity without client auth", func(c *Config) { c.TLS = files; c.TLS.ClientCertIdentity = true }, "clientCertIdentity needs clientAuth"},
		{"listener", func(c *Config) { c.Listeners = []Listener{{Name: "private", Addr: "127.0.0.1:5001"}} }, ""},
		{"listeners on one port, other hosts", func(c *Config) {
			c.Addr = "10.0.0.1:5000"
			c.Listeners = []Listener{{Name: "b", Addr: "10.0.0.2:5000"}, {Name: "c", Addr: "[::1]:5000"}}
		}, ""},
		{"listeners on port 0", func(c *Config) { c.Addr = ":0"; c.Listeners = []Listener{{Name: "b", Addr: ":0"}} }, ""},
		{"listener without name", func(c *Config) { c.Listeners = []Listener{{Addr: ":5001"}} }, "listeners[0].name is empty"},
		{"listener name with space", func(c *Config) { c.Listeners = []Listener{{Name: "a b", Addr: ":5001"}} }, "listeners[0].name \"a b\""},
		{"listener named like the main one", func(c *Config) { c.Listeners = []Listener{{Name: "default", Addr: ":5001"}} }, "already the name of auth.listener"},
		{"duplicate listener names", func(c *Config) {
			c.Listeners = []Listener{{Name: "a", Addr: ":5001"}, {Name: "a", Addr: ":5002"}}
		}, "listeners[1].name \"a\" is already the name of listeners[0]"},
		{"listener on the main address", func(c *Config) { c.Listeners = []Listener{{Name: "a", Addr: "0.0.0.0:5000"}} }, "listeners[0].addr \"0.0.0.0:5000\" overlaps addr"},
		{"listener inside the main wildcard", func(c *Config) { c.Listeners = []Listener{{Name: "a", Addr: "127.0.0.1:5000"}} }, "overlaps addr"},
		{"wildcard over a listener", func(c *Config) {
			c.Listeners = []Listener{{Name: "a", Addr: "127.0.0.1:5001"}, {Name: "b", Addr: ":5001"}}
		}, "listeners[1].addr \":5001\" overlaps listeners[0].addr"},
		{"listener with bad addr", func(c *Config) { c.Listeners = []Listener{{Name: "a", Addr: "nope"}} }, "listeners[0].addr"},
		{"listener with relative realm", func(c *Config) { c.Listeners = []Listener{{Name: "a", Addr: ":1", Realm: "/auth"}} }, "listeners[0].realm"},
		{"listener TLS checked", func(c *Config) {
			c.Listeners = []Listener{{Name: "a", Addr: ":1", TLS: TLS{CertFile: "c.pem"}}}
		}, "listeners[0].tls.certFile"},
		{"bad main listener name", func(c *Config) { c.Auth.Listener = "pub lic" }, "auth.listener"},
	}
	checkValidate(t, tests)
}
