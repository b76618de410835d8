package registry

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/moat-dev/moat/internal/blob"
	"github.com/moat-dev/moat/internal/meta"
	"github.com/opencontainers/go-digest"
)

// Upload is the client-visible state of an upload session.
type Upload struct {
	ID         string
	Repository string
	// Offset is how many bytes the session holds.
	Offset    int64
	StartedAt time.Time
}

// Chunk is a piece of an upload's body.
type Chunk struct {
	// Start is where the client says the chunk begins (Content-Range);
	// negative when unspecified, i.e. "append at the current end".
	Start int64
	// Length is the declared chunk length; negative when unknown (a
	// streamed body). A body shorter than Length is an error.
	Length int64
	Body   io.Reader
}

func uploadOf(u *meta.Upload) *Upload {
	return &Upload{ID: u.ID, Repository: u.Repository, Offset: u.Offset, StartedAt: u.StartedAt}
}

// StartUpload opens a new upload session in repo.
func (r *Registry) StartUpload(ctx context.Context, repo string) (*Upload, error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	now := r.now()
	u := &meta.Upload{ID: r.newID(), Repository: repo, Owner: Actor(ctx), StartedAt: now, UpdatedAt: now}
	err := r.md.CreateUpload(ctx, u, r.maxUploads)
	if errors.Is(err, meta.ErrLimit) {
		return nil, &UploadLimitError{Actor: u.Owner, Limit: r.maxUploads}
	}
	if err != nil {
		return nil, fmt.Errorf("start upload in %s: %w", repo, err)
	}
	return uploadOf(u), nil
}

// UploadStatus reports how far session id of repo has come. A session
// whose stored bytes ran ahead of its record (a crash mid-chunk) is first
// caught up, so the client resumes from what is really stored.
func (r *Registry) UploadStatus(ctx context.Context, repo, id string) (*Upload, error) {
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return nil, err
	}
	unlock, _, ok := r.uploadLocks.TryLock(id)
	if !ok {
		// A chunk is streaming right now; its record is the truth so far.
		return uploadOf(u), nil
	}
	defer unlock()
	if u, err = r.getUpload(ctx, repo, id); err != nil {
		return nil, err
	}
	if u, err = r.catchUpLocked(ctx, u); err != nil {
		return nil, err
	}
	return uploadOf(u), nil
}

// AppendUpload appends a chunk to session id. A chunk that does not start
// at the session's current end fails with a *RangeError and changes
// nothing. Bytes of a truncated body that did arrive are kept, so the
// client can ask for the status and resume.
func (r *Registry) AppendUpload(ctx context.Context, repo, id string, c Chunk) (*Upload, error) {
	unlock, err := r.lockUpload(repo, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return nil, err
	}
	u, err = r.appendLocked(ctx, u, c)
	if err != nil {
		return nil, err
	}
	return uploadOf(u), nil
}

// CancelUpload discards session id and its bytes.
func (r *Registry) CancelUpload(ctx context.Context, repo, id string) error {
	unlock, err := r.lockUpload(repo, id)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := r.getUpload(ctx, repo, id); err != nil {
		return err
	}
	return r.discardUpload(ctx, id)
}

// FinishUpload appends the optional final chunk, verifies that the session
// holds exactly the content named by d, and makes it a blob of repo. It
// returns the blob's size. On a digest mismatch the session is discarded:
// its bytes can never become the named blob.
func (r *Registry) FinishUpload(ctx context.Context, repo, id string, d digest.Digest, last *Chunk) (int64, error) {
	if err := validDigest(d); err != nil {
		return 0, err
	}
	unlock, err := r.lockUpload(repo, id)
	if err != nil {
		return 0, err
	}
	defer unlock()
	u, err := r.getUpload(ctx, repo, id)
	if err != nil {
		return 0, err
	}
	if last != nil && last.Body != nil {
		if u, err = r.appendLocked(ctx, u, *last); err != nil {
			return 0, err
		}
	}
	if err := r.commitUpload(ctx, u, d); err != nil {
		return 0, err
	}
	return u.Offset, nil
}

