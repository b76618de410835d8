package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the only configuration file version this build understands.
const Version = 1

// maxFileBytes caps how much of a configuration file is read; real files are
// a few hundred bytes, and the cap keeps a wrong path (a disk image, /dev/zero)
// from exhausting memory.
const maxFileBytes = 1 << 20

// ErrInvalid classifies every configuration error: malformed YAML, unknown
// keys, bad environment values and failed validation.
var ErrInvalid = errors.New("config: invalid")

// Config is the whole server configuration. The YAML keys are the lowerCamel
// names in the struct tags.
type Config struct {
	// Version must be 1 in a file. Defaults to 1.
	Version int `yaml:"version"`
	// Addr is the HOST:PORT the server listens on. Default ":5000".
	Addr string `yaml:"addr"`
	// DataDir holds the blobs and, by default, the SQLite database.
	// Default "./moat-data".
	DataDir string `yaml:"dataDir"`
	// Database selects the metadata database and sizes its connection
	// pool. The key takes the DSN alone ("database: postgres://...") or
	// a mapping with dsn and maxConns.
	Database Database `yaml:"database"`

	Storage Storage `yaml:"storage"`
	Uploads Uploads `yaml:"uploads"`
	GC      GC      `yaml:"gc"`
	Log     Log     `yaml:"log"`
	HTTP    HTTP    `yaml:"http"`
	Limits  Limits  `yaml:"limits"`
	Auth    Auth    `yaml:"auth"`
	Audit   Audit   `yaml:"audit"`
	// Scanning places the advisory database and, when set, owns the
	// scanning configuration (see Scanning).
	Scanning Scanning `yaml:"scanning"`
	// TLS secures the main listener (Addr). Off by default.
	TLS TLS `yaml:"tls"`
	// Listeners are further addresses served by the same process, each
	// with its own name (for listener policies) and TLS settings.
	Listeners []Listener `yaml:"listeners"`
	// Webhooks receive moat's events as signed CloudEvents (webhooks.go).
	Webhooks []Webhook `yaml:"webhooks"`
	// Signing says what the registry signs on push and which
	// repositories serve only signed images (signing.go).
	Signing Signing `yaml:"signing"`
	// MasterKeyFile holds the key that seals the registry's secrets
	// (signing keys) in the database, unless MOAT_MASTER_KEY is set;
	// replicas must share it. Default <dataDir>/master.key.
	MasterKeyFile string `yaml:"masterKeyFile"`
	// Repositories holds the defaults of every repository's settings.
	Repositories RepositoryDefaults `yaml:"repositories"`
	// Admission holds the rules images must pass to run in a cluster and
	// the inventory of where they run (admission.go).
	Admission Admission `yaml:"admission"`
}

// Database is the metadata database.
type Database struct {
	// DSN is a postgres:// URL or an SQLite file path. Empty means SQLite
	// at <dataDir>/moat.db.
	DSN string `yaml:"dsn"`
	// MaxConns bounds the connection pool: every connection on
	// PostgreSQL (per replica: keep replicas x maxConns under the
	// server's max_connections), the read-only connections on SQLite,
	// which always has one writer connection besides. 0 means the
	// default: 10 on PostgreSQL, 4 on SQLite.
	MaxConns int `yaml:"maxConns"`
}

// UnmarshalYAML reads either form of the database key: a scalar is the
// DSN (the form every earlier configuration uses), a mapping holds dsn
// and maxConns. Unknown keys in the mapping are errors, as elsewhere.
func (d *Database) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return n.Decode(&d.DSN)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; k.Value {
		case "dsn", "maxConns":
		default:
			return fmt.Errorf("line %d: field %s not found in database (want dsn or maxConns)", k.Line, k.Value)
		}
	}
	type plain Database // without this method, so Decode does not recurse
	return n.Decode((*plain)(d))
}

