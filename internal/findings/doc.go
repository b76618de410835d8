// Package findings stores what scanning learned about each image, keyed by
// manifest digest: its scan status, its package inventory (the SBOM), the
// advisory keys its packages are judged by, and its findings with the time
// each was first seen and, once gone, resolved.
//
// Record compares a new result with the open findings of the kinds it
// covers and, in the same transaction, stores the difference, the summary
// counts and the events (scan completed, finding new, finding resolved)
// through the events outbox. A rescan after an advisory update re-matches
// the stored inventory and records only the vulnerability kinds, leaving
// the secrets and misconfigurations a layer scan found in place.
//
// The image_scans view (both engines) joins these tables with the
// registry's repositories and manifests, so that
//
//	SELECT is_compliant FROM image_scans WHERE image_digest = ?
//
// answers in SQL what the scanning configuration's compliance rule says.
//
// RecordAll records a batch of results with a few statements per batch: a
// rescan after an advisory change is scoped to the packages the changed
// advisory keys judge (findings carry a package_ref), and an image whose
// findings did not change only moves to the new database version.
//
// Limits: an unscoped result's findings are read and diffed whole; events
// name the repositories and tags the image has at the time of the change.
package findings
