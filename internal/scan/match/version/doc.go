// Package version compares package versions by each ecosystem's own rules,
// delegating to the comparator libraries maintained for them: dpkg
// (Debian, Ubuntu), apk (Alpine), rpm (RPM distributions), semver (npm,
// crates.io, OSV SEMVER ranges), Go module semver with pseudo-versions
// (golang.org/x/mod), PEP 440 (PyPI), Maven, RubyGems, and a four-part
// semver-like order for NuGet and Composer.
//
// The package does no I/O. Unknown ecosystems fall back to semver and
// report ErrUnsupported only when a version cannot be parsed that way.
package version
