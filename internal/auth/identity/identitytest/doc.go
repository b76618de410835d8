// Package identitytest holds what tests of identity stores share: an
// in-memory Store for unit tests (never for production: it forgets
// everything on exit) and RunStoreTests, the conformance suite every
// identity.Store implementation must pass.
package identitytest
