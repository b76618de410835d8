package kube

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// kubeconfig holds the parts of a kubeconfig file this package reads.
// Unknown fields are ignored; the fields that would change who we
// authenticate as (exec, auth-provider, as…) are read only to refuse them.
type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string    `yaml:"name"`
		Cluster kcCluster `yaml:"cluster"`
	} `yaml:"clusters"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
	Users []struct {
		Name string `yaml:"name"`
		User kcUser `yaml:"user"`
	} `yaml:"users"`
}

type kcCluster struct {
	Server                   string `yaml:"server"`
	CertificateAuthority     string `yaml:"certificate-authority"`
	CertificateAuthorityData string `yaml:"certificate-authority-data"`
	InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
	TLSServerName            string `yaml:"tls-server-name"`
	ProxyURL                 string `yaml:"proxy-url"`
}

type kcUser struct {
	Token                 string `yaml:"token"`
	TokenFile             string `yaml:"tokenFile"`
	ClientCertificate     string `yaml:"client-certificate"`
	ClientCertificateData string `yaml:"client-certificate-data"`
	ClientKey             string `yaml:"client-key"`
	ClientKeyData         string `yaml:"client-key-data"`
	Username              string `yaml:"username"`
	Password              string `yaml:"password"`

	Exec         any      `yaml:"exec"`
	AuthProvider any      `yaml:"auth-provider"`
	As           string   `yaml:"as"`
	AsUID        string   `yaml:"as-uid"`
	AsGroups     []string `yaml:"as-groups"`
	AsUserExtra  any      `yaml:"as-user-extra"`
}

// FromKubeconfig builds a Client from the kubeconfig file at path, using
// the named context, or the file's current-context when context is "".
// Relative file names in the kubeconfig are relative to its directory, as
// with kubectl. Only one file is read: KUBECONFIG lists are not merged.
func FromKubeconfig(path, context string) (*Client, error) {
	if path == "" {
		return nil, errors.New("kube: no kubeconfig path given")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kube: reading kubeconfig: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("kube: parsing kubeconfig %s: %w", path, err)
	}
	c, err := kc.client(filepath.Dir(path), context)
	if err != nil {
		return nil, fmt.Errorf("kube: kubeconfig %s: %w", path, err)
	}
	return c, nil
}

func (kc *kubeconfig) client(dir, context string) (*Client, error) {
	if context == "" {
		context = kc.CurrentContext
		if context == "" {
			return nil, errors.New("no context given and no current-context set")
		}
	}
	i := index(len(kc.Contexts), func(i int) bool { return kc.Contexts[i].Name == context })
	if i < 0 {
		return nil, fmt.Errorf("context %q not found", context)
	}
	ctx := kc.Contexts[i].Context

	if ctx.Cluster == "" {
		return nil, fmt.Errorf("context %q names no cluster", context)
	}
	i = index(len(kc.Clusters), func(i int) bool { return kc.Clusters[i].Name == ctx.Cluster })
	if i < 0 {
		return nil, fmt.Errorf("context %q: cluster %q not found", context, ctx.Cluster)
	}
	cl := kc.Clusters[i].Cluster
	if cl.Server == "" {
		return nil, fmt.Errorf("cluster %q has no server", ctx.Cluster)
	}

	// A context without a user talks to the server anonymously.
	var user kcUser
	if ctx.User != "" {
		i = index(len(kc.Users), func(i int) bool { return kc.Users[i].Name == ctx.User })
		if i < 0 {
			return nil, fmt.Errorf("context %q: user %q not found", context, ctx.User)
		}
		user = kc.Users[i].User
	}

	tlsConf, err := cl.tlsConfig(dir, ctx.Cluster)
	if err != nil {
		return nil, err
	}
	creds, cert, err := user.credentials(dir, ctx.User)
	if err != nil {
		return nil, err
	}
	if cert != nil {
		tlsConf.Certificates = []tls.Certificate{*cert}
	}
	var proxy func(*http.Request) (*url.URL, error)
	if cl.ProxyURL != "" {
		u, err := url.Parse(cl.ProxyURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("cluster %q: invalid proxy-url %q", ctx.Cluster, cl.ProxyURL)
		}
		proxy = http.ProxyURL(u)
	}
	return newClient(cl.Server, tlsConf, proxy, creds)
}

func index(n int, match func(int) bool) int {
	for i := range n {
		if match(i) {
			return i
		}
	}
	return -1
}

func (cl *kcCluster) tlsConfig(dir, name string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cl.TLSServerName}
	caPEM, caFrom, err := fileOrData(dir, cl.CertificateAuthority, cl.CertificateAuthorityData, "certificate-authority")
	if err != nil {
		return nil, fmt.Errorf("cluster %q: %w", name, err)
	}
	if cl.InsecureSkipTLSVerify {
		if caPEM != nil {
			// kubectl refuses this combination too: it is ambiguous which
			// one the user meant.
			return nil, fmt.Errorf("cluster %q: insecure-skip-tls-verify and a certificate authority are both set", name)
		}
		// Explicitly asked for in the kubeconfig.
		conf.InsecureSkipVerify = true
		return conf, nil
	}
	if caPEM != nil {
		// Only the configured CA is trusted, not the system roots: cluster
		// CAs are private, and a public CA must not vouch for the cluster.
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("cluster %q: no PEM certificate in %s", name, caFrom)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

func (u *kcUser) credentials(dir, name string) (credentials, *tls.Certificate, error) {
	var creds credentials
	switch {
	case u.Exec != nil:
		return creds, nil, fmt.Errorf("user %q: exec credential plugins are not supported; use a token, token file or client certificate", name)
	case u.AuthProvider != nil:
		return creds, nil, fmt.Errorf("user %q: auth-provider plugins are not supported; use a token, token file or client certificate", name)
	case u.As != "" || u.AsUID != "" || len(u.AsGroups) > 0 || u.AsUserExtra != nil:
		return creds, nil, fmt.Errorf("user %q: impersonation (as, as-uid, as-groups, as-user-extra) is not supported", name)
	}

	hasToken := u.Token != "" || u.TokenFile != ""
	hasBasic := u.Username != "" || u.Password != ""
	if hasToken && hasBasic {
		return creds, nil, fmt.Errorf("user %q: both a token and username/password are set", name)
	}
	switch {
	case u.Token != "":
		// A token set inline wins over tokenFile, as in client-go.
		creds.token = u.Token
	case u.TokenFile != "":
		tf, err := newTokenFile(resolve(dir, u.TokenFile))
		if err != nil {
			return creds, nil, fmt.Errorf("user %q: %w", name, err)
		}
		creds.tokenFile = tf
	case hasBasic:
		creds.username, creds.password = u.Username, u.Password
	}

	certPEM, certFrom, err := fileOrData(dir, u.ClientCertificate, u.ClientCertificateData, "client-certificate")
	if err != nil {
		return creds, nil, fmt.Errorf("user %q: %w", name, err)
	}
	keyPEM, _, err := fileOrData(dir, u.ClientKey, u.ClientKeyData, "client-key")
	if err != nil {
		return creds, nil, fmt.Errorf("user %q: %w", name, err)
	}
	switch {
	case certPEM == nil && keyPEM == nil:
		return creds, nil, nil
	case certPEM == nil:
		return creds, nil, fmt.Errorf("user %q: client-key set without client-certificate", name)
	case keyPEM == nil:
		return creds, nil, fmt.Errorf("user %q: client-certificate set without client-key", name)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return creds, nil, fmt.Errorf("user %q: client certificate (%s) and key: %w", name, certFrom, err)
	}
	return creds, &cert, nil
}

// fileOrData returns the PEM of a "field" / "field-data" pair of kubeconfig
// entries, nil when neither is set, and where it came from for errors.
func fileOrData(dir, file, data, field string) (pem []byte, from string, err error) {
	switch {
	case file != "" && data != "":
		return nil, "", fmt.Errorf("both %s and %s-data are set", field, field)
	case data != "":
		// The -data fields hold base64 of the PEM; tolerate line breaks.
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(data), ""))
		if err != nil {
			return nil, "", fmt.Errorf("%s-data is not valid base64: %w", field, err)
		}
		return b, field + "-data", nil
	case file != "":
		p := resolve(dir, file)
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("reading %s: %w", field, err)
		}
		return b, p, nil
	}
	return nil, "", nil
}

// resolve makes a kubeconfig file reference relative to the kubeconfig's
// directory, as kubectl does.
func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// serviceAccountDir is where the kubelet mounts a pod's service account
// credentials.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// InCluster builds a Client for the API server of the cluster the process
// runs in, authenticated as the pod's service account. The token file is
// re-read when the cached token is over a minute old, since projected
// service-account tokens are rotated by the kubelet.
func InCluster() (*Client, error) {
	return inCluster(os.Getenv, serviceAccountDir)
}

func inCluster(getenv func(string) string, dir string) (*Client, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("kube: not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("kube: reading service account CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("kube: no PEM certificate in %s", filepath.Join(dir, "ca.crt"))
	}
	tf, err := newTokenFile(filepath.Join(dir, "token"))
	if err != nil {
		return nil, err
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	// JoinHostPort brackets IPv6 service addresses.
	return newClient("https://"+net.JoinHostPort(host, port), tlsConf, nil, credentials{tokenFile: tf})
}
