// Package meta is moat's metadata store: repositories, manifests, tags,
// blob records and their repository links, referrers, upload sessions and
// push/pull bookkeeping, in one SQL schema that runs on SQLite (the
// embedded default, pure-Go driver) and PostgreSQL (many replicas).
//
// All multi-row changes happen in a single transaction. There is no
// store-wide lock: writes to different repositories do not wait on each
// other beyond what the database itself serializes (SQLite has a single
// writer; PostgreSQL locks rows).
//
// The Store interface is the contract; its behaviour is pinned by the
// shared suite in meta/metatest, which runs on both engines.
package meta
