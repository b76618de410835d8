package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/blob"
)

const (
	blobsDir   = "blobs"
	uploadsDir = "uploads"
	dataFile   = "data"
	tempPrefix = ".tmp-"

	dirMode  fs.FileMode = 0o750
	fileMode fs.FileMode = 0o640
)

// algorithms lists the digest algorithms in the layout, in walk order.
var algorithms = [...]digest.Algorithm{digest.SHA256, digest.SHA512}

// Driver stores blobs in a directory tree. It is safe for concurrent use.
type Driver struct {
	root string
	sync bool
}

var (
	_ blob.Driver = (*Driver)(nil)
	_ blob.Walker = (*Driver)(nil)
)

// Option configures a Driver.
type Option func(*Driver) error

// WithoutSyncUnsafe skips every fsync. A crash can then lose or truncate
// committed blobs while metadata still points at them. Only for tests and
// throwaway stores. Default: fsync enabled.
func WithoutSyncUnsafe() Option {
	return func(d *Driver) error {
		d.sync = false
		return nil
	}
}

// New opens the store rooted at root, creating the directories it needs.
func New(root string, opts ...Option) (*Driver, error) {
	if root == "" {
		return nil, errors.New("fs: empty root directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("fs: root %q: %w", root, err)
	}
	d := &Driver{root: abs, sync: true}
	for _, opt := range opts {
		if err := opt(d); err != nil {
			return nil, fmt.Errorf("fs: %w", err)
		}
	}
	for _, dir := range []string{d.root, filepath.Join(d.root, blobsDir), filepath.Join(d.root, uploadsDir)} {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return nil, fmt.Errorf("fs: create %s: %w", dir, err)
		}
	}
	return d, nil
}

// Root returns the absolute root directory.
func (d *Driver) Root() string { return d.root }

// blobPath returns the path of a committed blob. It validates dg first:
// the path is built from its parts.
func (d *Driver) blobPath(dg digest.Digest) (string, error) {
	if err := blob.ValidateDigest(dg); err != nil {
		return "", err
	}
	hex := dg.Encoded()
	return filepath.Join(d.root, blobsDir, string(dg.Algorithm()), hex[:2], hex), nil
}

// uploadDir returns the directory of upload id after validating id.
func (d *Driver) uploadDir(id string) (string, error) {
	if err := blob.ValidateUploadID(id); err != nil {
		return "", err
	}
	return filepath.Join(d.root, uploadsDir, id), nil
}

// Stat implements blob.Driver.
func (d *Driver) Stat(ctx context.Context, dg digest.Digest) (int64, error) {
	p, err := d.blobPath(dg)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, notFound(err, "blob %s", dg)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("fs: blob %s: not a regular file", dg)
	}
	return fi.Size(), nil
}

// Open implements blob.Driver. The returned reader is an *os.File, so
// callers may type-assert io.ReadSeeker or io.ReaderAt for range requests.
func (d *Driver) Open(ctx context.Context, dg digest.Digest, offset int64) (io.ReadCloser, error) {
	p, err := d.blobPath(dg)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("%w: negative read offset %d", blob.ErrOffsetMismatch, offset)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(err, "blob %s", dg)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("fs: blob %s: %w", dg, err)
	}
	if offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("%w: read offset %d beyond size %d of blob %s", blob.ErrOffsetMismatch, offset, fi.Size(), dg)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("fs: blob %s: %w", dg, err)
		}
	}
	return f, nil
}

// Delete implements blob.Driver.
func (d *Driver) Delete(ctx context.Context, dg digest.Digest) error {
	p, err := d.blobPath(dg)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		return notFound(err, "blob %s", dg)
	}
	return d.syncDir(filepath.Dir(p))
}

// AppendUpload implements blob.Driver.
func (d *Driver) AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	dir, err := d.uploadDir(id)
	if err != nil {
		return 0, err
	}
	if offset < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", blob.ErrOffsetMismatch, offset)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	f, err := d.openUploadForAppend(id, dir, offset)
	if err != nil {
		return 0, err
	}
	defer f.Close() // also releases the lock
	if err := lockUpload(f, id); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("fs: upload %s: %w", id, err)
	}
	if fi.Size() != offset {
		return 0, fmt.Errorf("%w: upload %s holds %d bytes, append at %d", blob.ErrOffsetMismatch, id, fi.Size(), offset)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, fmt.Errorf("fs: upload %s: %w", id, err)
	}
	n, copyErr := io.Copy(f, ctxReader{ctx: ctx, r: r})
	// Sync even after a failed copy: the bytes written so far stay in the
	// upload and the caller records n as the new offset.
	syncErr := d.syncFile(f)
	if copyErr != nil {
		return n, fmt.Errorf("fs: append to upload %s after %d bytes: %w", id, n, copyErr)
	}
	if syncErr != nil {
		return n, fmt.Errorf("fs: sync upload %s: %w", id, syncErr)
	}
	return n, nil
}

