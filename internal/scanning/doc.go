// Package scanning is the registry checking every image: it scans images
// when they are pushed (a consumer of the events outbox enqueues durable
// scan jobs), re-matches stored inventories whenever the advisory
// database changes (continuous scanning, without reading a layer), runs
// manual scans, attaches each image's SBOM as an OCI referrer, and
// decides pull gates from the stored findings.
//
// It joins the parts other packages own: the scanner (internal/scan),
// the findings store (internal/findings), the job queue (internal/jobs),
// the outbox (internal/events), the live advisory database
// (vulndb.Live) and the registry's storage. The rules come from
// scanrules: a configuration file's scanning section, or, without one,
// what the API stored in the database (the built-in default until then).
//
// Work spreads over replicas through the jobs table: each image is
// scanned by one worker, each advisory change is re-matched once per
// cluster, and a scan interrupted by a crash is redone.
package scanning
