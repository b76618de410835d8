package misconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/lazyregexp"
	"github.com/moat-dev/moat/internal/redact"
	"github.com/moat-dev/moat/internal/scan/report"
)

// ErrBadConfig wraps a configuration blob that is not JSON of the OCI
// image configuration's shape.
var ErrBadConfig = errors.New("invalid image configuration")

// maxConfigSize bounds a configuration blob (real ones are a few KiB; the
// history of a huge build is well under this).
const maxConfigSize = 8 << 20

// ParseConfig reads an image configuration blob (OCI or Docker).
func ParseConfig(r io.Reader) (*dockerspec.DockerOCIImage, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %w", ErrBadConfig, err)
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadConfig, maxConfigSize)
	}
	var img dockerspec.DockerOCIImage
	if err := json.Unmarshal(b, &img); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return &img, nil
}

// SensitivePorts are ports whose exposure in an image is a finding:
// remote administration and control planes, which a workload image should
// not offer. Application data stores (Redis 6379, PostgreSQL 5432, MySQL
// 3306, MongoDB 27017) are left out: images that serve them expose them by
// design.
var sensitivePorts = map[int]struct {
	service  string
	severity report.Severity
}{
	21:    {"FTP", report.Medium},
	22:    {"SSH", report.Medium},
	23:    {"Telnet", report.High},
	135:   {"MS-RPC", report.Medium},
	139:   {"NetBIOS/SMB", report.Medium},
	445:   {"SMB", report.Medium},
	2375:  {"Docker API without TLS", report.Critical},
	2376:  {"Docker API", report.High},
	2379:  {"etcd client", report.High},
	2380:  {"etcd peer", report.High},
	3389:  {"RDP", report.Medium},
	5900:  {"VNC", report.Medium},
	5985:  {"WinRM", report.Medium},
	5986:  {"WinRM over TLS", report.Medium},
	10250: {"kubelet API", report.High},
}

var (
	secretName    = lazyregexp.New(`(?i)(passw(or)?d|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth[_-]?key)`)
	notSecretName = lazyregexp.New(`(?i)(_file|_path|_dir|_url|_uri|_host|_user(name)?|_name|_length|_len|_ttl|_type|_id)$`)
	// assignment is KEY=VALUE inside a history line.
	assignment = lazyregexp.New(`(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S+)`)
	// buildArgs is BuildKit's record of the build arguments a RUN used:
	// "RUN |2 A=1 B=2 /bin/sh -c …".
	buildArgs = lazyregexp.New(`^\s*(?:RUN\s+)?\|(\d+)\s`)
	// argOrEnv is an ARG or ENV instruction, as BuildKit ("ARG A=1") or
	// the classic builder ("/bin/sh -c #(nop)  ENV A=1") records it.
	argOrEnv  = lazyregexp.New(`^\s*(?:/bin/sh -c #\(nop\)\s+)?(ARG|ENV)\s`)
	addRemote = lazyregexp.New(`^\s*(?:/bin/sh -c #\(nop\)\s+)?ADD\s+(?:--\S+\s+)*(https?://\S+)`)
)

func secretLike(name, value string) bool {
	value = strings.Trim(value, `"'`)
	return secretName().MatchString(name) && !notSecretName().MatchString(name) &&
		value != "" && !strings.HasPrefix(value, "$")
}

// CheckConfig checks an image configuration. It never returns values of
// variables, only their names.
func CheckConfig(img *dockerspec.DockerOCIImage) []Finding {
	if img == nil {
		return nil
	}
	var out []Finding
	add := func(id string, sev report.Severity, title, path, format string, a ...any) {
		out = append(out, Finding{ID: id, Severity: sev, Title: title, Path: path, Message: fmt.Sprintf(format, a...)})
	}
	cfg := img.Config
	if user, root := runsAsRoot(cfg.User); root {
		if user == "" {
			add(CheckRootUser, report.High, "Image runs as root", "image-config", "no USER is set, so containers run as root (UID 0)")
		} else {
			add(CheckRootUser, report.High, "Image runs as root", "image-config", "USER %q is root (UID 0)", user)
		}
	}
	ports := make([]string, 0, len(cfg.ExposedPorts))
	for p := range cfg.ExposedPorts {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	for _, p := range ports {
		num, proto, _ := strings.Cut(p, "/")
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		if s, ok := sensitivePorts[n]; ok {
			if proto == "" {
				proto = "tcp"
			}
			add(CheckSensitivePort, s.severity, "Sensitive port exposed", "image-config", "port %d/%s (%s) is exposed", n, proto, s.service)
		}
	}
	if hc := cfg.Healthcheck; hc == nil || len(hc.Test) == 0 {
		add(CheckNoHealthcheck, report.Low, "No healthcheck", "image-config", "the image defines no HEALTHCHECK")
	}
	for _, kv := range cfg.Env {
		name, value, _ := strings.Cut(kv, "=")
		if secretLike(name, value) {
			add(CheckEnvSecret, report.High, "Secret in environment", "image-config", "environment variable %s has a value that looks like a credential", name)
		}
	}
	for i, h := range img.History {
		line := h.CreatedBy
		if m := addRemote().FindStringSubmatch(line); m != nil {
			add(CheckAddRemote, report.Medium, "ADD of a remote URL", "image-history", "history entry %d downloads %s with ADD", i+1, redact.URL(m[1]))
		}
		for _, name := range historySecrets(line) {
			add(CheckHistorySecret, report.High, "Secret in build history", "image-history", "history entry %d records %s with a value; build arguments and ENV are readable by anyone who can pull the image", i+1, name)
		}
	}
	return out
}

// runsAsRoot reads a config User ("", "root", "0", "0:0", "root:staff",
// "1000", "app:app").
func runsAsRoot(u string) (string, bool) {
	u = strings.TrimSpace(u)
	name, _, _ := strings.Cut(u, ":")
	return u, name == "" || name == "root" || name == "0"
}

// historySecrets returns the names of secret-looking variables a history
// line records with a value.
func historySecrets(line string) []string {
	var scope string
	switch {
	case buildArgs().MatchString(line):
		m := buildArgs().FindStringSubmatchIndex(line)
		n, _ := strconv.Atoi(line[m[2]:m[3]])
		// Only the n assignments after "|n" are build arguments.
		rest := line[m[1]:]
		locs := assignment().FindAllStringIndex(rest, n)
		if len(locs) > 0 {
			scope = rest[:locs[len(locs)-1][1]]
		}
	case argOrEnv().MatchString(line):
		scope = line[argOrEnv().FindStringIndex(line)[1]:]
	default:
		return nil
	}
	var names []string
	for _, m := range assignment().FindAllStringSubmatch(scope, -1) {
		if secretLike(m[1], m[2]) {
			names = append(names, m[1])
		}
	}
	return names
}
