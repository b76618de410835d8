package localca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names inside the directory.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	ServerFile    = "server.pem"
	ServerKeyFile = "server-key.pem"
)

// ErrCorrupt: a file of an existing CA cannot be read as what it should
// be. Ensure never replaces a CA it cannot read, since clients trust it.
var ErrCorrupt = errors.New("localca: unreadable CA file")

// Result says where the files are and what Ensure did.
type Result struct {
	Dir string
	// CAFile is the CA certificate to trust; CertFile and KeyFile are
	// the server's certificate chain and key.
	CAFile, CertFile, KeyFile string
	// CreatedCA is true when this call made the CA (first start).
	CreatedCA bool
	// IssuedLeaf is true when this call issued a new server certificate.
	IssuedLeaf bool
	// NotAfter is when the server certificate expires.
	NotAfter time.Time
}

type options struct {
	now          func() time.Time
	caValidity   time.Duration
	leafValidity time.Duration
	renewBefore  time.Duration
	organization string
}

// Option configures Ensure.
type Option func(*options) error

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) error {
		if now == nil {
			return errors.New("localca: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithLeafValidity sets how long a server certificate lasts. Default:
// 365 days; at most 825 days, the most Apple clients accept.
func WithLeafValidity(d time.Duration) Option {
	return func(o *options) error {
		if d < time.Hour || d > 825*24*time.Hour {
			return fmt.Errorf("localca: leaf validity %s outside 1h..825d", d)
		}
		o.leafValidity = d
		return nil
	}
}

// WithRenewBefore sets how long before expiry the server certificate is
// issued again. Default: 30 days.
func WithRenewBefore(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("localca: negative renewal window %s", d)
		}
		o.renewBefore = d
		return nil
	}
}

// Ensure makes sure dir holds a CA and a server certificate for hosts
// (DNS names or IP addresses; at least one), creating or renewing what is
// needed, and returns the file paths.
func Ensure(dir string, hosts []string, opts ...Option) (Result, error) {
	o := options{now: time.Now, caValidity: 10 * 365 * 24 * time.Hour, leafValidity: 365 * 24 * time.Hour,
		renewBefore: 30 * 24 * time.Hour, organization: "moat local CA"}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return Result{}, err
		}
	}
	if o.renewBefore >= o.leafValidity {
		return Result{}, fmt.Errorf("localca: renewal window %s not shorter than leaf validity %s", o.renewBefore, o.leafValidity)
	}
	dnsNames, ips, err := splitHosts(hosts)
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("localca: %w", err)
	}
	res := Result{Dir: dir, CAFile: filepath.Join(dir, CAFile),
		CertFile: filepath.Join(dir, ServerFile), KeyFile: filepath.Join(dir, ServerKeyFile)}

	ca, caKey, err := loadCA(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ca, caKey, err = createCA(dir, o); err != nil {
			return Result{}, err
		}
		res.CreatedCA = true
	case err != nil:
		return Result{}, err
	}
	now := o.now()
	if now.After(ca.NotAfter) {
		return Result{}, fmt.Errorf("localca: CA %s expired on %s; move %s away to make a new one (clients must then trust the new ca.pem)",
			res.CAFile, ca.NotAfter.Format(time.DateOnly), dir)
	}
	if leaf, ok := currentLeaf(dir, ca); ok && !res.CreatedCA &&
		now.Add(o.renewBefore).Before(leaf.NotAfter) && covers(leaf, dnsNames, ips) {
		res.NotAfter = leaf.NotAfter
		return res, nil
	}
	notAfter, err := issueLeaf(dir, ca, caKey, dnsNames, ips, o)
	if err != nil {
		return Result{}, err
	}
	res.IssuedLeaf, res.NotAfter = true, notAfter
	return res, nil
}