// TLS configures HTTPS on one listener. It is on when CertFile or
// SelfSigned is set; HTTP/2 is then offered too.
type TLS struct {
	// CertFile is the PEM certificate chain (server certificate first);
	// KeyFile its private key. Both or neither. Changes to the files are
	// picked up without a restart.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// SelfSigned makes (on first start) and uses a local CA and server
	// certificate under <dataDir>/tls, for trying HTTPS out. Excludes
	// CertFile and KeyFile.
	SelfSigned bool `yaml:"selfSigned"`
	// ClientCAFile holds the CAs that client certificates must chain to.
	ClientCAFile string `yaml:"clientCAFile"`
	// ClientAuth is none, optional (verify a certificate when one is
	// sent) or require. Default: require when ClientCAFile is set, else
	// none.
	ClientAuth string `yaml:"clientAuth"`
	// ClientCertIdentity lets a verified client certificate log in the
	// user (or robot, for a common name "robot+NAME") named by its
	// subject common name, on requests without other credentials. Off by
	// default: client certificates often only gate the network.
	ClientCertIdentity bool `yaml:"clientCertIdentity"`
}

// Enabled reports whether the listener serves HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.SelfSigned }

// ClientAuthMode is ClientAuth with its default applied.
func (t TLS) ClientAuthMode() string {
	switch {
	case t.ClientAuth != "":
		return t.ClientAuth
	case t.ClientCAFile != "":
		return "require"
	}
	return "none"
}

// Listener is an extra address the server binds.
type Listener struct {
	// Name identifies the listener in policies (moat:Listener). Names
	// are unique, and differ from auth.listener, the main listener's.
	Name string `yaml:"name"`
	// Addr is HOST:PORT.
	Addr string `yaml:"addr"`
	// Realm is the token endpoint URL sent to clients of this listener.
	// Empty means auth.realm, or /auth/token on the scheme and host each
	// client used.
	Realm string `yaml:"realm"`
	TLS   TLS    `yaml:"tls"`
}

// Auth configures authentication (users, robots, the token endpoint at
// /auth/token) and policy-based authorization of every request.
type Auth struct {
	// Enabled turns access control on: every request is authenticated
	// and authorized, and nothing is anonymous unless a policy grants it.
	// Default true. Turning it off ("moat serve --auth=false") leaves the
	// registry open to everyone who can reach it.
	Enabled bool `yaml:"enabled"`
	// Service is the registry's name in tokens and challenges (the JWT
	// audience and issuer). Default "moat".
	Service string `yaml:"service"`
	// Realm is the absolute token endpoint URL sent in challenges. Empty
	// means /auth/token on the scheme and host each client used (the
	// Host header it sent), which suits clients that reach the registry
	// by one name; set it when a proxy in front changes the host.
	Realm string `yaml:"realm"`
	// TokenTTL is how long an access token lasts. Default 5m.
	TokenTTL time.Duration `yaml:"tokenTTL"`
	// MaxTokenTTL caps the lifetime of personal access tokens: a longer
	// one is refused. Default 720h (30 days).
	MaxTokenTTL time.Duration `yaml:"maxTokenTTL"`
	// DefaultTokenTTL is a personal access token's lifetime when its
	// creator names none. Default 12h; at most maxTokenTTL.
	DefaultTokenTTL time.Duration `yaml:"defaultTokenTTL"`
	// Listener names this server's listener for listener policies (the
	// moat:Listener condition key). Default "default".
	Listener string `yaml:"listener"`
}

// Storage selects and configures the blob storage driver.
type Storage struct {
	// Driver is the blob driver; only "fs" exists. Default "fs".
	Driver string `yaml:"driver"`
	// Root is the fs driver's directory. Empty means <dataDir>/blobs.
	Root string `yaml:"root"`
}

// Uploads controls abandoned upload sessions.
type Uploads struct {
	// TTL is how long an upload may sit idle before it is purged.
	// Default 24h.
	TTL time.Duration `yaml:"ttl"`
	// PurgeInterval is how often stale uploads are looked for; 0 disables
	// purging. Default 1h.
	PurgeInterval time.Duration `yaml:"purgeInterval"`
	// MaxPerIdentity caps the upload sessions one user or robot may hold
	// open; beyond it a new upload is answered 429 TOOMANYREQUESTS. 0
	// disables the cap. Default 200: far above a parallel push, far below
	// what a runaway or hostile client can open in seconds.
	MaxPerIdentity int `yaml:"maxPerIdentity"`
}

