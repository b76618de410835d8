// Package server assembles moat's HTTP surface: it mounts the handlers of
// other packages (the /v2/ distribution API and later ones), adds /healthz,
// /readyz and /metrics, wraps everything in request IDs, panic recovery,
// structured access logs and Prometheus metrics, and owns the listeners, the
// graceful shutdown and the periodic background tasks (upload purge, online
// garbage collection).
//
// One server may serve the same handler tree on several named listeners
// (e.g. a public HTTPS port and a private plain one); [ListenerName] tells
// a handler which one a request came through, so access policies can tell
// them apart. A listener with a tls.Config serves HTTPS with HTTP/2.
//
// It holds no registry logic: the handlers it mounts and the tasks it runs
// are functions supplied by cmd/moat.
//
// Limits: metrics are labelled by route template (e.g.
// /v2/{name}/blobs/{digest}), never by repository or tag, so their
// cardinality is fixed. There is no whole-request read or write timeout,
// on purpose, so multi-gigabyte layer pushes are not cut off; header reads
// and idle connections are bounded instead. The access log records the
// path without its query string and never records request headers such as
// Authorization.
package server
