// Package manifest parses and validates manifests pushed to the registry.
//
// Parse accepts OCI image manifests and indexes (including artifacts, which
// are image manifests with an artifactType or a non-image config), Docker
// schema 2 manifests and Docker manifest lists. It refuses Docker schema 1
// (ErrUnsupported), documents larger than MaxSize (ErrTooLarge) and anything
// malformed (ErrInvalid), and reports what the registry needs to store the
// manifest: the blobs it references, the child manifests of an index, its
// subject and artifact type for the referrers API.
//
// Parse checks a manifest's own content only. Whether the referenced blobs
// and children exist in the repository, and whether the body hashes to the
// digest it was pushed under, are the registry's checks. Unknown fields are
// allowed, as the image spec requires; the raw bytes are what gets stored.
package manifest
