// Package crash holds moat's crash-consistency test: it builds the real
// binary, kills `moat serve` with SIGKILL while 20 clients push images (with
// go-containerregistry and with hand-made chunked uploads), restarts it on
// the same data directory and database, and checks what it serves:
//
//   - every blob reachable from the catalog verifies against its digest,
//   - no blob whose upload was interrupted is visible in part,
//   - no manifest references a missing blob,
//   - every push acknowledged before the kill is still there,
//   - chunked upload sessions interrupted by the kill resume where the
//     registry says they stopped, both between chunks and mid-chunk.
//
// It runs on SQLite, and on PostgreSQL when MOAT_TEST_POSTGRES_URL is set
// (required under CI=true), with access control on and the clients logged
// in as a robot, so the audit log is written up to the kill and must
// still verify after it. Beside it, the package checks the rest of the
// process lifecycle the same way: SIGTERM drains an in-flight upload and
// exits 0, and abandoned upload sessions are purged after their TTL.
package crash
