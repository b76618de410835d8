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