// splitHosts sorts hosts into DNS names and IP addresses, without
// duplicates.
func splitHosts(hosts []string) ([]string, []net.IP, error) {
	var names []string
	var ips []net.IP
	for _, h := range hosts {
		h = strings.TrimSpace(strings.Trim(h, "[]"))
		if h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if strings.ContainsAny(h, " /:\\") {
			return nil, nil, fmt.Errorf("localca: %q is neither a host name nor an IP address", h)
		}
		h = strings.ToLower(h)
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	if len(names)+len(ips) == 0 {
		return nil, nil, errors.New("localca: no host names or addresses to certify")
	}
	return names, ips, nil
}

func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// A key without its certificate is a broken CA, not a new one.
			if _, kerr := os.Stat(filepath.Join(dir, CAKeyFile)); kerr == nil {
				return nil, nil, fmt.Errorf("%w: %s exists without %s", ErrCorrupt, CAKeyFile, CAFile)
			}
		}
		return nil, nil, err
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, filepath.Join(dir, CAFile), err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		// %v, not %w: a missing key must not read as "no CA yet".
		return nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, filepath.Join(dir, CAKeyFile), err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("%w: %s does not belong to %s", ErrCorrupt, CAKeyFile, CAFile)
	}
	return cert, key, nil
}

func createCA(dir string, o options) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("localca: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	now := o.now()
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{o.organization}, CommonName: fmt.Sprintf("moat local CA %s %s", host, now.UTC().Format(time.DateOnly))},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(o.caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("localca: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("localca: %w", err)
	}
	// The key goes first: a certificate without its key would block the
	// next start, a key without its certificate is recreated.
	if err := writeKey(filepath.Join(dir, CAKeyFile), key); err != nil {
		return nil, nil, err
	}
	if err := writeFile(filepath.Join(dir, CAFile), pemCert(der), 0o644); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// currentLeaf returns the stored server certificate if it is readable,
// its key matches and the current CA signed it.
func currentLeaf(dir string, ca *x509.Certificate) (*x509.Certificate, bool) {
	certPEM, err := os.ReadFile(filepath.Join(dir, ServerFile))
	if err != nil {
		return nil, false
	}
	leaf, err := parseCert(certPEM)
	if err != nil || leaf.CheckSignatureFrom(ca) != nil {
		return nil, false
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, ServerKeyFile))
	if err != nil {
		return nil, false
	}
	key, err := parseKey(keyPEM)
	if err != nil || !key.PublicKey.Equal(leaf.PublicKey) {
		return nil, false
	}
	return leaf, true
}

func covers(leaf *x509.Certificate, names []string, ips []net.IP) bool {
	for _, n := range names {
		if !slices.Contains(leaf.DNSNames, n) {
			return false
		}
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func issueLeaf(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string, ips []net.IP, o options) (time.Time, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return time.Time{}, fmt.Errorf("localca: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return time.Time{}, err
	}
	now := o.now()
	cn := "localhost"
	if len(names) > 0 {
		cn = names[0]
	}
	notAfter := now.Add(o.leafValidity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{o.organization}, CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return time.Time{}, fmt.Errorf("localca: issue server certificate: %w", err)
	}
	// Key before certificate: a certificate whose key is missing would be
	// served with a mismatched key; the reverse is simply issued again.
	if err := writeKey(filepath.Join(dir, ServerKeyFile), key); err != nil {
		return time.Time{}, err
	}
	chain := append(pemCert(der), pemCert(ca.Raw)...)
	if err := writeFile(filepath.Join(dir, ServerFile), chain, 0o644); err != nil {
		return time.Time{}, err
	}
	return notAfter, nil
}

func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("localca: serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func parseCert(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKey(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want ECDSA", k)
	}
	return ek, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("localca: %w", err)
	}
	return writeFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// writeFile replaces path atomically: a temporary file in the same
// directory (so the rename stays on one filesystem), fsynced, renamed.
func writeFile(path string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("localca: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("localca: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("localca: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("localca: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("localca: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("localca: %w", err)
	}
	if d, derr := os.Open(filepath.Dir(path)); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
