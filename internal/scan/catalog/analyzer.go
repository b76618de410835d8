package catalog

import (
	"context"
	"io"
	"io/fs"
)

// File is one regular file of a layer, offered to an analyzer that wants it.
// Content is readable once, in tar order; the catalog caps how much of it an
// analyzer may read (MaxFileSize) so a hostile entry cannot exhaust memory.
type File struct {
	// Path is cleaned and absolute ("/usr/lib/os-release").
	Path    string
	Mode    fs.FileMode
	Size    int64
	Content io.Reader
}

// Result is what an analyzer learned from one file.
type Result struct {
	Packages []Package
	// Owned lists absolute paths that an OS package database says belong to
	// an installed OS package (dpkg info/*.list, rpm and apk file lists).
	// Squashing marks language packages read from these paths OwnedByOS.
	Owned []string
	// Distro is set by the analyzer that reads os-release and its fallbacks.
	Distro *Distro
	// Findings are facts other than packages (secrets); they are squashed
	// like packages, so a file deleted or replaced later drops them.
	Findings []Finding
}

// Finding is a security fact about a file or the image that is not a
// package: a secret or a misconfiguration. It never holds a secret value:
// Match is redacted by the analyzer that made it.
type Finding struct {
	// Kind is "secret" or "misconfiguration".
	Kind     string `json:"kind"`
	RuleID   string `json:"ruleId"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
	// Message adds what the title does not say (mode and owner of a
	// setuid file); never a secret.
	Message string `json:"message,omitempty"`
	// Path is absolute within the image.
	Path string `json:"path"`
	// Line is 1-based; 0 when the finding concerns the whole file.
	Line  int    `json:"line,omitempty"`
	Match string `json:"match,omitempty"`
	// Layer is the digest of the layer holding the file, set when the
	// inventory is squashed.
	Layer string `json:"layer,omitempty"`
}

// Entry is the header of one layer entry of any type (regular file,
// directory, link, whiteout), as an EntryHook sees it.
type Entry struct {
	// Path is cleaned and absolute; whiteout names are kept (".wh.x").
	Path string `json:"path"`
	// Mode holds the permission bits with setuid (04000), setgid (02000)
	// and sticky (01000), as tar.Header.Mode.
	Mode     int64  `json:"mode"`
	Typeflag byte   `json:"type"`
	UID      int    `json:"uid,omitempty"`
	GID      int    `json:"gid,omitempty"`
	Linkname string `json:"link,omitempty"`
}

// LayerEntries are the entries an EntryHook kept from one layer.
type LayerEntries struct {
	Digest  string
	Entries []Entry
}

// EntryHook sees every entry header of a layer, which analyzers never do
// (they get regular files without owners), for checks over file metadata
// such as setuid binaries. Keep picks, on a cache miss, the entries worth
// caching with the layer result; Squash then receives each layer's kept
// entries (those any hook kept), bottom first, once per image after packages are squashed, and
// may add findings to inv. Name and Version join the cache key, like an
// analyzer's. Keep must be cheap and safe for concurrent use.
type EntryHook interface {
	Name() string
	Version() int
	Keep(e *Entry) bool
	Squash(layers []LayerEntries, inv *Inventory)
}

// Analyzer finds packages in files of one kind.
//
// Analyzers are stateless and safe for concurrent use: the catalog calls
// Analyze once per wanted file per layer and caches the results under the
// layer digest together with Name and Version, so an analyzer must bump
// Version whenever its output for the same input changes.
type Analyzer interface {
	Name() string
	Version() int
	// Wants is called for every regular file and must decide from the path,
	// mode and size alone; it is on the hot path of every layer.
	Wants(path string, mode fs.FileMode, size int64) bool
	// Analyze reads f and returns what it found. A malformed file yields an
	// error, which the catalog records as a warning before going on.
	Analyze(ctx context.Context, f *File) (*Result, error)
}
