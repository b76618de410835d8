// Package report holds the finding model of a vulnerability scan and writes
// reports as a severity-grouped table, JSON, SARIF 2.1.0 (for code-scanning
// dashboards) and CycloneDX 1.6 with vulnerabilities.
//
// Output is deterministic: findings are sorted and every timestamp comes
// from the Report, so golden files stay stable.
package report
