// Package report holds the finding model of an image scan (vulnerabilities,
// end-of-life releases, secrets and misconfigurations) and writes reports
// as a table (vulnerabilities grouped by severity, then secrets, then
// misconfigurations), JSON, SARIF 2.1.0 (for code-scanning dashboards,
// secrets and misconfigurations located at path and line) and CycloneDX
// 1.6 with vulnerabilities only (it has no model for the other kinds).
// Secrets appear only redacted, in every format.
//
// Output is deterministic: findings are sorted and every timestamp comes
// from the Report, so golden files stay stable.
package report
