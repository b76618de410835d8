package misconfig

import (
	"archive/tar"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/moat-dev/moat/internal/scan/report"
)

// Mode bits as tar headers carry them.
const (
	modeSetuid = 0o4000
	modeSetgid = 0o2000
	modeSticky = 0o1000
	modeOtherW = 0o0002
)

// Entry is what the collector needs of one tar header.
type Entry struct {
	// Path is the entry's name; it is cleaned and made absolute.
	Path string
	// Mode holds the permission bits including setuid (04000), setgid
	// (02000) and sticky (01000), as tar.Header.Mode.
	Mode     int64
	Typeflag byte
	UID, GID int
	// Linkname is the target of a hard or symbolic link.
	Linkname string
}

// EntryFromHeader takes the facts of a tar header.
func EntryFromHeader(h *tar.Header) Entry {
	return Entry{Path: h.Name, Mode: h.Mode, Typeflag: h.Typeflag, UID: h.Uid, GID: h.Gid, Linkname: h.Linkname}
}

// FileFact is a file the collector reports on.
type FileFact struct {
	Path string `json:"path"`
	// Mode is the octal permission string, e.g. "4755".
	Mode  string `json:"mode"`
	Dir   bool   `json:"dir,omitempty"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Layer string `json:"layer,omitempty"`
}

// Tool is an attack-surface binary found in a bin directory.
type Tool struct {
	Name     string `json:"name"`
	Category string `json:"category"`
	Path     string `json:"path"`
	Layer    string `json:"layer,omitempty"`
}

// Tool categories.
const (
	CategoryShell          = "shell"
	CategoryPackageManager = "package-manager"
	CategoryNetwork        = "network"
)

var tools = map[string]string{
	"sh": CategoryShell, "bash": CategoryShell, "dash": CategoryShell, "ash": CategoryShell,
	"zsh": CategoryShell, "ksh": CategoryShell, "mksh": CategoryShell, "csh": CategoryShell,
	"tcsh": CategoryShell, "fish": CategoryShell, "busybox": CategoryShell,
	"apt": CategoryPackageManager, "apt-get": CategoryPackageManager, "aptitude": CategoryPackageManager,
	"dpkg": CategoryPackageManager, "apk": CategoryPackageManager, "yum": CategoryPackageManager,
	"dnf": CategoryPackageManager, "microdnf": CategoryPackageManager, "rpm": CategoryPackageManager,
	"zypper": CategoryPackageManager, "pip": CategoryPackageManager, "pip3": CategoryPackageManager,
	"npm": CategoryPackageManager, "yarn": CategoryPackageManager, "gem": CategoryPackageManager,
	"curl": CategoryNetwork, "wget": CategoryNetwork, "nc": CategoryNetwork, "netcat": CategoryNetwork,
	"ncat": CategoryNetwork, "socat": CategoryNetwork, "telnet": CategoryNetwork, "ssh": CategoryNetwork,
	"scp": CategoryNetwork, "sftp": CategoryNetwork, "ftp": CategoryNetwork, "tftp": CategoryNetwork,
	"nmap": CategoryNetwork,
}

var binDirs = map[string]bool{"/bin": true, "/sbin": true, "/usr/bin": true, "/usr/sbin": true, "/usr/local/bin": true, "/usr/local/sbin": true}

// systemDirs are where a world-writable file lets any user tamper with
// what every process trusts.
var systemDirs = []string{"/etc/", "/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/"}

// fact is what the collector keeps per reported path.
type fact struct {
	layer    int
	file     *FileFact // setuid/setgid or world-writable, by kind
	special  bool      // setuid/setgid
	writable bool      // world-writable in a system directory
	tool     *Tool
}

// Collector gathers file-metadata facts from tar headers, layer by layer,
// squashing as it goes: a whiteout or opaque directory removes what lower
// layers added, and a later entry at the same path replaces the earlier
// one. It is not safe for concurrent use; one Collector serves one image.
type Collector struct {
	layer  int
	digest string
	facts  map[string]*fact
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{facts: map[string]*fact{}} }

// StartLayer begins the next layer (bottom first); digest labels the facts
// it adds.
func (c *Collector) StartLayer(digest string) {
	c.layer++
	c.digest = digest
}

// Add takes one tar entry of the current layer.
func (c *Collector) Add(e Entry) {
	p := path.Clean("/" + e.Path)
	dir, base := path.Split(p)
	dir = path.Clean(dir)
	if base == ".wh..wh..opq" {
		c.remove(dir, false, true)
		return
	}
	if name, ok := strings.CutPrefix(base, ".wh."); ok {
		c.remove(path.Join(dir, name), true, true)
		return
	}
	// A later entry replaces what was at its path; a non-directory also
	// hides what lay beneath a directory of that name.
	c.remove(p, true, e.Typeflag != tar.TypeDir)
	if e.Typeflag == tar.TypeSymlink {
		c.addTool(p, dir, base)
		return
	}
	mode, uid, gid := e.Mode, e.UID, e.GID
	if e.Typeflag == tar.TypeLink {
		// A hard link shares its target's inode and so its mode.
		target, ok := c.facts[path.Clean("/"+e.Linkname)]
		if ok && target.file != nil {
			m, _ := parseOctal(target.file.Mode)
			mode, uid, gid = m, target.file.UID, target.file.GID
		}
	}
	f := &fact{layer: c.layer}
	isDir := e.Typeflag == tar.TypeDir
	if mode&(modeSetuid|modeSetgid) != 0 {
		f.special = true
	}
	if mode&modeOtherW != 0 && !(isDir && mode&modeSticky != 0) && inSystemDir(p) {
		f.writable = true
	}
	if f.special || f.writable {
		f.file = &FileFact{Path: p, Mode: fmt.Sprintf("%04o", mode&0o7777), Dir: isDir, UID: uid, GID: gid, Layer: c.digest}
		c.facts[p] = f
	}
	if !isDir {
		c.addTool(p, dir, base)
	}
}

func (c *Collector) addTool(p, dir, base string) {
	cat, ok := tools[base]
	if !ok || !binDirs[dir] {
		return
	}
	f := c.facts[p]
	if f == nil {
		f = &fact{layer: c.layer}
		c.facts[p] = f
	}
	f.tool = &Tool{Name: base, Category: cat, Path: p, Layer: c.digest}
}

// remove drops facts from lower layers (and from this one when self is
// set) at p and, when children is set, beneath it.
func (c *Collector) remove(p string, self, children bool) {
	if self {
		delete(c.facts, p)
	}
	if !children {
		return
	}
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for k, f := range c.facts {
		if strings.HasPrefix(k, prefix) && f.layer < c.layer {
			delete(c.facts, k)
		}
	}
}

func inSystemDir(p string) bool {
	for _, d := range systemDirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

func parseOctal(s string) (int64, error) {
	var v int64
	_, err := fmt.Sscanf(s, "%o", &v)
	return v, err
}

// Facts is the squashed result.
type Facts struct {
	// Special lists setuid/setgid entries (files and directories), the
	// set `find / -perm /6000` prints on the extracted filesystem.
	Special []FileFact `json:"special"`
	// WorldWritable lists world-writable entries in system directories
	// (directories with the sticky bit excepted).
	WorldWritable []FileFact `json:"worldWritable"`
	Tools         []Tool     `json:"tools"`
}

// Facts returns the squashed facts sorted by path.
func (c *Collector) Facts() Facts {
	var out Facts
	for _, f := range c.facts {
		if f.special {
			out.Special = append(out.Special, *f.file)
		}
		if f.writable {
			out.WorldWritable = append(out.WorldWritable, *f.file)
		}
		if f.tool != nil {
			out.Tools = append(out.Tools, *f.tool)
		}
	}
	sort.Slice(out.Special, func(i, j int) bool { return out.Special[i].Path < out.Special[j].Path })
	sort.Slice(out.WorldWritable, func(i, j int) bool { return out.WorldWritable[i].Path < out.WorldWritable[j].Path })
	sort.Slice(out.Tools, func(i, j int) bool { return out.Tools[i].Path < out.Tools[j].Path })
	return out
}

// Findings turns the facts into findings: one per setuid/setgid or
// world-writable entry, one per tool category present.
func (c *Collector) Findings() []Finding { return c.Facts().Findings() }

// Findings turns facts into findings.
func (fs Facts) Findings() []Finding {
	var out []Finding
	for _, f := range fs.Special {
		m, _ := parseOctal(f.Mode)
		bits := []string{}
		if m&modeSetuid != 0 {
			bits = append(bits, "setuid")
		}
		if m&modeSetgid != 0 {
			bits = append(bits, "setgid")
		}
		sev, kind := report.Medium, "file"
		switch {
		case f.Dir:
			sev, kind = report.Low, "directory"
		case m&modeSetuid != 0:
			sev = report.High
		}
		out = append(out, Finding{ID: CheckSetuid, Severity: sev, Title: "Setuid/setgid " + kind, Path: f.Path, Layer: f.Layer,
			Message: fmt.Sprintf("%s %s (mode %s, owner %d:%d)", strings.Join(bits, "+"), kind, f.Mode, f.UID, f.GID)})
	}
	for _, f := range fs.WorldWritable {
		out = append(out, Finding{ID: CheckWorldWritable, Severity: report.Medium, Title: "World-writable file in a system directory", Path: f.Path, Layer: f.Layer,
			Message: fmt.Sprintf("mode %s, owner %d:%d: any user can modify it", f.Mode, f.UID, f.GID)})
	}
	byCat := map[string][]string{}
	for _, t := range fs.Tools {
		byCat[t.Category] = append(byCat[t.Category], t.Path)
	}
	for _, k := range []struct{ cat, id, title string }{
		{CategoryShell, CheckShell, "Shell present"},
		{CategoryPackageManager, CheckPackageManager, "Package manager present"},
		{CategoryNetwork, CheckNetworkTool, "Network tool present"},
	} {
		if paths := byCat[k.cat]; len(paths) > 0 {
			out = append(out, Finding{ID: k.id, Severity: report.Low, Title: k.title, Path: paths[0],
				Message: fmt.Sprintf("attack surface an image could do without: %s", strings.Join(paths, ", "))})
		}
	}
	return out
}

// keptDirs are the trees whose every entry Relevant keeps, so that a later
// layer replacing a setuid binary without the bit (chmod u-s) hides it.
var keptDirs = []string{"/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/", "/usr/lib/", "/usr/libexec/", "/lib/"}

// Relevant reports whether a layer's cached summary must keep e for the
// collector to reproduce its result later: whiteouts, entries with setuid,
// setgid or world-writable modes, and every entry in the bin and lib trees
// where setuid programs and tools live. Replaying only the relevant entries
// of each layer gives the same Facts as replaying all of them, except when
// a later layer replaces a setuid or world-writable file outside those trees
// with a plain one (the lower fact then survives).
func Relevant(e Entry) bool {
	p := path.Clean("/" + e.Path)
	if strings.HasPrefix(path.Base(p), ".wh.") || e.Mode&(modeSetuid|modeSetgid|modeOtherW) != 0 || e.Typeflag == tar.TypeLink {
		return true
	}
	for _, d := range keptDirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}
