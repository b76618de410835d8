package config

import (
	"errors"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func ptr(s string) *string { return &s }

// load is Load of file ("" for none), failing the test on an error.
func load(t *testing.T, file string, env func(string) (string, bool), f Flags) Config {
	t.Helper()
	var r io.Reader
	if file != "" {
		r = strings.NewReader(file)
	}
	cfg, err := Load(r, env, f)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

func TestPrecedence(t *testing.T) {
	const file = "version: 1\naddr: 127.0.0.1:6000\ndataDir: /file/data\ndatabase: /file/meta.db\n"
	tests := []struct {
		name               string
		file               string // empty: no file
		env                func(string) (string, bool)
		flags              Flags
		addr, dataDir, dsn string
		storageRoot        string
	}{
		{
			name: "defaults", env: env(),
			addr: ":5000", dataDir: "./moat-data",
			dsn: filepath.Join("moat-data", "moat.db"), storageRoot: filepath.Join("moat-data", "blobs"),
		},
		{
			name: "file over defaults", file: file, env: env(),
			addr: "127.0.0.1:6000", dataDir: "/file/data", dsn: "/file/meta.db", storageRoot: "/file/data/blobs",
		},
		{
			name: "env over file", file: file,
			env:  env("MOAT_ADDR", ":7000", "MOAT_DATA_DIR", "/env/data", "MOAT_DATABASE", "postgres://u@db/moat"),
			addr: ":7000", dataDir: "/env/data", dsn: "postgres://u@db/moat", storageRoot: "/env/data/blobs",
		},
		{
			name: "flags over env over file", file: file,
			env:   env("MOAT_ADDR", ":7000", "MOAT_DATA_DIR", "/env/data", "MOAT_DATABASE", "/env/x.db"),
			flags: Flags{Addr: ptr(":8000"), DataDir: ptr("/flag/data"), Database: ptr("/flag/y.db")},
			addr:  ":8000", dataDir: "/flag/data", dsn: "/flag/y.db", storageRoot: "/flag/data/blobs",
		},
		{
			name: "flag only for one field", file: file,
			env:   env("MOAT_ADDR", ":7000"),
			flags: Flags{DataDir: ptr("/flag/data")},
			addr:  ":7000", dataDir: "/flag/data", dsn: "/file/meta.db", storageRoot: "/flag/data/blobs",
		},
		{
			name: "empty env database means default sqlite", file: file,
			env:  env("MOAT_DATABASE", ""),
			addr: "127.0.0.1:6000", dataDir: "/file/data", dsn: "/file/data/moat.db", storageRoot: "/file/data/blobs",
		},
		{
			name: "explicit storage root is not moved by data dir",
			file: "version: 1\nstorage:\n  root: /srv/blobs\n", env: env(),
			flags: Flags{DataDir: ptr("/flag/data")},
			addr:  ":5000", dataDir: "/flag/data", dsn: "/flag/data/moat.db", storageRoot: "/srv/blobs",
		},
		{
			name: "env storage root", env: env("MOAT_STORAGE_ROOT", "/env/blobs"),
			addr: ":5000", dataDir: "./moat-data", dsn: filepath.Join("moat-data", "moat.db"), storageRoot: "/env/blobs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := load(t, tt.file, tt.env, tt.flags)
			if cfg.Addr != tt.addr || cfg.DataDir != tt.dataDir || cfg.DatabaseDSN() != tt.dsn || cfg.StorageRoot() != tt.storageRoot {
				t.Errorf("got addr=%q dataDir=%q dsn=%q root=%q; want %q %q %q %q",
					cfg.Addr, cfg.DataDir, cfg.DatabaseDSN(), cfg.StorageRoot(),
					tt.addr, tt.dataDir, tt.dsn, tt.storageRoot)
			}
		})
	}
}

func TestParseFullFile(t *testing.T) {
	const doc = `
version: 1
addr: 0.0.0.0:5001
dataDir: /var/lib/moat
database: postgres://moat:secret@db:5432/moat?sslmode=disable
storage:
  driver: fs
  root: /mnt/blobs
uploads:
  ttl: 12h
  purgeInterval: 30m
  maxPerIdentity: 50
gc:
  interval: 2h
  grace: 90m
log:
  level: debug
  format: json
http:
  readHeaderTimeout: 5s
  idleTimeout: 1m
  shutdownTimeout: 45s
limits:
  maxHeaderBytes: 65536
auth:
  enabled: true
  service: registry.example
  realm: https://registry.example/auth/token
  tokenTTL: 10m
  maxTokenTTL: 168h
  defaultTokenTTL: 1h
  listener: private
`
	cfg, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Version: 1, Addr: "0.0.0.0:5001", DataDir: "/var/lib/moat",
		Database: Database{DSN: "postgres://moat:secret@db:5432/moat?sslmode=disable"},
		Storage:  Storage{Driver: "fs", Root: "/mnt/blobs"},
		Uploads:  Uploads{TTL: 12 * time.Hour, PurgeInterval: 30 * time.Minute, MaxPerIdentity: 50},
		GC:       GC{Interval: 2 * time.Hour, Grace: 90 * time.Minute},
		Log:      Log{Level: "debug", Format: "json"},
		HTTP:     HTTP{ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute, ShutdownTimeout: 45 * time.Second},
		Limits:   Limits{MaxHeaderBytes: 64 << 10},
		Auth: Auth{Enabled: true, Service: "registry.example", Realm: "https://registry.example/auth/token",
			TokenTTL: 10 * time.Minute, MaxTokenTTL: 168 * time.Hour, DefaultTokenTTL: time.Hour, Listener: "private"},
		Audit: defaultAudit(),
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	if got := cfg.DatabaseForLog(); strings.Contains(got, "secret") {
		t.Errorf("DatabaseForLog leaks the password: %s", got)
	}
}

// The database key takes the DSN alone, as every earlier file does, or a
// mapping that also sizes the pool; the environment and flags override
// each field on its own.
func TestDatabase(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		env      func(string) (string, bool)
		flags    Flags
		dsn      string
		maxConns int
	}{
		{name: "default", env: env(), dsn: filepath.Join("moat-data", "moat.db")},
		{name: "scalar", file: "version: 1\ndatabase: postgres://u@db/moat\n", env: env(), dsn: "postgres://u@db/moat"},
		{name: "mapping", file: "version: 1\ndatabase:\n  dsn: postgres://u@db/moat\n  maxConns: 30\n", env: env(),
			dsn: "postgres://u@db/moat", maxConns: 30},
		{name: "pool size alone keeps the default database", file: "version: 1\ndataDir: /d\ndatabase:\n  maxConns: 8\n", env: env(),
			dsn: "/d/moat.db", maxConns: 8},
		{name: "env pool size over file", file: "version: 1\ndatabase:\n  dsn: /f.db\n  maxConns: 30\n",
			env: env("MOAT_DATABASE_MAX_CONNS", "12"), dsn: "/f.db", maxConns: 12},
		{name: "env and flag database keep the file's pool size", file: "version: 1\ndatabase:\n  dsn: /f.db\n  maxConns: 30\n",
			env: env("MOAT_DATABASE", "/e.db"), flags: Flags{Database: ptr("/flag.db")}, dsn: "/flag.db", maxConns: 30},
		{name: "env pool size without a file", env: env("MOAT_DATABASE_MAX_CONNS", "3"), dsn: filepath.Join("moat-data", "moat.db"), maxConns: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := load(t, tt.file, tt.env, tt.flags)
			if cfg.DatabaseDSN() != tt.dsn || cfg.Database.MaxConns != tt.maxConns {
				t.Errorf("dsn=%q maxConns=%d; want %q %d", cfg.DatabaseDSN(), cfg.Database.MaxConns, tt.dsn, tt.maxConns)
			}
		})
	}
}

