// Package golang finds Go modules compiled into Go executables, from the
// build information the Go linker embeds (the data that `go version -m`
// prints), and the Go toolchain itself.
//
// Binaries are read as a stream, never buffered: the scanner looks for the
// "\xff Go buildinf:" header and decodes the version and module strings
// that Go 1.18 and later store inline after it, holding at most a 256 KiB
// window plus the module information (capped at 4 MiB). A file that does
// not start with ELF, PE or Mach-O magic is dismissed after four bytes.
//
// Binaries built before Go 1.18 keep the Go version behind pointers that
// need random access, but every module-mode binary since Go 1.13 also holds
// its module information framed by two 16-byte sentinels; the scanner keeps
// that copy, so such binaries report their modules, with a warning on the
// first package that the standard library version is unknown.
//
// Limits: a pre-1.18 binary built outside module mode has no module
// information and yields ErrLegacyBuildInfo. A local directory replacement
// ("=> ./dep") has no version and is reported as the required module at
// version "(devel)".
package golang
