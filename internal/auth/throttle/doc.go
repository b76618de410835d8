// Package throttle holds the two brakes on password logins: [Backoff],
// which refuses further attempts on a key (an account, a source address,
// both) for a growing time after repeated failures, and [Pool], which
// runs expensive work (password hashing) on a bounded number of workers,
// shares them fairly between sources and refuses what would queue beyond
// a bound instead of letting it wait.
//
// Both keep their state in memory, per process: a cluster of n replicas
// allows up to n times the attempts before throttling, which still turns
// an unbounded guessing rate into a small one. Both bound their memory.
// Neither knows about HTTP or identities; package identity decides the
// keys and what counts as a failure.
package throttle
