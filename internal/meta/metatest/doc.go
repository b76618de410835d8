// Package metatest is the conformance suite every meta.Store must pass.
//
// Run exercises each method's contract: results, sentinel errors and
// *meta.MissingError, pagination edges, and behaviour under concurrency
// (parallel pushes, garbage collection racing a manifest push, competing
// upload advances). Implementations call it from their own tests with a
// function that opens a fresh, empty store per subtest.
//
// The suite uses the store's real clock; time-dependent checks leave
// millisecond gaps rather than assume a fake clock.
package metatest