// openUploadForAppend opens the upload's data file for writing. Only an
// append at offset 0 may create the upload; new directory entries are
// fsynced so that the session survives a crash along with its bytes.
func (d *Driver) openUploadForAppend(id, dir string, offset int64) (*os.File, error) {
	p := filepath.Join(dir, dataFile)
	if offset > 0 {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return nil, notFound(err, "upload %s", id)
		}
		return f, nil
	}
	switch err := os.Mkdir(dir, dirMode); {
	case err == nil:
		if err := d.syncDir(filepath.Dir(dir)); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrExist):
		return nil, fmt.Errorf("fs: create upload %s: %w", id, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return nil, notFound(err, "upload %s", id)
		}
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fs: create upload %s: %w", id, err)
	}
	if err := d.syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// UploadSize implements blob.Driver.
func (d *Driver) UploadSize(ctx context.Context, id string) (int64, error) {
	dir, err := d.uploadDir(id)
	if err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fi, err := os.Stat(filepath.Join(dir, dataFile))
	if err != nil {
		return 0, notFound(err, "upload %s", id)
	}
	return fi.Size(), nil
}

// OpenUpload implements blob.Driver.
func (d *Driver) OpenUpload(ctx context.Context, id string) (io.ReadCloser, error) {
	dir, err := d.uploadDir(id)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, dataFile))
	if err != nil {
		return nil, notFound(err, "upload %s", id)
	}
	return f, nil
}

// CommitUpload implements blob.Driver.
//
// The upload's data file is complete and fsynced, so it is renamed straight
// into place: no copy, and the blob appears atomically. Only if the two
// directories sit on different filesystems (rename fails with EXDEV) is the
// data copied into a temp file in the target's directory, fsynced, checked
// and renamed. Either way the target directory is fsynced afterwards.
func (d *Driver) CommitUpload(ctx context.Context, id string, dg digest.Digest, size int64) error {
	dir, err := d.uploadDir(id)
	if err != nil {
		return err
	}
	target, err := d.blobPath(dg)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", blob.ErrSizeMismatch, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	src := filepath.Join(dir, dataFile)
	f, err := os.Open(src)
	if err != nil {
		return notFound(err, "upload %s", id)
	}
	defer f.Close()
	if err := lockUpload(f, id); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("fs: upload %s: %w", id, err)
	}
	if fi.Size() != size {
		return fmt.Errorf("%w: upload %s holds %d bytes, commit expects %d", blob.ErrSizeMismatch, id, fi.Size(), size)
	}
	// A blob of this digest and size exists: identical content, keep it.
	// A different size means the stored file is damaged; the verified
	// upload replaces it.
	if existing, err := os.Stat(target); err == nil && existing.Mode().IsRegular() && existing.Size() == size {
		return d.removeUpload(id, dir)
	}
	targetDir := filepath.Dir(target)
	if err := d.mkdirSynced(targetDir); err != nil {
		return fmt.Errorf("fs: commit %s: %w", dg, err)
	}
	if err := os.Rename(src, target); err != nil {
		if !errors.Is(err, syscall.EXDEV) {
			return fmt.Errorf("fs: commit %s: %w", dg, err)
		}
		if err := d.copyInto(ctx, f, target, size); err != nil {
			return fmt.Errorf("fs: commit %s: %w", dg, err)
		}
	}
	if err := d.syncDir(targetDir); err != nil {
		return fmt.Errorf("fs: commit %s: %w", dg, err)
	}
	return d.removeUpload(id, dir)
}

// copyInto writes src to a temp file beside target, syncs it, checks its
// size and renames it to target.
func (d *Driver) copyInto(ctx context.Context, src *os.File, target string, size int64) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(target), tempPrefix+filepath.Base(target)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(tmp, ctxReader{ctx: ctx, r: src})
	if err != nil {
		return err
	}
	if err := d.syncFile(tmp); err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%w: copied %d bytes, want %d", blob.ErrSizeMismatch, n, size)
	}
	if err := tmp.Chmod(fileMode); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}

// DeleteUpload implements blob.Driver.
func (d *Driver) DeleteUpload(ctx context.Context, id string) error {
	dir, err := d.uploadDir(id)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err != nil {
		return notFound(err, "upload %s", id)
	}
	return d.removeUpload(id, dir)
}

func (d *Driver) removeUpload(id, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("fs: remove upload %s: %w", id, err)
	}
	return nil
}

