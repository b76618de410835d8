// Package match turns a package inventory into findings: it looks up each
// package's advisories in the vulnerability database, decides with the
// ecosystem's own version rules whether the installed version is affected
// (OSV semantics: introduced, fixed, last_affected, limit, explicit
// versions, several ranges; GIT ranges are judged by explicit versions
// only; withdrawn records are never stored), merges advisories that are
// aliases of one another into one finding per vulnerability per package,
// and adds severity (CVSS v2/v3/v4 computed from vectors, or the
// publisher's own rating), KEV and EPSS context and the smallest upgrade.
//
// OS packages are matched by their source package against the advisories
// of their distribution release ("Debian:12", "Ubuntu:22.04:LTS",
// "Alpine:v3.19"); language packages whose files belong to an OS package
// (OwnedByOS) are left to the OS package's advisories. The Go standard
// library is matched as OSV's "stdlib" against the toolchain version.
// End-of-life findings cover the OS release and language runtimes.
//
// Limits: Red Hat and SUSE OSV ecosystems carry product streams in their
// names and are not matched yet; RPM distributions other than Rocky Linux
// and AlmaLinux get no distribution advisories.
package match
