// Package reference validates the names that appear in OCI Distribution
// API paths: repository names, tags, and the "reference" path segment that
// is either a tag or a digest.
//
// The grammar is that of the OCI Distribution Specification v1.1. Names are
// additionally limited to MaxNameLength bytes, and digests to the algorithms
// moat stores (sha256 and sha512) with their exact lowercase hex length.
// Validation is a hand-written scanner, not a regular expression, because it
// runs on every request; it allocates only when it reports an error.
//
// The package does no I/O and has no state. It does not parse full image
// references with a registry host (e.g. "example.com/app:1.0"); clients send
// host, name and reference as separate parts of a URL.
package reference