// PutBlob stores body as blob d of repo in one request (monolithic
// upload). size is the declared length, negative if unknown. Nothing is
// kept if the body is incomplete or does not hash to d.
func (r *Registry) PutBlob(ctx context.Context, repo string, d digest.Digest, size int64, body io.Reader) (int64, error) {
	if err := validDigest(d); err != nil {
		return 0, err
	}
	up, err := r.StartUpload(ctx, repo)
	if err != nil {
		return 0, err
	}
	unlock, err := r.lockUpload(repo, up.ID)
	if err != nil {
		return 0, err
	}
	defer unlock()
	u, err := r.md.GetUpload(ctx, up.ID)
	if err == nil {
		u, err = r.appendLocked(ctx, u, Chunk{Start: 0, Length: size, Body: body})
	}
	if err == nil {
		err = r.commitUpload(ctx, u, d)
	}
	if err != nil {
		// A monolithic upload cannot be resumed: leave nothing behind.
		// Use a fresh context so a dropped client still gets cleaned up.
		if derr := r.discardUpload(context.WithoutCancel(ctx), up.ID); derr != nil && !errors.Is(derr, ErrBlobUploadUnknown) {
			r.log.Warn("discard failed monolithic upload", "upload", up.ID, "err", derr)
		}
		return 0, err
	}
	return u.Offset, nil
}

// MountResult says whether a mount linked the blob or started an upload.
type MountResult struct {
	Mounted bool
	Size    int64   // of the mounted blob
	Upload  *Upload // the fallback session when not mounted
}

// MountBlob links blob d into repo if repository from holds it (or, when
// from is empty and anonymous mounts are enabled, if any repository does).
// Otherwise it starts an upload session, as the spec prescribes.
func (r *Registry) MountBlob(ctx context.Context, repo, from string, d digest.Digest) (*MountResult, error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	if err := validDigest(d); err != nil {
		return nil, err
	}
	mounted, size, err := r.tryMount(ctx, repo, from, d)
	if err != nil {
		return nil, err
	}
	if mounted {
		return &MountResult{Mounted: true, Size: size}, nil
	}
	up, err := r.StartUpload(ctx, repo)
	if err != nil {
		return nil, err
	}
	return &MountResult{Upload: up}, nil
}

func (r *Registry) tryMount(ctx context.Context, repo, from string, d digest.Digest) (bool, int64, error) {
	if from != "" {
		if err := validRepo(from); err != nil {
			return false, 0, err
		}
		if _, err := r.md.StatBlob(ctx, from, d); errors.Is(err, meta.ErrNotFound) {
			return false, 0, nil
		} else if err != nil {
			return false, 0, fmt.Errorf("mount %s from %s: %w", d, from, err)
		}
	} else if !r.anonymousMount {
		return false, 0, nil
	}
	// The digest lock keeps garbage collection from deleting the blob
	// between the check and the link.
	unlock, err := r.digestLocks.Lock(ctx, d.String())
	if err != nil {
		return false, 0, err
	}
	defer unlock()
	if err := r.md.LinkBlob(ctx, repo, d); errors.Is(err, meta.ErrNotFound) {
		return false, 0, nil
	} else if err != nil {
		return false, 0, fmt.Errorf("mount %s into %s: %w", d, repo, err)
	}
	size, err := r.md.StatBlob(ctx, repo, d)
	if err != nil {
		return false, 0, fmt.Errorf("mount %s into %s: %w", d, repo, err)
	}
	return true, size, nil
}

