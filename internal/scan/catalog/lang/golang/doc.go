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
// Limits: binaries built before Go 1.18 keep their build information behind
// pointers that need random access; they are reported as an error (a
// warning in the inventory), not read. A local directory replacement
// ("=> ./dep") has no version and is reported as the required module at
// version "(devel)".
package golang
