// Package cli holds process-level tests of what a new user meets first
// with the real `moat` binary: the first start of `moat serve` (the admin
// user and its once-only password, created only once every listener is
// bound) and resetting a password with `moat user passwd`, with the
// server running and stopped. The binary comes from
// internal/testutil/moatproc (built once, or MOAT_E2E_BINARY), on SQLite
// and, with MOAT_TEST_POSTGRES_URL, PostgreSQL.
//
// These tests start `moat serve` themselves where they need to see its
// output from the very first start, since moatproc always sets the admin
// password.
package cli
