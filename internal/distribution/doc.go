// Package distribution serves the OCI Distribution Spec v1.1 HTTP API
// (/v2/...) on top of package registry: blobs with range requests,
// resumable, streamed, chunked and monolithic uploads, cross-repository
// mounts, manifests with content negotiation, tags and catalog listing with
// pagination, and the referrers API. It also sets what Docker clients
// expect (Docker-Content-Digest, Docker-Upload-UUID, Range on upload
// responses, Docker-Distribution-API-Version).
//
// Handlers only translate HTTP to registry calls and back: they parse the
// path, query and headers, call the registry, and either write the result
// or return an error. One function (writeError) turns every error into the
// spec's JSON envelope, using one table of error kinds, codes and statuses.
//
// Behaviour worth knowing:
//   - Manifests are served in the media type they were pushed with; an
//     Accept header that lists types excluding it (and no wildcard) gets
//     404 MANIFEST_UNKNOWN, as in the reference registry. Manifests are
//     never converted.
//   - DELETE of a manifest by tag removes only the tag; by digest, the
//     manifest and every tag pointing at it.
//   - Without an authorizer, a mount without "from" links the blob if any
//     repository holds it (registry.WithAnonymousMount turns that off).
//   - A manifest digest is also readable through the blob endpoint.
//   - Upload Location headers are absolute paths (/v2/...), as is every
//     Location; mount this handler at /v2/ without stripping the prefix.
//
// Access control: authentication is not handled here; the server wraps
// this handler with it. With WithAuthorizer every request is checked for
// the action it needs before the registry is called, a cross-repository
// mount links only from a source the caller may pull (otherwise, and for
// a mount without "from", it falls back to an upload session), and the
// catalog lists only repositories the caller may list, paging over the
// visible ones. Refusals come back as errors with a Challenge method and
// are written as 401 UNAUTHORIZED with WWW-Authenticate or 403 DENIED.
// WithObserver reports manifest pulls, pushes and deletes, blob deletes
// and every refused request, after the registry call, for the audit log.
//
// Limits: only single byte ranges are served; a multi-range request gets
// the whole blob. Allowed blob reads and uploads are not reported to the
// observer (a pull is its manifest GET, a push its manifest PUT).
package distribution
