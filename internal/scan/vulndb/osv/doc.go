// Package osv holds the OSV advisory schema (https://ossf.github.io/osv-schema/)
// in the compact form moat stores, and the parser that turns one OSV JSON
// document into it.
//
// The package does no I/O. Parse keeps what matching and reporting use (ids,
// aliases, ranges, explicit versions, severities, summary, references) and
// drops the rest (credits, long details beyond a cap, ecosystem-specific
// symbol lists). Zero or missing dates are tolerated; a document without an
// id or with unknown event keys is rejected with ErrInvalid.
package osv
