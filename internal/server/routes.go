package server

import "github.com/moat-dev/moat/internal/distribution/v2path"

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

// v2Templates are the route templates of the per-repository endpoints.
var v2Templates = map[v2path.Endpoint]string{
	v2path.Blob:        routeBlob,
	v2path.UploadStart: routeUploadStart,
	v2path.Upload:      routeUpload,
	v2path.Manifest:    routeManifest,
	v2path.Tags:        routeTags,
	v2path.Referrers:   routeReferrers,
}

// v2Route maps a /v2/ escaped path to its route template. It parses the
// path with v2path, as the distribution handler does, so a request is
// labelled with the endpoint that served it.
func v2Route(escapedPath string) string {
	switch escapedPath {
	case "/v2/", "/v2":
		return routeBase
	case "/v2/_catalog":
		return routeCatalog
	}
	if r, ok := v2path.Parse(escapedPath); ok {
		return v2Templates[r.Endpoint]
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
