// Package suppress removes accepted findings from a report: entries of a
// YAML ignore file (id, optional package, reason, optional expiry date;
// expired entries no longer apply) and OpenVEX statements marking a
// vulnerability not_affected or fixed for a product or its subcomponents.
//
// Suppressed findings are kept aside in Report.Suppressed with the reason,
// so outputs such as CycloneDX can carry the analysis. The package does
// no I/O; callers pass readers.
package suppress