// WalkBlobs implements blob.Walker. It visits blobs in lexical order of
// algorithm and hex, skips temp files and anything else that is not a
// committed blob, and stops at the first error fn returns.
func (d *Driver) WalkBlobs(ctx context.Context, fn func(dg digest.Digest, size int64) error) error {
	for _, alg := range algorithms {
		algDir := filepath.Join(d.root, blobsDir, string(alg))
		prefixes, err := readDirNames(algDir)
		if err != nil {
			return err
		}
		for _, prefix := range prefixes {
			if err := ctx.Err(); err != nil {
				return err
			}
			entries, err := os.ReadDir(filepath.Join(algDir, prefix))
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
					continue
				}
				return fmt.Errorf("fs: walk: %w", err)
			}
			for _, e := range entries {
				dg := digest.NewDigestFromEncoded(alg, e.Name())
				if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), prefix) || blob.ValidateDigest(dg) != nil {
					continue
				}
				fi, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					continue // deleted while walking
				}
				if err != nil {
					return fmt.Errorf("fs: walk: %w", err)
				}
				if err := fn(dg, fi.Size()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// RemoveTempFiles deletes temp files of commits interrupted by a crash
// that were last modified before cutoff, and reports how many it removed.
// Pick a cutoff well before any commit that may still be running, e.g. an
// hour ago.
func (d *Driver) RemoveTempFiles(ctx context.Context, cutoff time.Time) (int, error) {
	removed := 0
	for _, alg := range algorithms {
		algDir := filepath.Join(d.root, blobsDir, string(alg))
		prefixes, err := readDirNames(algDir)
		if err != nil {
			return removed, err
		}
		for _, prefix := range prefixes {
			if err := ctx.Err(); err != nil {
				return removed, err
			}
			dir := filepath.Join(algDir, prefix)
			entries, err := os.ReadDir(dir)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
					continue
				}
				return removed, fmt.Errorf("fs: remove temp files: %w", err)
			}
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), tempPrefix) {
					continue
				}
				fi, err := e.Info()
				if err != nil || !fi.ModTime().Before(cutoff) {
					continue
				}
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return removed, fmt.Errorf("fs: remove temp files: %w", err)
				}
				removed++
			}
		}
	}
	return removed, nil
}

// RemoveUploadsBefore deletes upload sessions whose data was last written
// before cutoff, and sessions left without data, and reports how many it
// removed. It is the backstop for sessions the metadata store no longer
// knows; sessions it does know are purged through DeleteUpload.
func (d *Driver) RemoveUploadsBefore(ctx context.Context, cutoff time.Time) (int, error) {
	base := filepath.Join(d.root, uploadsDir)
	ids, err := readDirNames(base)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		dir := filepath.Join(base, id)
		fi, err := os.Stat(filepath.Join(dir, dataFile))
		if err == nil && !fi.ModTime().Before(cutoff) {
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil || dirOlder(dir, cutoff) {
			if err := os.RemoveAll(dir); err != nil {
				return removed, fmt.Errorf("fs: remove upload %s: %w", id, err)
			}
			removed++
		}
	}
	return removed, nil
}

// dirOlder reports whether dir was last modified before cutoff; a session
// directory without data may be one whose first append is just starting.
func dirOlder(dir string, cutoff time.Time) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.ModTime().Before(cutoff)
}

// readDirNames lists a directory's entry names; a missing directory is empty.
func readDirNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fs: read %s: %w", dir, err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names, nil
}

// mkdirSynced creates dir and its missing parents, fsyncing each new
// directory's parent so the new entries survive a crash.
func (d *Driver) mkdirSynced(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := d.mkdirSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, dirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created concurrently
		}
		return err
	}
	return d.syncDir(parent)
}

func (d *Driver) syncFile(f *os.File) error {
	if !d.sync {
		return nil
	}
	return f.Sync()
}

func (d *Driver) syncDir(dir string) error {
	if !d.sync {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fs: sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fs: sync %s: %w", dir, err)
	}
	return nil
}

// lockUpload takes an exclusive advisory lock on an upload's data file
// without waiting: a second writer of the same session is a client error or
// a retry racing its original, and must not queue behind it.
func lockUpload(f *os.File, id string) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return fmt.Errorf("%w: upload %s is being written by another request", blob.ErrUploadBusy, id)
		default:
			return fmt.Errorf("fs: lock upload %s: %w", id, err)
		}
	}
}

// notFound maps a missing file to blob.ErrNotFound and wraps other errors.
func notFound(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %s", blob.ErrNotFound, what)
	}
	return fmt.Errorf("fs: %s: %w", what, err)
}

// ctxReader stops a copy when ctx is done, so a dropped client's request
// does not keep writing.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
