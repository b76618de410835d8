// Package catalog builds the package inventory (SBOM) of an image.
//
// Each layer is streamed exactly once as a tar: analyzers declare which
// paths they want, receive those files as the tar goes by, and return
// packages. Results are cached per layer digest and analyzer version, then
// squashed across layers honouring whiteouts and opaque directories so the
// inventory matches the image's final filesystem.
//
// The package never writes layer contents to disk and bounds what it holds
// in memory per file; hostile input produces warnings, not crashes.
//
// # Loading an inventory
//
// Everything that needs an image's packages (`moat sbom`, vulnerability
// matching, the registry's scan jobs) does the same three steps:
//
//	img, err := source.Open(ctx, ref)         // SOURCE as `moat sbom` takes it
//	defer img.Close()
//	cat, err := defaults.New(catalog.WithCache(c)) // every OS and language analyzer
//	inv, err := cat.Catalog(ctx, img)         // *Inventory
//
// source.Open (internal/scan/catalog/source) accepts OCI layouts, OCI
// archives, docker-archives, root filesystem directories and registry
// references; defaults.New (internal/scan/catalog/defaults) wires the full
// analyzer list; the CLI's disk cache is catalog/diskcache, and the
// registry can implement Cache over its metadata store. An Image can also
// be any value implementing Image and Layer (catalogtest has in-memory
// ones).
//
// # How a layer is read
//
// A layer blob is hashed while it streams (a digest mismatch is an error
// and nothing is cached), decompressed by sniffing its first bytes (gzip,
// zstd or plain tar), and walked once. Names are cleaned to absolute paths
// (a name escaping the root is confined and warned about); symlinks and
// hard links are never followed; device files are ignored. A wanted file
// is streamed to its analyzer, or buffered once when several analyzers
// want it, and skipped with a warning when larger than MaxFileSize. A layer
// that decompresses past MaxLayerSize, has more than MaxEntries entries or
// is not a valid tar keeps what was found before the problem and gets a
// warning.
//
// # Findings and entry hooks
//
// Besides packages, an analyzer may return findings (the secret analyzer
// does); they are cached and squashed exactly like packages and carry the
// layer that holds their file. Analyzers see only regular files, without
// owners; an EntryHook (WithEntryHook) sees every header of every layer,
// keeps the few entries it needs with the cached layer result, and gets
// them back, layer by layer, after squashing: misconfig's setuid and
// attack-surface checks work that way and give the same answer on a warm
// cache. Hooks join the cache key like analyzers.
//
// # Squashing
//
// A file result read from path P in layer i disappears when a later layer
// has an entry at P (file, symlink, hard link), a whiteout of P or of an
// ancestor directory, or an opaque marker on an ancestor. A package that
// reappears unchanged in a rewritten database (apt-get install rewrites
// dpkg's status) keeps the layer that first introduced it. Language
// packages whose path, or whose directory (egg-info, dist-info), appears
// in a surviving OS file list are marked OwnedByOS. OS packages take the
// distribution's ecosystem and a purl with the distro qualifier once the
// distribution is known (/etc/os-release first, then /usr/lib/os-release,
// then the fallbacks). Limits: an ancestor directory replaced by a file
// in a later layer does not hide the files below it.
package catalog
