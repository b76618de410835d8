// Package blobtest is the conformance suite every blob.Driver runs.
//
// Run checks the contract of package blob against a fresh driver per
// subtest: typed errors, rejection of invalid digests and upload IDs,
// upload offsets and reader failures, range opens, commit visibility and
// idempotence, size mismatches, concurrent uploads and reads, and that no
// state is left behind after commits and deletes. Drivers that implement
// blob.Walker are walked as part of the leftover checks.
//
// The suite observes drivers only through their interface; checks of a
// driver's own storage (files on disk, objects in a bucket) belong in that
// driver's tests.
package blobtest
