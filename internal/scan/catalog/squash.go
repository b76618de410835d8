package catalog

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/package-url/packageurl-go"
)

// liveFile is a file result that is still visible after the layers above.
type liveFile struct {
	layer int
	FileResult
}

// squash merges layer results bottom first into the inventory of the
// final filesystem: a later layer's whiteout, opaque directory or entry at
// the same path hides what lower layers read from there.
func squash(results []*LayerResult) *Inventory {
	inv := &Inventory{Layers: make([]string, len(results)), Packages: []Package{}}
	var live []liveFile
	// introduced remembers, for packages hidden by a rewrite of their
	// database (apt-get install rewrites dpkg's status), the layer that
	// first added them, so attribution survives the rewrite.
	introduced := map[string]string{}
	for i, lr := range results {
		inv.Layers[i] = lr.Digest
		for _, w := range lr.Warnings {
			inv.Warnings = append(inv.Warnings, fmt.Sprintf("layer %s: %s", short(lr.Digest), w))
		}
		if i > 0 {
			hide := newHider(lr)
			kept := live[:0]
			for _, f := range live {
				if hide.hides(f.Path) {
					for _, p := range f.Packages {
						if _, ok := introduced[pkgKey(&p)]; !ok {
							introduced[pkgKey(&p)] = p.Layer
						}
					}
					continue
				}
				kept = append(kept, f)
			}
			live = kept
		}
		for _, f := range lr.Files {
			live = append(live, liveFile{layer: i, FileResult: f})
		}
	}

	var distro *Distro
	distroRank := 0
	for _, f := range live {
		if f.Distro != nil {
			if r := rankDistro(f.Path); distro == nil || r < distroRank {
				distro, distroRank = f.Distro, r
			}
		}
	}
	owned := ownedCandidates(live)
	inv.Distro = distro
	for _, f := range live {
		for _, p := range f.Packages {
			p.Paths = slices.Clone(p.Paths)
			if l, ok := introduced[pkgKey(&p)]; ok {
				p.Layer = l
			}
			if isOSType(p.Type) {
				finishOS(&p, distro)
			} else if ownedPath(owned, p.Paths) {
				p.OwnedByOS = true
			}
			inv.Packages = append(inv.Packages, p)
		}
		for _, x := range f.Findings {
			x.Layer = inv.Layers[f.layer]
			inv.Findings = append(inv.Findings, x)
		}
	}
	SortFindings(inv.Findings)
	slices.SortStableFunc(inv.Packages, func(a, b Package) int {
		return cmp.Or(
			cmp.Compare(a.Ecosystem, b.Ecosystem),
			cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Version, b.Version),
			cmp.Compare(first(a.Paths), first(b.Paths)),
		)
	})
	return inv
}

// SortFindings orders findings by path, line, rule and kind, the order
// inventories hold them in.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.RuleID, b.RuleID),
			cmp.Compare(a.Kind, b.Kind),
		)
	})
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func short(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	if d == "" {
		return "(directory)"
	}
	return d
}

func pkgKey(p *Package) string {
	return string(p.Ecosystem) + "\x00" + p.Type + "\x00" + p.Name + "\x00" + p.Version + "\x00" + first(p.Paths)
}

// hider answers whether a layer hides a lower layer's path.
type hider struct {
	entries   map[string]bool // files and shadows: hide the exact path
	whiteouts map[string]bool // hide the path and everything below
	opaques   map[string]bool // hide everything below
}

func newHider(lr *LayerResult) *hider {
	h := &hider{entries: map[string]bool{}, whiteouts: map[string]bool{}, opaques: map[string]bool{}}
	for _, f := range lr.Files {
		h.entries[f.Path] = true
	}
	for _, s := range lr.Shadows {
		h.entries[s] = true
	}
	for _, w := range lr.Whiteouts {
		h.whiteouts[w] = true
	}
	for _, o := range lr.Opaques {
		h.opaques[o] = true
	}
	return h
}