// GC controls online garbage collection of unreferenced blobs.
type GC struct {
	// Interval between collections; 0 disables online GC. Default 1h.
	Interval time.Duration `yaml:"interval"`
	// Grace protects blobs touched more recently than this, so a blob an
	// in-flight push is about to reference is never collected. Default 1h.
	Grace time.Duration `yaml:"grace"`
}

// Log configures the process logger and the access log.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// HTTP holds listener timeouts. There is deliberately no write or read
// timeout for whole requests: a 1 GiB layer push over a slow link must not
// be cut off; idle and header timeouts bound slow-loris clients instead.
type HTTP struct {
	// ReadHeaderTimeout bounds reading request headers. Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"readHeaderTimeout"`
	// IdleTimeout closes idle keep-alive connections. Default 2m.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
	// ShutdownTimeout is how long in-flight requests may drain after
	// SIGTERM before connections are closed. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdownTimeout"`
}

// Limits bound what clients may send.
type Limits struct {
	// MaxHeaderBytes bounds request headers. Default 1 MiB.
	MaxHeaderBytes int `yaml:"maxHeaderBytes"`
}

// Default returns the configuration used when nothing is configured.
func Default() Config {
	return Config{
		Version: Version,
		Addr:    ":5000",
		DataDir: "./moat-data",
		Storage: Storage{Driver: "fs"},
		Uploads: Uploads{TTL: 24 * time.Hour, PurgeInterval: time.Hour, MaxPerIdentity: 200},
		GC:      GC{Interval: time.Hour, Grace: time.Hour},
		Log:     Log{Level: "info", Format: "text"},
		HTTP: HTTP{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ShutdownTimeout:   30 * time.Second,
		},
		Limits: Limits{MaxHeaderBytes: 1 << 20},
		Auth: Auth{Enabled: true, Service: "moat", TokenTTL: 5 * time.Minute, Listener: "default",
			MaxTokenTTL: 30 * 24 * time.Hour, DefaultTokenTTL: 12 * time.Hour},
		Audit: defaultAudit(),
	}
}