// PurgeUploads discards sessions not touched for olderThan and returns
// how many it removed. Sessions busy in this process are skipped.
func (r *Registry) PurgeUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	const batch = 500
	before := r.now().Add(-olderThan)
	purged := 0
	for {
		stale, err := r.md.StaleUploads(ctx, before, batch)
		if err != nil {
			return purged, fmt.Errorf("list stale uploads: %w", err)
		}
		progress := false
		for _, u := range stale {
			unlock, _, ok := r.uploadLocks.TryLock(u.ID)
			if !ok {
				continue
			}
			err := r.discardUpload(ctx, u.ID)
			unlock()
			if err != nil && !errors.Is(err, ErrBlobUploadUnknown) {
				return purged, err
			}
			purged++
			progress = true
		}
		if len(stale) < batch || !progress {
			return purged, nil
		}
	}
}

func (r *Registry) lockUpload(repo, id string) (func(), error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	unlock, held, ok := r.uploadLocks.TryLock(id)
	if !ok {
		return nil, &BusyError{Key: "upload " + id, Held: held}
	}
	return unlock, nil
}

// getUpload returns session id if it belongs to repo; a session of another
// repository is reported unknown rather than revealed.
func (r *Registry) getUpload(ctx context.Context, repo, id string) (*meta.Upload, error) {
	if err := validRepo(repo); err != nil {
		return nil, err
	}
	u, err := r.md.GetUpload(ctx, id)
	if errors.Is(err, meta.ErrNotFound) || (err == nil && u.Repository != repo) {
		return nil, fmt.Errorf("%w: %s", ErrBlobUploadUnknown, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get upload %s: %w", id, err)
	}
	return u, nil
}

func (r *Registry) discardUpload(ctx context.Context, id string) error {
	if err := r.blobs.DeleteUpload(ctx, id); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("delete upload data %s: %w", id, err)
	}
	if err := r.md.DeleteUpload(ctx, id); errors.Is(err, meta.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrBlobUploadUnknown, id)
	} else if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}

// appendLocked streams c into session u, hashing as it goes, and advances
// the session. The caller holds the session's lock.
func (r *Registry) appendLocked(ctx context.Context, u *meta.Upload, c Chunk) (*meta.Upload, error) {
	if c.Start >= 0 && c.Start != u.Offset {
		return nil, &RangeError{Offset: u.Offset, Start: c.Start}
	}
	h, err := restoreHash(u.HashState)
	if err != nil {
		return nil, fmt.Errorf("%w: upload %s: %w", ErrBlobUploadInvalid, u.ID, err)
	}
	body := c.Body
	if c.Length >= 0 {
		body = io.LimitReader(body, c.Length)
	}
	hr := &hashingReader{r: body, h: h}
	n, appendErr := r.blobs.AppendUpload(ctx, u.ID, u.Offset, hr)
	if errors.Is(appendErr, blob.ErrUploadBusy) {
		return nil, &BusyError{Key: "upload " + u.ID}
	}
	if errors.Is(appendErr, blob.ErrOffsetMismatch) {
		// Storage and metadata disagree about the session's length (a
		// crash between the two writes). Nothing of this chunk was read:
		// catch the record up and tell the client where to resume.
		caught, err := r.catchUpLocked(ctx, u)
		if err != nil {
			return nil, err
		}
		return nil, &RangeError{Offset: caught.Offset, Start: u.Offset}
	}
	if n == 0 && appendErr != nil {
		return nil, appendError(u.ID, hr, appendErr)
	}
	if hr.n != n {
		// The driver stored fewer bytes than it read: rebuild the hash
		// from what is stored so the state matches the offset.
		if h, err = r.rehashUpload(ctx, u.ID, u.Offset+n, digest.SHA256); err != nil {
			return nil, err
		}
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal hash state: %w", err)
	}
	next := *u
	next.Offset = u.Offset + n
	next.HashState = state
	next.UpdatedAt = r.now()
	// Record progress even if the client went away: the bytes are stored,
	// and an unrecorded append would leave storage ahead of metadata.
	if err := r.md.AdvanceUpload(context.WithoutCancel(ctx), &next, u.Offset); errors.Is(err, meta.ErrConflict) {
		return nil, &BusyError{Key: "upload " + u.ID}
	} else if err != nil {
		return nil, fmt.Errorf("advance upload %s: %w", u.ID, err)
	}
	if appendErr != nil {
		return nil, appendError(u.ID, hr, appendErr)
	}
	if c.Length >= 0 && n < c.Length {
		return nil, fmt.Errorf("%w: upload %s: chunk truncated: got %d of %d bytes", ErrSizeInvalid, u.ID, n, c.Length)
	}
	return &next, nil
}