func TestParsePartialKeepsDefaults(t *testing.T) {
	cfg, err := Parse(strings.NewReader("version: 1\ngc:\n  interval: 5m\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if cfg.GC.Interval != 5*time.Minute || cfg.GC.Grace != d.GC.Grace || cfg.Addr != d.Addr || cfg.Uploads != d.Uploads {
		t.Errorf("partial file lost defaults: %+v", cfg)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "\n\n"} {
		cfg, err := Parse(strings.NewReader(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("%q: got %+v", doc, cfg)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown top-level key", "version: 1\nadress: :5000\n", "adress"},
		{"unknown nested key", "version: 1\ngc:\n  intervall: 1h\n", "intervall"},
		{"missing version", "addr: :5000\n", "missing \"version: 1\""},
		{"future version", "version: 2\n", "unsupported version 2"},
		{"duration without unit", "version: 1\ngc:\n  interval: 60\n", "line 3"},
		{"bad duration", "version: 1\nuploads:\n  ttl: soon\n", "line 3"},
		{"wrong type", "version: 1\nlimits:\n  maxHeaderBytes: lots\n", "line 3"},
		{"unknown database key", "version: 1\ndatabase:\n  url: /x.db\n", "url"},
		{"database pool size not a number", "version: 1\ndatabase:\n  maxConns: lots\n", "line 3"},
		{"database a list", "version: 1\ndatabase: [a]\n", "line 2"},
		{"two documents", "version: 1\n---\nversion: 1\n", "more than one YAML document"},
		{"not a mapping", "- a\n- b\n", "cannot unmarshal"},
		{"broken yaml", "version: 1\naddr: [\n", "yaml"},
		{"huge file", "version: 1\n#" + strings.Repeat("x", maxFileBytes) + "\n", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatal("want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name string
		env  func(string) (string, bool)
		want string
	}{
		{"bad duration", env("MOAT_GC_INTERVAL", "often"), "MOAT_GC_INTERVAL"},
		{"bad header integer", env("MOAT_LIMITS_MAX_HEADER_BYTES", "x"), "MOAT_LIMITS_MAX_HEADER_BYTES"},
		{"bad upload cap", env("MOAT_UPLOADS_MAX_PER_IDENTITY", "many"), "MOAT_UPLOADS_MAX_PER_IDENTITY"},
		{"bad pool size", env("MOAT_DATABASE_MAX_CONNS", "many"), "MOAT_DATABASE_MAX_CONNS"},
		{"negative pool size", env("MOAT_DATABASE_MAX_CONNS", "-3"), "database.maxConns"},
		{"invalid after apply", env("MOAT_LOG_FORMAT", "xml"), "log.format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(nil, tt.env, Flags{})
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func TestEveryEnvNameApplies(t *testing.T) {
	values := map[string]string{}
	for _, n := range EnvNames() {
		switch {
		case strings.HasPrefix(n, "MOAT_TLS_"):
			continue // some exclude others; TestTLSEnvAndFlags covers them
		case strings.HasPrefix(n, "MOAT_AUDIT_"):
			continue // TestAuditEnv covers them
		case strings.Contains(n, "TIMEOUT"), strings.Contains(n, "TTL"), strings.Contains(n, "INTERVAL"), strings.Contains(n, "GRACE"):
			values[n] = "7m"
		case strings.Contains(n, "BYTES"):
			values[n] = "65536"
		case strings.Contains(n, "MAX_PER"):
			values[n] = "17"
		case strings.Contains(n, "MAX_CONNS"):
			values[n] = "25"
		case n == "MOAT_ADDR":
			values[n] = "127.0.0.1:9999"
		case n == "MOAT_STORAGE_DRIVER":
			values[n] = "fs"
		case n == "MOAT_LOG_LEVEL":
			values[n] = "warn"
		case n == "MOAT_LOG_FORMAT":
			values[n] = "json"
		case n == "MOAT_AUTH_ENABLED":
			values[n] = "false"
		case n == "MOAT_AUTH_REALM":
			values[n] = "https://env.example/auth/token"
		case n == "MOAT_AUTH_SERVICE", n == "MOAT_AUTH_LISTENER":
			values[n] = "env-" + strings.ToLower(n[len("MOAT_AUTH_"):])
		default:
			values[n] = "/env/" + n
		}
	}
	cfg, err := Load(nil, func(k string) (string, bool) { v, ok := values[k]; return v, ok }, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	// Every field must differ from its default, proving each variable is wired.
	checks := map[string]bool{
		"addr": cfg.Addr != d.Addr, "dataDir": cfg.DataDir != d.DataDir, "database": cfg.Database.DSN != d.Database.DSN,
		"database.maxConns": cfg.Database.MaxConns != d.Database.MaxConns,
		"storage.root":      cfg.Storage.Root != d.Storage.Root, "uploads.ttl": cfg.Uploads.TTL != d.Uploads.TTL,
		"uploads.purgeInterval":  cfg.Uploads.PurgeInterval != d.Uploads.PurgeInterval,
		"uploads.maxPerIdentity": cfg.Uploads.MaxPerIdentity != d.Uploads.MaxPerIdentity,
		"gc.interval":            cfg.GC.Interval != d.GC.Interval, "gc.grace": cfg.GC.Grace != d.GC.Grace,
		"log.level": cfg.Log.Level != d.Log.Level, "log.format": cfg.Log.Format != d.Log.Format,
		"http.readHeaderTimeout": cfg.HTTP.ReadHeaderTimeout != d.HTTP.ReadHeaderTimeout,
		"http.idleTimeout":       cfg.HTTP.IdleTimeout != d.HTTP.IdleTimeout,
		"http.shutdownTimeout":   cfg.HTTP.ShutdownTimeout != d.HTTP.ShutdownTimeout,
		"limits.maxHeaderBytes":  cfg.Limits.MaxHeaderBytes != d.Limits.MaxHeaderBytes,
		"auth.enabled":           cfg.Auth.Enabled != d.Auth.Enabled,
		"auth.service":           cfg.Auth.Service != d.Auth.Service,
		"auth.realm":             cfg.Auth.Realm != d.Auth.Realm,
		"auth.tokenTTL":          cfg.Auth.TokenTTL != d.Auth.TokenTTL,
		"auth.maxTokenTTL":       cfg.Auth.MaxTokenTTL != d.Auth.MaxTokenTTL,
		"auth.defaultTokenTTL":   cfg.Auth.DefaultTokenTTL != d.Auth.DefaultTokenTTL,
		"auth.listener":          cfg.Auth.Listener != d.Auth.Listener,
	}
	for k, changed := range checks {
		if !changed {
			t.Errorf("%s not overridden by its environment variable", k)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []validateCase{
		{"defaults", func(*Config) {}, ""},
		{"ipv6 addr", func(c *Config) { c.Addr = "[::1]:5000" }, ""},
		{"postgresql scheme", func(c *Config) { c.Database.DSN = "postgresql://db/moat" }, ""},
		{"sqlite path", func(c *Config) { c.Database.DSN = "/tmp/x.db" }, ""},
		{"pool size", func(c *Config) { c.Database.MaxConns = 50 }, ""},
		{"disabled gc and purge", func(c *Config) { c.GC.Interval = 0; c.Uploads.PurgeInterval = 0 }, ""},
		{"addr without port", func(c *Config) { c.Addr = "localhost" }, "addr"},
		{"addr with bad port", func(c *Config) { c.Addr = ":http5" }, "port"},
		{"port out of range", func(c *Config) { c.Addr = ":70000" }, "port"},
		{"empty data dir", func(c *Config) { c.DataDir = " " }, "dataDir"},
		{"mysql url", func(c *Config) { c.Database.DSN = "mysql://u:pw@db/moat" }, "database"},
		{"negative pool size", func(c *Config) { c.Database.MaxConns = -1 }, "database.maxConns"},
		{"s3 driver", func(c *Config) { c.Storage.Driver = "s3" }, "storage.driver"},
		{"zero ttl", func(c *Config) { c.Uploads.TTL = 0 }, "uploads.ttl"},
		{"no upload cap", func(c *Config) { c.Uploads.MaxPerIdentity = 0 }, ""},
		{"negative upload cap", func(c *Config) { c.Uploads.MaxPerIdentity = -1 }, "uploads.maxPerIdentity"},
		{"negative gc interval", func(c *Config) { c.GC.Interval = -time.Second }, "gc.interval"},
		{"short grace", func(c *Config) { c.GC.Grace = time.Second }, "gc.grace"},
		{"bad level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"bad format", func(c *Config) { c.Log.Format = "xml" }, "log.format"},
		{"zero header timeout", func(c *Config) { c.HTTP.ReadHeaderTimeout = 0 }, "readHeaderTimeout"},
		{"zero shutdown timeout", func(c *Config) { c.HTTP.ShutdownTimeout = 0 }, "shutdownTimeout"},
		{"tiny header limit", func(c *Config) { c.Limits.MaxHeaderBytes = 10 }, "maxHeaderBytes"},
	}
	checkValidate(t, tests)
}

func TestValidateReportsEveryProblemWithoutSecrets(t *testing.T) {
	cfg := Default()
	cfg.Addr = "nope"
	cfg.Log.Format = "xml"
	cfg.Database.DSN = "mysql://user:hunter2@db/moat"
	err := cfg.Validate()
	for _, want := range []string{"addr", "log.format", "database"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error leaks the database password: %v", err)
	}
}

func TestSlogLevel(t *testing.T) {
	for _, name := range []string{"debug", "info", "warn", "error", "INFO"} {
		if _, err := (Log{Level: name}).SlogLevel(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAuth(t *testing.T) {
	cfg, err := Load(nil, env(), Flags{})
	if err != nil || !cfg.Auth.Enabled {
		t.Fatalf("access control off by default: %+v %v", cfg.Auth, err)
	}
	off, on := false, true
	if cfg, err = Load(nil, env(), Flags{Auth: &off}); err != nil || cfg.Auth.Enabled {
		t.Fatalf("--auth=false: %+v %v", cfg.Auth, err)
	}
	if cfg, err = Load(nil, env("MOAT_AUTH_ENABLED", "false"), Flags{Auth: &on}); err != nil || !cfg.Auth.Enabled {
		t.Errorf("--auth over the environment: %+v %v", cfg.Auth, err)
	}
	if cfg, err = Load(nil, env("MOAT_AUTH_ENABLED", "true"), Flags{Auth: &off}); err != nil || cfg.Auth.Enabled {
		t.Errorf("--auth=false over the environment: %+v %v", cfg.Auth, err)
	}
	if _, err := Load(nil, env("MOAT_AUTH_ENABLED", "yes please"), Flags{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad MOAT_AUTH_ENABLED: %v", err)
	}
	for name, mutate := range map[string]func(*Auth){
		"empty service":     func(a *Auth) { a.Service = "" },
		"quoted service":    func(a *Auth) { a.Service = `a"b` },
		"relative realm":    func(a *Auth) { a.Realm = "/auth/token" },
		"ftp realm":         func(a *Auth) { a.Realm = "ftp://x/auth/token" },
		"short token TTL":   func(a *Auth) { a.TokenTTL = 30 * time.Second },
		"long token TTL":    func(a *Auth) { a.TokenTTL = 2 * time.Hour },
		"long PAT cap":      func(a *Auth) { a.MaxTokenTTL = 400 * 24 * time.Hour },
		"PAT default > cap": func(a *Auth) { a.DefaultTokenTTL = 40 * 24 * time.Hour },
		"zero PAT default":  func(a *Auth) { a.DefaultTokenTTL = 0 },
		"no listener name":  func(a *Auth) { a.Listener = " " },
	} {
		c := Default()
		mutate(&c.Auth)
		if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "auth.") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// validateCase is Default() changed by mutate, and the config key its
// validation error must name ("" for a valid config).
type validateCase struct {
	name   string
	mutate func(*Config)
	want   string
}

func checkValidate(t *testing.T, tests []validateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}