// Parse reads a YAML configuration over the defaults. An empty document
// yields the defaults; a non-empty one must say "version: 1". Unknown keys
// are errors.
func Parse(r io.Reader) (Config, error) {
	cfg := Default()
	data, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return Config{}, fmt.Errorf("config: read: %w", err)
	}
	if len(data) > maxFileBytes {
		return Config{}, fmt.Errorf("%w: file larger than %d bytes", ErrInvalid, maxFileBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// Decode into a copy whose version is unset, so a file that omits it
	// is caught rather than inheriting the default.
	file := cfg
	file.Version = 0
	switch err := dec.Decode(&file); {
	case errors.Is(err, io.EOF):
		return cfg, nil
	case err != nil:
		return Config{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("%w: more than one YAML document", ErrInvalid)
	}
	if file.Version != Version {
		if file.Version == 0 {
			return Config{}, fmt.Errorf("%w: missing \"version: %d\"", ErrInvalid, Version)
		}
		return Config{}, fmt.Errorf("%w: unsupported version %d (this build reads version %d)", ErrInvalid, file.Version, Version)
	}
	return file, nil
}

// EnvPrefix starts every environment variable that overrides the file.
const EnvPrefix = "MOAT_"

// envVar is one environment override: its name without the prefix and how
// it sets the field.
type envVar struct {
	name string
	set  func(c *Config, v string) error
}

func str(f func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

func dur(f func(c *Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*f(c) = d
		return nil
	}
}

func integer(f func(c *Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		*f(c) = n
		return nil
	}
}

func boolean(f func(c *Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		*f(c) = b
		return nil
	}
}

// envVars lists every override; EnvNames exposes the names for help text.
var envVars = []envVar{
	{"ADDR", str(func(c *Config) *string { return &c.Addr })},
	{"DATA_DIR", str(func(c *Config) *string { return &c.DataDir })},
	{"DATABASE", str(func(c *Config) *string { return &c.Database.DSN })},
	{"DATABASE_MAX_CONNS", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		c.Database.MaxConns = n
		return err
	}},
	{"STORAGE_DRIVER", str(func(c *Config) *string { return &c.Storage.Driver })},
	{"STORAGE_ROOT", str(func(c *Config) *string { return &c.Storage.Root })},
	{"UPLOADS_TTL", dur(func(c *Config) *time.Duration { return &c.Uploads.TTL })},
	{"UPLOADS_PURGE_INTERVAL", dur(func(c *Config) *time.Duration { return &c.Uploads.PurgeInterval })},
	{"UPLOADS_MAX_PER_IDENTITY", integer(func(c *Config) *int { return &c.Uploads.MaxPerIdentity })},
	{"GC_INTERVAL", dur(func(c *Config) *time.Duration { return &c.GC.Interval })},
	{"GC_GRACE", dur(func(c *Config) *time.Duration { return &c.GC.Grace })},
	{"LOG_LEVEL", str(func(c *Config) *string { return &c.Log.Level })},
	{"LOG_FORMAT", str(func(c *Config) *string { return &c.Log.Format })},
	{"HTTP_READ_HEADER_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.HTTP.ReadHeaderTimeout })},
	{"HTTP_IDLE_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout })},
	{"HTTP_SHUTDOWN_TIMEOUT", dur(func(c *Config) *time.Duration { return &c.HTTP.ShutdownTimeout })},
	{"AUTH_ENABLED", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.Auth.Enabled = b
		return err
	}},
	{"AUTH_SERVICE", str(func(c *Config) *string { return &c.Auth.Service })},
	{"AUTH_REALM", str(func(c *Config) *string { return &c.Auth.Realm })},
	{"AUTH_TOKEN_TTL", dur(func(c *Config) *time.Duration { return &c.Auth.TokenTTL })},
	{"AUTH_MAX_TOKEN_TTL", dur(func(c *Config) *time.Duration { return &c.Auth.MaxTokenTTL })},
	{"AUTH_DEFAULT_TOKEN_TTL", dur(func(c *Config) *time.Duration { return &c.Auth.DefaultTokenTTL })},
	{"AUTH_LISTENER", str(func(c *Config) *string { return &c.Auth.Listener })},
	{"TLS_CERT_FILE", str(func(c *Config) *string { return &c.TLS.CertFile })},
	{"TLS_KEY_FILE", str(func(c *Config) *string { return &c.TLS.KeyFile })},
	{"TLS_CLIENT_CA_FILE", str(func(c *Config) *string { return &c.TLS.ClientCAFile })},
	{"TLS_CLIENT_AUTH", str(func(c *Config) *string { return &c.TLS.ClientAuth })},
	{"TLS_SELF_SIGNED", boolean(func(c *Config) *bool { return &c.TLS.SelfSigned })},
	{"TLS_CLIENT_CERT_IDENTITY", boolean(func(c *Config) *bool { return &c.TLS.ClientCertIdentity })},
	{"LIMITS_MAX_HEADER_BYTES", integer(func(c *Config) *int { return &c.Limits.MaxHeaderBytes })},
}

// EnvNames returns the names of all environment overrides, prefix included.
func EnvNames() []string {
	var names []string
	for _, e := range allEnvVars() {
		names = append(names, EnvPrefix+e.name)
	}
	return names
}

// allEnvVars lists every override, the audit block's included.
func allEnvVars() []envVar {
	all := append(envVars[:len(envVars):len(envVars)], auditEnvVars...)
	return append(all, envVar{"SCANNING_DB", str(func(c *Config) *string { return &c.Scanning.DB })},
		envVar{"MASTER_KEY_FILE", str(func(c *Config) *string { return &c.MasterKeyFile })})
}

// ApplyEnv overrides fields from environment variables found by lookup
// (os.LookupEnv in production). A variable that is set but empty counts as
// set: MOAT_DATABASE= selects the default SQLite database.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) error {
	var errs []error
	for _, e := range allEnvVars() {
		v, ok := lookup(EnvPrefix + e.name)
		if !ok {
			continue
		}
		if err := e.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s%s=%q: %v", ErrInvalid, EnvPrefix, e.name, v, err))
		}
	}
	return errors.Join(errs...)
}

// Flags are command-line overrides; a nil field was not given.
type Flags struct {
	Addr     *string
	DataDir  *string
	Database *string
	// Auth turns access control on (--auth).
	Auth *bool
	// TLS of the main listener (--tls-cert, --tls-key, --tls-client-ca,
	// --tls-client-auth, --tls-self-signed).
	TLSCert, TLSKey, TLSClientCA, TLSClientAuth *string
	TLSSelfSigned                               *bool
}

// ApplyFlags overrides fields from command-line flags.
func (c *Config) ApplyFlags(f Flags) {
	if f.Addr != nil {
		c.Addr = *f.Addr
	}
	if f.DataDir != nil {
		c.DataDir = *f.DataDir
	}
	if f.Database != nil {
		c.Database.DSN = *f.Database
	}
	if f.Auth != nil {
		c.Auth.Enabled = *f.Auth
	}
	for _, o := range []struct {
		flag *string
		dst  *string
	}{{f.TLSCert, &c.TLS.CertFile}, {f.TLSKey, &c.TLS.KeyFile}, {f.TLSClientCA, &c.TLS.ClientCAFile}, {f.TLSClientAuth, &c.TLS.ClientAuth}} {
		if o.flag != nil {
			*o.dst = *o.flag
		}
	}
	if f.TLSSelfSigned != nil {
		c.TLS.SelfSigned = *f.TLSSelfSigned
	}
}

// Load applies, in order of increasing precedence, the defaults, the file
// (nil for none), the environment and the flags, then validates the result.
func Load(file io.Reader, lookup func(string) (string, bool), f Flags) (Config, error) {
	cfg := Default()
	if file != nil {
		var err error
		if cfg, err = Parse(file); err != nil {
			return Config{}, err
		}
	}
	if lookup != nil {
		if err := cfg.ApplyEnv(lookup); err != nil {
			return Config{}, err
		}
	}
	cfg.ApplyFlags(f)
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports every problem at once, each naming the offending key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if c.Version != Version {
		bad("version %d unsupported (want %d)", c.Version, Version)
	}
	if err := checkAddr(c.Addr); err != nil {
		bad("addr %v", err)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		bad("dataDir is empty")
	}
	if c.Database.DSN != "" && isURL(c.Database.DSN) && !isPostgres(c.Database.DSN) {
		bad("database %q: only postgres:// or postgresql:// URLs or an SQLite file path are supported", redact(c.Database.DSN))
	}
	if c.Database.MaxConns < 0 {
		bad("database.maxConns %d must not be negative (0 means the default)", c.Database.MaxConns)
	}
	if c.Storage.Driver != "fs" {
		bad("storage.driver %q: only \"fs\" is supported", c.Storage.Driver)
	}
	if c.Uploads.TTL <= 0 {
		bad("uploads.ttl %s must be positive", c.Uploads.TTL)
	}
	if c.Uploads.MaxPerIdentity < 0 {
		bad("uploads.maxPerIdentity %d must not be negative (0 disables the cap)", c.Uploads.MaxPerIdentity)
	}
	if c.Uploads.PurgeInterval < 0 {
		bad("uploads.purgeInterval %s must not be negative (0 disables)", c.Uploads.PurgeInterval)
	}
	if c.GC.Interval < 0 {
		bad("gc.interval %s must not be negative (0 disables)", c.GC.Interval)
	}
	// A grace period shorter than an upload's life would let GC delete a blob
	// a slow push is about to reference; a minute is the least that is sane.
	if c.GC.Grace < time.Minute {
		bad("gc.grace %s must be at least 1m", c.GC.Grace)
	}
	if _, err := c.Log.SlogLevel(); err != nil {
		bad("log.level %q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format %q: want text or json", c.Log.Format)
	}
	if c.HTTP.ReadHeaderTimeout <= 0 {
		bad("http.readHeaderTimeout %s must be positive", c.HTTP.ReadHeaderTimeout)
	}
	if c.HTTP.IdleTimeout <= 0 {
		bad("http.idleTimeout %s must be positive", c.HTTP.IdleTimeout)
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		bad("http.shutdownTimeout %s must be positive", c.HTTP.ShutdownTimeout)
	}
	if c.Limits.MaxHeaderBytes < 4096 {
		bad("limits.maxHeaderBytes %d must be at least 4096", c.Limits.MaxHeaderBytes)
	}
	if strings.TrimSpace(c.Auth.Service) == "" || strings.ContainsAny(c.Auth.Service, "\"\\ \t\r\n") {
		bad("auth.service %q: want a non-empty name without spaces or quotes", c.Auth.Service)
	}
	if c.Auth.Realm != "" {
		if u, err := url.Parse(c.Auth.Realm); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("auth.realm %q: want an absolute http(s) URL such as https://registry.example/auth/token", c.Auth.Realm)
		}
	}
	// A token's credential is rechecked on every request, but a signed
	// token cannot be recalled from a client: keep its life short. The
	// issuer needs at least 1m.
	if c.Auth.TokenTTL < time.Minute || c.Auth.TokenTTL > time.Hour {
		bad("auth.tokenTTL %s must be between 1m and 1h", c.Auth.TokenTTL)
	}
	if c.Auth.MaxTokenTTL < time.Minute || c.Auth.MaxTokenTTL > 366*24*time.Hour {
		bad("auth.maxTokenTTL %s must be between 1m and 8784h (366 days)", c.Auth.MaxTokenTTL)
	}
	if c.Auth.DefaultTokenTTL < time.Minute || c.Auth.DefaultTokenTTL > c.Auth.MaxTokenTTL {
		bad("auth.defaultTokenTTL %s must be between 1m and auth.maxTokenTTL (%s)", c.Auth.DefaultTokenTTL, c.Auth.MaxTokenTTL)
	}
	if err := checkListenerName(c.Auth.Listener); err != nil {
		bad("auth.listener %v", err)
	}
	errs = append(errs, c.TLS.validate("tls")...)
	errs = append(errs, c.validateListeners()...)
	errs = append(errs, c.Audit.validate()...)
	errs = append(errs, c.validateScanning()...)
	errs = append(errs, c.validateWebhooks()...)
	errs = append(errs, c.validateSigning()...)
	errs = append(errs, c.validateAdmission()...)
	if err := c.Repositories.TagMutability().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: repositories: %v", ErrInvalid, err))
	}
	if i := c.Repositories.LifecycleInterval; i != 0 && i < time.Second {
		errs = append(errs, fmt.Errorf("%w: repositories.lifecycleInterval %s: want 1s or more", ErrInvalid, i))
	}
	return errors.Join(errs...)
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT (e.g. :5000 or 127.0.0.1:5000): %v", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: port %q is not a number 0-65535", addr, port)
	}
	return nil
}

