// Package v2path parses the repository paths of the OCI Distribution API
// (/v2/<name>/...). The distribution handlers route requests with it and
// the server names its metrics and access-log routes with it, so the two
// always agree on what a path is.
//
// Repository names may hold slashes, and even the words "blobs",
// "manifests" or "uploads", so a path is recognized by its last fixed
// segments, as the spec defines its endpoints; everything before them is
// the name. Limits: it knows only the per-repository endpoints; "/v2/"
// and "/v2/_catalog" are exact paths the caller matches itself. It checks
// the shape of a path, not the grammar of the name or the reference.
package v2path

import (
	"net/url"
	"strings"
)

// Endpoint identifies one per-repository resource of the API.
type Endpoint int

// The endpoints, by the path that names them.
const (
	Blob        Endpoint = iota + 1 // <name>/blobs/<digest>
	UploadStart                     // <name>/blobs/uploads/ (also without the trailing slash)
	Upload                          // <name>/blobs/uploads/<id>
	Manifest                        // <name>/manifests/<reference>
	Tags                            // <name>/tags/list
	Referrers                       // <name>/referrers/<digest>
)

// Route is a parsed /v2/<name>/... path.
type Route struct {
	Endpoint Endpoint
	// Name is the repository name, unescaped; it may be empty
	// ("/v2//blobs/x"), which no repository is.
	Name string
	// Arg is the digest, upload ID or reference, unescaped; empty for
	// Tags and UploadStart.
	Arg string
}

// Parse recognizes escapedPath (a URL's escaped path, as
// url.URL.EscapedPath returns it) by its last segments. It reports false
// for a path outside /v2/, for one that names no endpoint, and for a
// segment with an invalid escape. Segments are split before unescaping, so
// an escaped "/" stays inside its segment.
func Parse(escapedPath string) (Route, bool) {
	rest, ok := strings.CutPrefix(escapedPath, "/v2/")
	if !ok {
		return Route{}, false
	}
	seg := strings.Split(rest, "/")
	for i, s := range seg {
		u, err := url.PathUnescape(s)
		if err != nil {
			return Route{}, false
		}
		seg[i] = u
	}
	n := len(seg)
	if n < 3 {
		return Route{}, false
	}
	name := func(k int) string { return strings.Join(seg[:n-k], "/") }
	last, prev := seg[n-1], seg[n-2]
	switch {
	case prev == "tags" && last == "list":
		return Route{Endpoint: Tags, Name: name(2)}, true
	case prev == "manifests" && last != "":
		return Route{Endpoint: Manifest, Name: name(2), Arg: last}, true
	case prev == "referrers" && last != "":
		return Route{Endpoint: Referrers, Name: name(2), Arg: last}, true
	case n >= 4 && seg[n-3] == "blobs" && prev == "uploads" && last == "":
		return Route{Endpoint: UploadStart, Name: name(3)}, true
	case n >= 4 && seg[n-3] == "blobs" && prev == "uploads":
		return Route{Endpoint: Upload, Name: name(3), Arg: last}, true
	case prev == "blobs" && last == "uploads":
		return Route{Endpoint: UploadStart, Name: name(2)}, true
	case prev == "blobs" && last != "":
		return Route{Endpoint: Blob, Name: name(2), Arg: last}, true
	}
	return Route{}, false
}