// catchUpLocked brings session u's record level with its stored bytes.
// Bytes are durable before their offset is recorded, so after a crash
// storage can only be ahead: the hash resumes from the recorded state and
// reads just the unrecorded tail. Storage behind the record means lost
// data, and the session cannot continue. The caller holds the lock.
func (r *Registry) catchUpLocked(ctx context.Context, u *meta.Upload) (*meta.Upload, error) {
	size, err := r.blobs.UploadSize(ctx, u.ID)
	if errors.Is(err, blob.ErrNotFound) {
		// Nothing appended yet; the data file appears with the first chunk.
		size = 0
	} else if err != nil {
		return nil, fmt.Errorf("size of upload %s: %w", u.ID, err)
	}
	switch {
	case size == u.Offset:
		return u, nil
	case size < u.Offset:
		return nil, fmt.Errorf("%w: upload %s holds %d bytes but recorded %d", ErrBlobUploadInvalid, u.ID, size, u.Offset)
	}
	h, err := restoreHash(u.HashState)
	if err != nil {
		return nil, fmt.Errorf("%w: upload %s: %w", ErrBlobUploadInvalid, u.ID, err)
	}
	rc, err := r.blobs.OpenUpload(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("reopen upload %s: %w", u.ID, err)
	}
	defer rc.Close()
	if err := skip(rc, u.Offset); err != nil {
		return nil, fmt.Errorf("catch up upload %s: %w", u.ID, err)
	}
	if got, err := io.Copy(h, io.LimitReader(rc, size-u.Offset)); err != nil || got != size-u.Offset {
		return nil, fmt.Errorf("%w: catch up upload %s: read %d of %d unrecorded bytes: %v", ErrBlobUploadInvalid, u.ID, got, size-u.Offset, err)
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal hash state: %w", err)
	}
	next := *u
	next.Offset = size
	next.HashState = state
	next.UpdatedAt = r.now()
	if err := r.md.AdvanceUpload(ctx, &next, u.Offset); errors.Is(err, meta.ErrConflict) {
		return nil, &BusyError{Key: "upload " + u.ID}
	} else if err != nil {
		return nil, fmt.Errorf("advance upload %s: %w", u.ID, err)
	}
	r.log.Info("caught up upload after interruption", "upload", u.ID, "recorded", u.Offset, "stored", size)
	return &next, nil
}

// skip moves rc forward n bytes, seeking when it can.
func skip(rc io.Reader, n int64) error {
	if s, ok := rc.(io.Seeker); ok {
		_, err := s.Seek(n, io.SeekStart)
		return err
	}
	got, err := io.CopyN(io.Discard, rc, n)
	if err != nil {
		return fmt.Errorf("skipped %d of %d bytes: %w", got, n, err)
	}
	return nil
}

// appendError tells the client's fault from ours: a body that broke off
// is an invalid upload (or a cancelled request); a storage failure with a
// healthy body is an internal error whose text stays in the logs.
func appendError(id string, hr *hashingReader, err error) error {
	if hr.err == nil {
		return fmt.Errorf("append to upload %s: %w", id, err)
	}
	if errors.Is(hr.err, context.Canceled) || errors.Is(hr.err, context.DeadlineExceeded) {
		return fmt.Errorf("upload %s: %w", id, hr.err)
	}
	// The cause stays in the chain, so the edge can still find e.g. its
	// own body-limit error with errors.As.
	return fmt.Errorf("%w: upload %s: reading the request body: %w", ErrBlobUploadInvalid, id, hr.err)
}

