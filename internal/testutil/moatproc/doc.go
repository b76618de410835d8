// Package moatproc runs the real moat binary for process-level tests
// (test/e2e, test/crash, test/auth): it builds `moat` once per test binary,
// starts `moat serve` on a free loopback port, waits for /readyz, and stops
// it with SIGTERM when the test ends, checking that it exits cleanly and
// that its log shows no panic or data race. It also finds the client
// programs those tests drive and runs them with a private environment.
//
// Access control is on unless a test opts out with WithoutAuth: Start passes
// an explicit --auth, sets the admin password (AdminPassword), and creates a
// robot account allowed every registry action on every repository, whose
// credentials it hands the test as Server.Robot. The tests therefore do not
// depend on the default of auth.enabled, and an anonymous GET /v2/ is
// checked to be refused (or, with WithoutAuth, answered) before a test
// runs.
//
// The binary is built from the module root by Main, which a test package
// calls from TestMain; MOAT_E2E_BINARY names a prebuilt binary instead,
// and MOAT_E2E_RACE=1 builds it with the race detector. OnEachDatabase
// runs a test on SQLite and on PostgreSQL (see internal/testutil/pgtest);
// NewPodman gives podman a sandbox of its own. Clients are looked up in
// the repository's .tools/bin, then on PATH; a missing client or service
// skips its test, except under CI=true where it fails.
//
// Limits: listens on 127.0.0.1 only (WithClientHost names it otherwise,
// e.g. localhost); HTTPS only as the test sets it up (its own flags,
// and WithTLS to tell the harness); one server per Start, each with its own
// port, data directory and log file (Server.LogPath), which every restart
// appends to.
package moatproc
