// Package python finds Python packages: installed distributions from
// *.dist-info/METADATA, *.egg-info/PKG-INFO (and egg-info written as a
// single file) and *.egg/EGG-INFO/PKG-INFO, and declared ones from
// poetry.lock, Pipfile.lock and pinned requirements files.
//
// Package names keep their declared spelling; the purl carries the name
// normalized per PEP 503 (lowercase, runs of "-", "_", "." as "-").
//
// Limits: metadata is read only up to the blank line that ends its header
// block and at most 1 MiB; lockfiles up to 32 MiB. requirements files report
// only exact pins ("==" or "==="), and do not follow -r/-c includes.
package python
