// Package config is moat's server configuration: a typed, versioned struct
// read from YAML, then overridden by MOAT_-prefixed environment variables,
// then by command-line flags (flags win over environment, environment over
// the file, the file over defaults).
//
// Parsing is strict: unknown keys, a wrong version, several YAML documents
// or values of the wrong type are errors, so a typo never silently falls
// back to a default. The package does no I/O of its own: the caller hands
// it an io.Reader and an environment lookup function.
//
// Paths that default to locations inside the data directory (blob storage
// root, the SQLite database) are resolved late, by StorageRoot and
// DatabaseDSN, so that overriding only the data directory moves them too.
//
// TLS blocks (the main listener's "tls" and each of "listeners") are
// checked for consistency here; whether the named certificate files exist,
// parse and match is checked when they are loaded, at start-up.
package config
