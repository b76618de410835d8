package distribution

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/opencontainers/go-digest"
)

func uploadLocation(name, id string) string {
	return "/v2/" + name + "/blobs/uploads/" + url.PathEscape(id)
}

func blobLocation(name string, d digest.Digest) string {
	return "/v2/" + name + "/blobs/" + d.String()
}

// writeUploadState answers with where the upload continues and how much
// it holds, as Docker clients expect after every upload request.
func writeUploadState(w http.ResponseWriter, status int, u *registry.Upload) {
	hd := w.Header()
	hd.Set("Location", uploadLocation(u.Repository, u.ID))
	hd.Set("Docker-Upload-UUID", u.ID)
	hd.Set("Range", uploadRange(u.Offset))
	hd.Set("Content-Length", "0")
	w.WriteHeader(status)
}

// uploadRange is the inclusive byte range received so far. With nothing
// received it reads "0-0", as the reference implementation does.
func uploadRange(offset int64) string {
	return fmt.Sprintf("0-%d", max(offset-1, 0))
}

func writeBlobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	hd := w.Header()
	hd.Set("Location", blobLocation(name, d))
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// startUpload handles POST .../blobs/uploads/: a mount (?mount=&from=), a
// monolithic upload (?digest=), or a new session.
func (h *handler) startUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	q := req.URL.Query()
	if m := q.Get("mount"); m != "" {
		d := digest.Digest(m)
		from := q.Get("from")
		ok, err := h.mayMountFrom(ctx, rt.name, from)
		if err != nil {
			// The pull of the source was refused (or could not be
			// decided).
			h.notify(ctx, Event{Action: policy.ActionPull, Repository: from, Digest: d, Err: err})
			return err
		}
		if !ok {
			// Not a failure: the client uploads the blob instead.
			u, err := h.reg.StartUpload(ctx, rt.name)
			if err != nil {
				return err
			}
			writeUploadState(w, http.StatusAccepted, u)
			return nil
		}
		res, err := h.reg.MountBlob(ctx, rt.name, from, d)
		if err != nil {
			return err
		}
		if res.Mounted {
			writeBlobCreated(w, rt.name, d)
			return nil
		}
		writeUploadState(w, http.StatusAccepted, res.Upload)
		return nil
	}
	if ds := q.Get("digest"); ds != "" {
		d := digest.Digest(ds)
		if _, err := h.reg.PutBlob(ctx, rt.name, d, req.ContentLength, req.Body); err != nil {
			return err
		}
		writeBlobCreated(w, rt.name, d)
		return nil
	}
	u, err := h.reg.StartUpload(ctx, rt.name)
	if err != nil {
		return err
	}
	writeUploadState(w, http.StatusAccepted, u)
	return nil
}

func (h *handler) uploadStatus(w http.ResponseWriter, req *http.Request, rt route) error {
	u, err := h.reg.UploadStatus(req.Context(), rt.name, rt.arg)
	if err != nil {
		return err
	}
	writeUploadState(w, http.StatusNoContent, u)
	return nil
}

// patchUpload appends a chunk: streamed (no Content-Range) or a declared
// range that must start where the upload ends (416 otherwise).
func (h *handler) patchUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	c, err := chunkOf(req)
	if err != nil {
		return err
	}
	u, err := h.reg.AppendUpload(req.Context(), rt.name, rt.arg, c)
	if err != nil {
		return withUploadState(w, rt, err)
	}
	writeUploadState(w, http.StatusAccepted, u)
	return nil
}

// finishUpload completes an upload with ?digest=, appending the body as
// the last chunk if there is one.
func (h *handler) finishUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	ds := req.URL.Query().Get("digest")
	if ds == "" {
		return fmt.Errorf("%w: the digest query parameter is required to complete an upload", registry.ErrDigestInvalid)
	}
	d := digest.Digest(ds)
	var last *registry.Chunk
	if req.ContentLength != 0 {
		c, err := chunkOf(req)
		if err != nil {
			return err
		}
		last = &c
	}
	if _, err := h.reg.FinishUpload(req.Context(), rt.name, rt.arg, d, last); err != nil {
		return withUploadState(w, rt, err)
	}
	writeBlobCreated(w, rt.name, d)
	return nil
}

func (h *handler) cancelUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	if err := h.reg.CancelUpload(req.Context(), rt.name, rt.arg); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// withUploadState adds the session's Location and Range to an error
// response for a rejected chunk, so the client knows where to resume.
func withUploadState(w http.ResponseWriter, rt route, err error) error {
	var re *registry.RangeError
	if errors.As(err, &re) {
		hd := w.Header()
		hd.Set("Location", uploadLocation(rt.name, rt.arg))
		hd.Set("Docker-Upload-UUID", rt.arg)
		hd.Set("Range", uploadRange(re.Offset))
	}
	return err
}

// chunkOf reads the chunk's declared range from Content-Range, accepting
// "<start>-<end>" and "bytes <start>-<end>/<size>".
func chunkOf(req *http.Request) (registry.Chunk, error) {
	c := registry.Chunk{Start: -1, Length: req.ContentLength, Body: req.Body}
	cr := strings.TrimSpace(req.Header.Get("Content-Range"))
	if cr == "" {
		return c, nil
	}
	spec := strings.TrimPrefix(cr, "bytes ")
	spec, _, _ = strings.Cut(spec, "/")
	first, last, ok := strings.Cut(spec, "-")
	start, err1 := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	end, err2 := strconv.ParseInt(strings.TrimSpace(last), 10, 64)
	if !ok || err1 != nil || err2 != nil || start < 0 || end < start {
		return c, fmt.Errorf("%w: Content-Range %q", registry.ErrRangeInvalid, cr)
	}
	length := end - start + 1
	if req.ContentLength >= 0 && req.ContentLength != length {
		return c, fmt.Errorf("%w: Content-Range %q declares %d bytes, Content-Length %d", registry.ErrSizeInvalid, cr, length, req.ContentLength)
	}
	c.Start, c.Length = start, length
	return c, nil
}
