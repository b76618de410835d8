// Package osrelease reads the distribution and release of an image from
// os-release (/etc/os-release, /usr/lib/os-release) and, for images that
// lack it, from /etc/debian_version, /etc/alpine-release and
// /etc/redhat-release. The catalog prefers /etc/os-release, then
// /usr/lib/os-release, then the fallbacks.
package osrelease

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/moat-dev/moat/internal/lazyregexp"
	"github.com/moat-dev/moat/internal/scan/catalog"
)

// maxSize bounds what is read; real files are a few hundred bytes.
const maxSize = 64 << 10

// ErrNoID reports an os-release without an ID.
var ErrNoID = errors.New("os-release has no ID")

// Analyzer reads os-release and its fallbacks.
type Analyzer struct{}

var _ catalog.Analyzer = Analyzer{}

func (Analyzer) Name() string { return "os-release" }
func (Analyzer) Version() int { return 1 }

func (Analyzer) Wants(p string, _ fs.FileMode, size int64) bool {
	switch p {
	case "/etc/os-release", "/usr/lib/os-release", "/etc/debian_version",
		"/etc/alpine-release", "/etc/redhat-release":
		return size <= maxSize
	}
	return false
}

func (Analyzer) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	b, err := io.ReadAll(io.LimitReader(f.Content, maxSize))
	if err != nil {
		return nil, err
	}
	var d *catalog.Distro
	switch f.Path {
	case "/etc/os-release", "/usr/lib/os-release":
		d, err = Parse(b)
	case "/etc/debian_version":
		d, err = debianVersion(b)
	case "/etc/alpine-release":
		v := strings.TrimSpace(string(b))
		d = &catalog.Distro{ID: "alpine", VersionID: v, PrettyName: "Alpine Linux v" + v}
	case "/etc/redhat-release":
		d, err = redhatRelease(b)
	}
	if err != nil {
		return nil, err
	}
	return &catalog.Result{Distro: d}, nil
}

// Parse reads os-release's KEY=value lines (values optionally quoted, with
// backslash escapes inside double quotes).
func Parse(b []byte) (*catalog.Distro, error) {
	d := &catalog.Distro{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 0, 4096), maxSize)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = unquote(strings.TrimSpace(v))
		switch strings.TrimSpace(k) {
		case "ID":
			d.ID = strings.ToLower(v)
		case "VERSION_ID":
			d.VersionID = v
		case "VERSION_CODENAME":
			d.Codename = v
		case "PRETTY_NAME":
			d.PrettyName = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("os-release: %w", err)
	}
	if d.ID == "" {
		return nil, ErrNoID
	}
	return d, nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '"' {
			var sb strings.Builder
			for i := 0; i < len(v); i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				sb.WriteByte(v[i])
			}
			v = sb.String()
		}
	}
	return v
}

func debianVersion(b []byte) (*catalog.Distro, error) {
	v := strings.TrimSpace(string(b))
	if v == "" {
		return nil, errors.New("empty debian_version")
	}
	d := &catalog.Distro{ID: "debian", PrettyName: "Debian " + v}
	// "12.5" -> VERSION_ID 12; testing reports a codename ("trixie/sid").
	if major, _, _ := strings.Cut(v, "."); major != "" && strings.Trim(major, "0123456789") == "" {
		d.VersionID = major
	} else {
		d.Codename, _, _ = strings.Cut(v, "/")
	}
	return d, nil
}

var redhatRE = lazyregexp.New(`^(.*?) (?:Linux )?release ([0-9][0-9.]*)`)

func redhatRelease(b []byte) (*catalog.Distro, error) {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	m := redhatRE().FindStringSubmatch(line)
	if m == nil {
		return nil, fmt.Errorf("unrecognised redhat-release %q", line)
	}
	id := "rhel"
	name := strings.ToLower(m[1])
	switch {
	case strings.Contains(name, "centos"):
		id = "centos"
	case strings.Contains(name, "rocky"):
		id = "rocky"
	case strings.Contains(name, "alma"):
		id = "almalinux"
	case strings.Contains(name, "fedora"):
		id = "fedora"
	case strings.Contains(name, "oracle"):
		id = "ol"
	}
	ver := m[2]
	if id != "fedora" {
		ver, _, _ = strings.Cut(ver, ".")
	}
	return &catalog.Distro{ID: id, VersionID: ver, PrettyName: line}, nil
}
