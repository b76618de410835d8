// Package secrets finds credentials in files and image configuration
// without ever keeping them: a Finding carries the rule, path, line and a
// redacted match (the first few characters and asterisks), never the value.
//
// Rules are data (rules.yaml, embedded, plus an optional user file of the
// same schema), each with an id, a severity, a regular expression, keywords
// for a prefilter, path restrictions, allow-rules for known examples and an
// optional Shannon-entropy threshold. Scanning is one streaming pass:
// every line goes through a single Aho-Corasick automaton over all
// keywords (case-insensitive); only rules whose keywords occur on a line run
// their regular expression there, so typical text costs one table lookup
// per byte.
//
// Limits: files whose first 8 KiB hold a NUL byte are binary and skipped;
// files larger than the size cap (10 MiB by default) are not read past it;
// paths matching the skip globs (vendored code, test fixtures,
// documentation trees) are skipped. Lines longer than the line cap (64 KiB
// by default) are scanned in pieces, so a secret straddling a piece boundary
// can be missed. A rule with "requires" reports only when its other
// keywords occur somewhere in the same file (a GCP key needs client_email),
// and "nextLine" checks the line after a match (a PEM header needs a key
// body), so a key split across lines is judged by those two lines only.
package secrets