func (h *hider) hides(p string) bool {
	if h.entries[p] || h.whiteouts[p] {
		return true
	}
	for d := path.Dir(p); ; d = path.Dir(d) {
		if h.whiteouts[d] || h.opaques[d] {
			return true
		}
		if d == "/" {
			return false
		}
	}
}

// rankDistro orders the files a distribution can be read from; lower wins.
func rankDistro(p string) int {
	switch p {
	case "/etc/os-release":
		return 0
	case "/usr/lib/os-release":
		return 1
	}
	return 2
}

func isOSType(t string) bool { return t == "deb" || t == "apk" || t == "rpm" }

// ownedCandidates returns, for the paths that could make a language
// package OS-owned (its files and their directories), whether a surviving
// OS file list names them. Only those few paths are looked up, rather
// than indexing every owned file of the image.
func ownedCandidates(live []liveFile) map[string]bool {
	cand := map[string]bool{}
	for _, f := range live {
		for _, p := range f.Packages {
			if isOSType(p.Type) {
				continue
			}
			for _, q := range p.Paths {
				if outer, _, ok := strings.Cut(q, "!"); ok {
					q = outer
				}
				cand[q] = false
				if d, ok := metadataDir(q); ok {
					cand[d] = false
				}
			}
		}
	}
	if len(cand) == 0 {
		return cand
	}
	for _, f := range live {
		for _, o := range f.Owned {
			if _, ok := cand[o]; ok {
				cand[o] = true
			}
		}
	}
	return cand
}

// metadataDir returns the directory of a Python metadata file
// (foo.egg-info/PKG-INFO, foo.dist-info/METADATA), which OS file lists
// name instead of the file. Other parents (/usr/share/java) are shared by
// many packages and say nothing about ownership.
func metadataDir(p string) (string, bool) {
	d := path.Dir(p)
	return d, strings.HasSuffix(d, ".egg-info") || strings.HasSuffix(d, ".dist-info")
}

// ownedPath reports whether a language package's files belong to an OS
// package: its own path or its egg-info/dist-info directory is listed,
// or, for entries inside an archive ("a.jar!b.jar"), the outer file is.
func ownedPath(owned map[string]bool, paths []string) bool {
	if len(owned) == 0 {
		return false
	}
	for _, p := range paths {
		if outer, _, ok := strings.Cut(p, "!"); ok {
			p = outer
		}
		if owned[p] {
			return true
		}
		if d, ok := metadataDir(p); ok && owned[d] {
			return true
		}
	}
	return false
}

// distroEcosystem maps an os-release ID to its OSV ecosystem.
func distroEcosystem(id string) (Ecosystem, bool) {
	switch {
	case id == "debian":
		return Debian, true
	case id == "ubuntu":
		return Ubuntu, true
	case id == "alpine":
		return Alpine, true
	case id == "rhel":
		return "Red Hat", true
	case id == "rocky":
		return "Rocky Linux", true
	case id == "almalinux":
		return "AlmaLinux", true
	case id == "sles":
		return "SUSE", true
	case strings.HasPrefix(id, "opensuse"):
		return "openSUSE", true
	}
	return "", false
}

// finishOS completes an OS package once the distribution is known: the
// ecosystem becomes the distribution's and the purl gets its namespace and
// distro qualifier (pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12).
func finishOS(p *Package, d *Distro) {
	if d == nil || d.ID == "" {
		return
	}
	if e, ok := distroEcosystem(d.ID); ok {
		if p.Type != "deb" || e == Debian || e == Ubuntu {
			p.Ecosystem = e
		}
	}
	u, err := packageurl.FromString(p.PURL)
	if err != nil {
		return
	}
	u.Namespace = d.ID
	q := u.Qualifiers.Map()
	distro := d.ID
	if d.VersionID != "" {
		distro += "-" + d.VersionID
	}
	q["distro"] = distro
	u.Qualifiers = packageurl.QualifiersFromMap(q)
	p.PURL = u.ToString()
}
