package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry"
)

// errBadParameter: a query parameter or header is malformed.
var errBadParameter = errors.New("invalid parameter")

// errMethodNotAllowed: the endpoint exists but not with this method.
var errMethodNotAllowed = errors.New("method not allowed")

// errNotFound: no endpoint of the API matches the path.
var errNotFound = errors.New("no such endpoint")

// errorKind maps one error kind to its spec code and HTTP status.
type errorKind struct {
	err     error
	code    string
	status  int
	message string
}

// errorKinds is the one table of error translations, checked in order
// with errors.Is.
var errorKinds = []errorKind{
	{registry.ErrBlobUnknown, "BLOB_UNKNOWN", http.StatusNotFound, "blob unknown to registry"},
	{registry.ErrBlobUploadInvalid, "BLOB_UPLOAD_INVALID", http.StatusBadRequest, "blob upload invalid"},
	{registry.ErrBlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", http.StatusNotFound, "blob upload unknown to registry"},
	{registry.ErrDigestInvalid, "DIGEST_INVALID", http.StatusBadRequest, "provided digest did not match uploaded content"},
	{registry.ErrManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest, "manifest references a manifest or blob unknown to registry"},
	{registry.ErrManifestInvalid, "MANIFEST_INVALID", http.StatusBadRequest, "manifest invalid"},
	{registry.ErrManifestUnknown, "MANIFEST_UNKNOWN", http.StatusNotFound, "manifest unknown"},
	{registry.ErrNameInvalid, "NAME_INVALID", http.StatusBadRequest, "invalid repository name"},
	{registry.ErrNameUnknown, "NAME_UNKNOWN", http.StatusNotFound, "repository name not known to registry"},
	{registry.ErrSizeInvalid, "SIZE_INVALID", http.StatusBadRequest, "provided length did not match content length"},
	{registry.ErrTooLarge, "SIZE_INVALID", http.StatusRequestEntityTooLarge, "content exceeds the size limit"},
	{registry.ErrTagInvalid, "TAG_INVALID", http.StatusBadRequest, "invalid tag"},
	{registry.ErrUnsupported, "UNSUPPORTED", http.StatusMethodNotAllowed, "the operation is unsupported"},
	{errMethodNotAllowed, "UNSUPPORTED", http.StatusMethodNotAllowed, "the operation is unsupported"},
	{errBadParameter, "UNSUPPORTED", http.StatusBadRequest, "invalid set of parameters"},
	{errNotFound, "NOT_FOUND", http.StatusNotFound, "no such endpoint"},
	{registry.ErrRangeInvalid, "RANGE_INVALID", http.StatusRequestedRangeNotSatisfiable, "requested range not satisfiable"},
	{registry.ErrTooManyRequests, "TOOMANYREQUESTS", http.StatusTooManyRequests, "too many requests"},
	{registry.ErrDenied, "DENIED", http.StatusForbidden, "requested access to the resource is denied"},
	{meta.ErrTagImmutable, "DENIED", http.StatusForbidden, "the tag is immutable"},
	{registry.ErrUnauthorized, "UNAUTHORIZED", http.StatusUnauthorized, "authentication required"},
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// classify finds err's kind; ok is false for unexpected (internal) errors.
func classify(err error) (errorKind, bool) {
	var ch challenger
	if errors.As(err, &ch) {
		if ch.Challenge() != "" {
			return errorKind{registry.ErrUnauthorized, "UNAUTHORIZED", http.StatusUnauthorized, "authentication required"}, true
		}
		return errorKind{registry.ErrDenied, "DENIED", http.StatusForbidden, "requested access to the resource is denied"}, true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorKind{registry.ErrTooLarge, "SIZE_INVALID", http.StatusRequestEntityTooLarge,
			"content exceeds the size limit of " + strconv.FormatInt(tooBig.Limit, 10) + " bytes"}, true
	}
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			return k, true
		}
	}
	return errorKind{code: "UNKNOWN", status: http.StatusInternalServerError, message: "internal error"}, false
}

// writeError writes err as the spec's error envelope. Internal errors are
// logged and not described to the client.
func writeError(w http.ResponseWriter, req *http.Request, log *slog.Logger, err error) {
	k, known := classify(err)
	entry := errorEntry{Code: k.code, Message: k.message}
	// A refusal's text names the deciding policy, which is the operator's
	// business, not the client's.
	var m registry.Messager
	if known && errors.As(err, &m) {
		entry.Message = m.Message()
	}
	if known {
		var d registry.Detailer
		switch {
		case isRefusal(err):
		case errors.As(err, &d):
			entry.Detail = d.Detail()
		default:
			entry.Detail = err.Error()
		}
	} else if errors.Is(err, context.Canceled) {
		log.Debug("request cancelled", "method", req.Method, "path", req.URL.Path, "err", err)
	} else {
		log.Error("request failed", "method", req.Method, "path", req.URL.Path, "err", err)
	}
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{entry}})
	h := w.Header()
	var ch challenger
	if errors.As(err, &ch) && ch.Challenge() != "" {
		h.Set("WWW-Authenticate", ch.Challenge())
	}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(k.status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
