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
//   - A mount without "from" links the blob if any repository holds it
//     (registry.WithAnonymousMount turns that off).
//   - A manifest digest is also readable through the blob endpoint.
//   - Upload Location headers are absolute paths (/v2/...), as is every
//     Location; mount this handler at /v2/ without stripping the prefix.
//
// Limits: authentication and authorization are not handled here; the
// server wraps this handler with them and passes the actor in the request
// context (registry.WithActor). Only single byte ranges are served; a
// multi-range request gets the whole blob.
package distribution