// commitUpload verifies session u against d, commits the bytes, records
// the blob and ends the session.
func (r *Registry) commitUpload(ctx context.Context, u *meta.Upload, d digest.Digest) error {
	var computed digest.Digest
	if d.Algorithm() == digest.SHA256 {
		h, err := restoreHash(u.HashState)
		if err != nil {
			return fmt.Errorf("%w: upload %s: %w", ErrBlobUploadInvalid, u.ID, err)
		}
		computed = digest.NewDigest(digest.SHA256, h)
	} else {
		// The streaming hash is sha256; other algorithms need one pass
		// over the stored bytes.
		h, err := r.rehashUpload(ctx, u.ID, u.Offset, d.Algorithm())
		if err != nil {
			return err
		}
		computed = digest.NewDigest(d.Algorithm(), h)
	}
	if computed != d {
		if err := r.discardUpload(context.WithoutCancel(ctx), u.ID); err != nil && !errors.Is(err, ErrBlobUploadUnknown) {
			r.log.Warn("discard mismatched upload", "upload", u.ID, "err", err)
		}
		return &DigestMismatchError{Expected: d, Computed: computed}
	}
	unlock, err := r.digestLocks.Lock(ctx, d.String())
	if err != nil {
		return err
	}
	defer unlock()
	// Commit, record and end the session as one unit that a dropped
	// client cannot cut short: committed bytes without their record
	// would be invisible, and the session's bytes are gone after commit.
	ctx = context.WithoutCancel(ctx)
	if err := r.blobs.CommitUpload(ctx, u.ID, d, u.Offset); errors.Is(err, blob.ErrUploadBusy) {
		return &BusyError{Key: "upload " + u.ID}
	} else if errors.Is(err, blob.ErrSizeMismatch) {
		return fmt.Errorf("%w: upload %s: %w", ErrSizeInvalid, u.ID, err)
	} else if err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", u.ID, d, err)
	}
	if err := r.md.PutBlob(ctx, u.Repository, d, u.Offset); err != nil {
		// The session's bytes became the blob, so the session is spent;
		// end it so a retry starts cleanly. The unrecorded bytes stay
		// unreachable until the same content is pushed again.
		if derr := r.discardUpload(ctx, u.ID); derr != nil && !errors.Is(derr, ErrBlobUploadUnknown) {
			r.log.Warn("end upload session after failed record", "upload", u.ID, "err", derr)
		}
		return fmt.Errorf("record blob %s in %s: %w", d, u.Repository, err)
	}
	if err := r.md.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, meta.ErrNotFound) {
		r.log.Warn("end upload session", "upload", u.ID, "err", err)
	}
	return nil
}

// rehashUpload hashes the first n bytes of upload id with alg.
func (r *Registry) rehashUpload(ctx context.Context, id string, n int64, alg digest.Algorithm) (hash.Hash, error) {
	if !alg.Available() {
		return nil, fmt.Errorf("%w: algorithm %s unavailable", ErrDigestInvalid, alg)
	}
	rc, err := r.blobs.OpenUpload(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("reopen upload %s: %w", id, err)
	}
	defer rc.Close()
	var h hash.Hash
	if alg == digest.SHA256 {
		h = sha256.New()
	} else {
		h = alg.Hash()
	}
	got, err := io.Copy(h, io.LimitReader(rc, n))
	if err != nil {
		return nil, fmt.Errorf("rehash upload %s: %w", id, err)
	}
	if got != n {
		return nil, fmt.Errorf("%w: upload %s holds %d bytes, expected %d", ErrBlobUploadInvalid, id, got, n)
	}
	return h, nil
}

// restoreHash resumes the streaming sha256 from its marshaled state.
func restoreHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) == 0 {
		return h, nil
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("restore hash state: %w", err)
	}
	return h, nil
}

// hashingReader hashes what it reads and counts it. It remembers a read
// error of the body itself, to tell a broken request from a storage fault.
type hashingReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.h.Write(p[:n])
	hr.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		hr.err = err
	}
	return n, err
}
