package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrInvalid classifies every problem with the files: missing, unreadable,
// not PEM, key not matching the certificate, no CA certificates.
var ErrInvalid = errors.New("tls: invalid certificate files")

// ClientAuth says what the listener asks of clients' certificates.
type ClientAuth string

const (
	// ClientAuthNone asks for no client certificate.
	ClientAuthNone ClientAuth = "none"
	// ClientAuthOptional verifies a client certificate when one is sent.
	ClientAuthOptional ClientAuth = "optional"
	// ClientAuthRequire refuses the handshake without a client
	// certificate signed by one of the client CAs.
	ClientAuthRequire ClientAuth = "require"
)

// Files names what one listener's TLS is made of.
type Files struct {
	// CertFile holds the server certificate, then any intermediates.
	CertFile string
	// KeyFile holds the matching private key (PKCS#1, PKCS#8 or SEC 1).
	KeyFile string
	// ClientCAFile holds the CA certificates client certificates must
	// chain to; required unless ClientAuth is none.
	ClientCAFile string
	// ClientAuth defaults to none ("" counts as none).
	ClientAuth ClientAuth
}

type options struct {
	log   *slog.Logger
	now   func() time.Time
	every time.Duration
}

// Option configures Load.
type Option func(*options) error

// WithLogger sets where reloads and failed reloads are reported.
// Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("tlsconf: nil logger")
		}
		o.log = l
		return nil
	}
}

// WithCheckInterval sets how often, at most, a handshake looks at the
// certificate files for changes; 0 looks on every handshake. Default: 5s.
func WithCheckInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("tlsconf: negative check interval %s", d)
		}
		o.every = d
		return nil
	}
}

// WithClock sets the clock used for the check interval. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("tlsconf: nil clock")
		}
		o.now = now
		return nil
	}
}

// Server serves one listener's certificate and reloads it when its files
// change. It is safe for concurrent handshakes.
type Server struct {
	files Files
	opts  options
	cfg   *tls.Config

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     stamp // of the files cert was loaded from
	failed    stamp // of files that last failed to load, not to log twice
	lastCheck time.Time
}

// stamp identifies a version of the certificate and key files.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// Load reads and checks the files and returns the listener's TLS server.
func Load(f Files, opts ...Option) (*Server, error) {
	o := options{log: slog.Default(), now: time.Now, every: 5 * time.Second}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if f.ClientAuth == "" {
		f.ClientAuth = ClientAuthNone
	}
	s := &Server{files: f, opts: o}
	st, err := s.statFiles()
	if err != nil {
		return nil, err
	}
	cert, err := loadPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, err
	}
	s.cert, s.stamp, s.lastCheck = cert, st, o.now()

	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: s.getCertificate,
	}
	switch f.ClientAuth {
	case ClientAuthNone:
		if f.ClientCAFile != "" {
			return nil, fmt.Errorf("%w: client CA file %s given with client authentication none", ErrInvalid, f.ClientCAFile)
		}
	case ClientAuthOptional, ClientAuthRequire:
		if f.ClientCAFile == "" {
			return nil, fmt.Errorf("%w: client authentication %s needs a client CA file", ErrInvalid, f.ClientAuth)
		}
		pool, err := loadPool(f.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if f.ClientAuth == ClientAuthRequire {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	default:
		return nil, fmt.Errorf("%w: client authentication %q: want none, optional or require", ErrInvalid, f.ClientAuth)
	}
	s.cfg = cfg
	return s, nil
}

// Config returns the tls.Config to serve with. Callers may clone it but
// must keep GetCertificate, which does the reloading.
func (s *Server) Config() *tls.Config { return s.cfg }

// Leaf returns the certificate being served now.
func (s *Server) Leaf() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cert.Leaf
}

func (s *Server) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.now()
	if now.Sub(s.lastCheck) < s.opts.every {
		return s.cert, nil
	}
	s.lastCheck = now
	st, err := s.statFiles()
	if err != nil {
		if s.failed != (stamp{}) {
			return s.cert, nil
		}
		s.failed = stamp{certSize: -1}
		s.opts.log.Warn("TLS certificate files unreadable; serving the loaded certificate", "err", err)
		return s.cert, nil
	}
	if st == s.stamp || st == s.failed {
		return s.cert, nil
	}
	cert, err := loadPair(s.files.CertFile, s.files.KeyFile)
	if err != nil {
		s.failed = st
		s.opts.log.Warn("TLS certificate changed but does not load; serving the previous one", "err", err)
		return s.cert, nil
	}
	s.cert, s.stamp, s.failed = cert, st, stamp{}
	s.opts.log.Info("TLS certificate reloaded", "cert_file", s.files.CertFile,
		"subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	return s.cert, nil
}

func (s *Server) statFiles() (stamp, error) {
	if s.files.CertFile == "" || s.files.KeyFile == "" {
		return stamp{}, fmt.Errorf("%w: a certificate file and a key file are both needed", ErrInvalid)
	}
	c, err := os.Stat(s.files.CertFile)
	if err != nil {
		return stamp{}, fmt.Errorf("%w: certificate: %w", ErrInvalid, err)
	}
	k, err := os.Stat(s.files.KeyFile)
	if err != nil {
		return stamp{}, fmt.Errorf("%w: key: %w", ErrInvalid, err)
	}
	return stamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// loadPair reads a certificate chain and its key, with an error that
// says which file is wrong and how.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrInvalid, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrInvalid, err)
	}
	if !hasBlock(certPEM, func(t string) bool { return t == "CERTIFICATE" }) {
		return nil, fmt.Errorf("%w: certificate %s: no PEM CERTIFICATE block", ErrInvalid, certFile)
	}
	if !hasBlock(keyPEM, func(t string) bool { return t == "PRIVATE KEY" || t == "EC PRIVATE KEY" || t == "RSA PRIVATE KEY" }) {
		return nil, fmt.Errorf("%w: key %s: no PEM PRIVATE KEY block", ErrInvalid, keyFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s with key %s: %v", ErrInvalid, certFile, keyFile, err)
	}
	return &pair, nil
}

func hasBlock(data []byte, want func(string) bool) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if want(b.Type) {
			return true
		}
	}
}

func loadPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%w: client CA: %w", ErrInvalid, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: client CA %s: no PEM certificates", ErrInvalid, file)
	}
	return pool, nil
}
