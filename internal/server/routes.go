package server

import "strings"

// Route templates used as the "route" metric label and in access logs. The
// repository name and references are replaced by placeholders so the label
// set stays small whatever clients send.
const (
	routeBase        = "/v2/"
	routeCatalog     = "/v2/_catalog"
	routeBlob        = "/v2/{name}/blobs/{digest}"
	routeUploadStart = "/v2/{name}/blobs/uploads/"
	routeUpload      = "/v2/{name}/blobs/uploads/{id}"
	routeManifest    = "/v2/{name}/manifests/{reference}"
	routeTags        = "/v2/{name}/tags/list"
	routeReferrers   = "/v2/{name}/referrers/{digest}"
	routeV2Other     = "/v2/other"
	routeHealthz     = "/healthz"
	routeReadyz      = "/readyz"
	routeMetrics     = "/metrics"
	routeOther       = "other"
)

// v2Route maps a /v2/ path to its route template. Repository names may hold
// slashes (and even the words "blobs" or "manifests"), so the path is
// matched from its end, the way the distribution spec's endpoints are
// defined: <name> is everything before the last fixed segment.
func v2Route(path string) string {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return routeBase
		}
		return routeV2Other
	}
	switch {
	case rest == "":
		return routeBase
	case rest == "_catalog":
		return routeCatalog
	case strings.HasSuffix(rest, "/tags/list"):
		return routeTags
	case strings.HasSuffix(rest, "/blobs/uploads/"):
		return routeUploadStart
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return routeV2Other
	}
	head, last := rest[:i], rest[i+1:]
	if last == "" {
		return routeV2Other
	}
	switch {
	case strings.HasSuffix(head, "/blobs/uploads"):
		return routeUpload
	case strings.HasSuffix(head, "/blobs"):
		return routeBlob
	case strings.HasSuffix(head, "/manifests"):
		return routeManifest
	case strings.HasSuffix(head, "/referrers"):
		return routeReferrers
	}
	return routeV2Other
}

// isUploadRoute reports whether requests on route carry upload data.
func isUploadRoute(route string) bool {
	return route == routeUploadStart || route == routeUpload
}

// methodLabel keeps the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "OTHER"
}
