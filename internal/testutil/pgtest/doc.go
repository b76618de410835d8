// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The server is found through MOAT_TEST_POSTGRES_URL, an admin URL such as
// postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable, which
// scripts/postgres.sh start prints. Each call creates a uniquely named
// database and drops it when the test ends, so tests may run in parallel.
//
// Without the variable a test is skipped, except under CI=true where it
// fails: CI must never pass by silently skipping the PostgreSQL half.
package pgtest