// checkListenerName keeps names usable as policy condition values.
func checkListenerName(name string) error {
	if name == "" {
		return errors.New("is empty")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%q: use letters, digits, '-', '_' and '.' only", name)
		}
	}
	return nil
}

// validate checks one TLS block; key names the block ("tls",
// "listeners[1].tls"). Whether the files exist and match is checked when
// they are loaded, at start-up.
func (t TLS) validate(key string) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s."+format, append([]any{ErrInvalid, key}, args...)...))
	}
	switch {
	case t.SelfSigned && (t.CertFile != "" || t.KeyFile != ""):
		bad("selfSigned excludes certFile and keyFile: use one or the other")
	case t.CertFile != "" && t.KeyFile == "":
		bad("certFile %q is set without keyFile", t.CertFile)
	case t.KeyFile != "" && t.CertFile == "":
		bad("keyFile %q is set without certFile", t.KeyFile)
	}
	mode := t.ClientAuthMode()
	switch mode {
	case "none", "optional", "require":
	default:
		bad("clientAuth %q: want none, optional or require", t.ClientAuth)
	}
	if !t.Enabled() && (t.ClientCAFile != "" || t.ClientAuth != "" || t.ClientCertIdentity) {
		bad("clientCAFile, clientAuth and clientCertIdentity need TLS: set certFile and keyFile, or selfSigned")
		return errs
	}
	if (mode == "optional" || mode == "require") && t.ClientCAFile == "" {
		bad("clientAuth %s needs clientCAFile", mode)
	}
	if mode == "none" && t.ClientCAFile != "" {
		bad("clientCAFile %q is set but clientAuth is none", t.ClientCAFile)
	}
	if t.ClientCertIdentity && mode == "none" {
		bad("clientCertIdentity needs clientAuth optional or require")
	}
	return errs
}

