package admission

import (
	"fmt"
	"net"
	"strings"

	"github.com/moat-dev/moat/internal/reference"
)

// ImageRef is a container image reference split as a container runtime
// reads it: "nginx" is docker.io/library/nginx:latest.
type ImageRef struct {
	Host       string // lower-cased, as written (port kept)
	Repository string
	Tag        string // "" when Digest is set alone
	Digest     string
}

// Ref is the tag or digest to look up: the digest wins when both are
// written, as runtimes pull by it.
func (r ImageRef) Ref() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

func (r ImageRef) String() string {
	s := r.Host + "/" + r.Repository
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// dockerHub is the host of references without one.
const dockerHub = "docker.io"

// ParseImage parses a pod's image field. It refuses what a runtime would
// refuse (spaces, upper-case repositories, bad tags or digests, empty
// parts) with a message naming the problem.
func ParseImage(s string) (ImageRef, error) {
	if s == "" {
		return ImageRef{}, fmt.Errorf("the image is empty")
	}
	if len(s) > 4096 {
		return ImageRef{}, fmt.Errorf("the image reference is %d bytes long", len(s))
	}
	if strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t\r\n") {
		return ImageRef{}, fmt.Errorf("image %q contains white space", s)
	}
	var r ImageRef
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		d, err := reference.ParseDigest(name[i+1:])
		if err != nil {
			return ImageRef{}, fmt.Errorf("image %q: %v", s, err)
		}
		r.Digest, name = d.String(), name[:i]
	}
	// A tag follows the last ':' after the last '/' (a ':' before it is a
	// host's port).
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		r.Tag, name = name[i+1:], name[:i]
		if err := reference.ValidTag(r.Tag); err != nil {
			return ImageRef{}, fmt.Errorf("image %q: %v", s, err)
		}
	}
	host, path := dockerHub, name
	if i := strings.IndexByte(name, '/'); i >= 0 {
		first := name[:i]
		// As runtimes do: the first component is a host when it has a dot
		// or a port, or is localhost.
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.HasPrefix(first, "[") {
			host, path = first, name[i+1:]
		}
	}
	if host == dockerHub && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if err := validHost(host); err != nil {
		return ImageRef{}, fmt.Errorf("image %q: %v", s, err)
	}
	if err := reference.ValidRepository(path); err != nil {
		return ImageRef{}, fmt.Errorf("image %q: %v", s, err)
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	r.Host, r.Repository = strings.ToLower(host), path
	return r, nil
}

// validHost checks HOST or HOST:PORT, with [v6] hosts.
func validHost(h string) error {
	if h == "" {
		return fmt.Errorf("the registry host is empty")
	}
	host, port := h, ""
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 || net.ParseIP(h[1:end]) == nil {
			return fmt.Errorf("registry host %q is not a valid IPv6 address", h)
		}
		host, port = h[1:end], strings.TrimPrefix(h[end+1:], ":")
		if h[end+1:] != "" && !strings.HasPrefix(h[end+1:], ":") {
			return fmt.Errorf("registry host %q: junk after the address", h)
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
		if port == "" {
			return fmt.Errorf("registry host %q has an empty port", h)
		}
	}
	if port != "" {
		n := 0
		for _, c := range port {
			if c < '0' || c > '9' || n > 65535 {
				return fmt.Errorf("registry host %q: port %q is not a number 1-65535", h, port)
			}
			n = n*10 + int(c-'0')
		}
		if n == 0 || n > 65535 {
			return fmt.Errorf("registry host %q: port %q is not a number 1-65535", h, port)
		}
	}
	if strings.HasPrefix(h, "[") {
		return nil
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("registry host %q has an empty or over-long label", h)
		}
		for i, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (c == '-' && i > 0 && i < len(label)-1)
			if !ok {
				return fmt.Errorf("registry host %q: %q is not allowed in a host name", h, c)
			}
		}
	}
	return nil
}

// Hosts matches registry hosts the way clients write them: case does not
// matter, and an HTTPS host matches with or without ":443".
type Hosts map[string]bool

// NewHosts returns a set of hosts.
func NewHosts(hosts ...string) Hosts {
	s := Hosts{}
	for _, h := range hosts {
		s[canonicalHost(h)] = true
	}
	return s
}

// Has reports whether h is one of the hosts.
func (s Hosts) Has(h string) bool { return s[canonicalHost(h)] }

func canonicalHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(h, ":443"))
	if h == "index.docker.io" || h == "registry-1.docker.io" {
		return dockerHub
	}
	return h
}
