// Package rust finds crates: those compiled into binaries built with
// cargo-auditable, and those pinned by Cargo.lock.
//
// cargo-auditable stores the dependency tree as zlib-compressed JSON in a
// section (".dep-v0", formerly ".rust-deps-v0"). Section headers sit at the
// end of an ELF file, so instead of buffering the binary the analyzer
// streams it and tries each zlib header it meets, inflating a few bytes to
// look for the JSON's opening `{"packages":[`; at most a 256 KiB window and
// the decompressed JSON (capped at 16 MiB) are held.
//
// Workspace members (source "local" in a binary, no source in Cargo.lock)
// are the project itself and are not reported; build-time dependencies are.
// Cargo.lock is read up to 32 MiB.
package rust