// validateListeners checks the extra listeners: names and addresses
// unique (the main listener included), each TLS block valid.
func (c *Config) validateListeners() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	names := map[string]string{c.Auth.Listener: "auth.listener"}
	type bound struct{ host, port, key string }
	var taken []bound
	if h, p, ok := boundAddr(c.Addr); ok {
		taken = append(taken, bound{h, p, "addr"})
	}
	for i, l := range c.Listeners {
		key := fmt.Sprintf("listeners[%d]", i)
		if err := checkListenerName(l.Name); err != nil {
			bad("%s.name %v", key, err)
		} else if prev, dup := names[l.Name]; dup {
			bad("%s.name %q is already the name of %s", key, l.Name, prev)
		} else {
			names[l.Name] = key
		}
		if err := checkAddr(l.Addr); err != nil {
			bad("%s.addr %v", key, err)
		} else if h, p, ok := boundAddr(l.Addr); ok {
			for _, b := range taken {
				// An unspecified host binds every address of the port.
				if b.port == p && (b.host == h || b.host == "" || h == "") {
					bad("%s.addr %q overlaps %s", key, l.Addr, b.key)
					break
				}
			}
			taken = append(taken, bound{h, p, key + ".addr"})
		}
		if l.Realm != "" {
			if u, err := url.Parse(l.Realm); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("%s.realm %q: want an absolute http(s) URL", key, l.Realm)
			}
		}
		errs = append(errs, l.TLS.validate(key+".tls")...)
	}
	return errs
}

// boundAddr splits addr for overlap checks; an unspecified host becomes
// "". Port 0 (pick a free port) never overlaps.
func boundAddr(addr string) (host, port string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" {
		return "", "", false
	}
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() {
			return "", port, true
		}
		host = ip.String()
	}
	return host, port, true
}

// StorageRoot is the fs driver's directory: storage.root, or
// <dataDir>/blobs when unset.
func (c *Config) StorageRoot() string {
	if c.Storage.Root != "" {
		return c.Storage.Root
	}
	return filepath.Join(c.DataDir, "blobs")
}

// DatabaseDSN is what the metadata store opens: the database setting, or
// the SQLite file <dataDir>/moat.db when unset.
func (c *Config) DatabaseDSN() string {
	if c.Database.DSN != "" {
		return c.Database.DSN
	}
	return filepath.Join(c.DataDir, "moat.db")
}

// DatabaseForLog is DatabaseDSN with any password removed.
func (c *Config) DatabaseForLog() string { return redact(c.DatabaseDSN()) }

// SlogLevel maps the level name to a slog.Level.
func (l Log) SlogLevel() (slog.Level, error) {
	var lv slog.Level
	err := lv.UnmarshalText([]byte(l.Level))
	return lv, err
}

func isURL(s string) bool { return strings.Contains(s, "://") }

func isPostgres(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// redact hides the password of a database URL so it can be logged or put
// in an error message.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if isURL(dsn) && err != nil {
			return "<unparsable URL>"
		}
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// ClientHost is the host clients use for addr: the host part, or
// localhost when it is unspecified.
func ClientHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || host == "" || ip != nil && ip.IsUnspecified() {
		return "localhost"
	}
	return host
}
