package catalog

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/gunzip"
)

const (
	// maxWarnings bounds the warnings kept per layer; a hostile layer can
	// otherwise produce one per entry.
	maxWarnings = 50
	// maxTracked bounds the regular-file paths remembered per layer to
	// check hard-link targets.
	maxTracked = 500_000
	// zstdMaxWindow bounds the decoder's memory; zstd's own levels stay
	// well below it, only --long archives exceed it.
	zstdMaxWindow = 64 << 20
	// bufKeep is the largest shared-read buffer kept for the next file.
	bufKeep = 4 << 20
	// maxKept bounds the headers entry hooks may keep per layer.
	maxKept = 500_000
)

// errLayerTooLarge stops a layer that decompresses past MaxLayerSize.
var errLayerTooLarge = errors.New("layer exceeds the uncompressed size limit")

// walker accumulates one layer's result.
type walker struct {
	c        *Catalog
	res      LayerResult
	dropped  int
	keptOver int            // entries hooks kept past maxKept
	lastSeen map[string]int // analyzed path -> entry index of its last occurrence
	entryOf  []int          // entry index per res.Files element
	tracked  map[string]struct{}
	wanting  []Analyzer
	// buf holds a file several analyzers want, reused across files.
	buf bytes.Buffer
}

func (c *Catalog) newWalker(dgst string) *walker {
	return &walker{
		c:        c,
		res:      LayerResult{Digest: dgst},
		lastSeen: map[string]int{},
		tracked:  map[string]struct{}{},
		wanting:  make([]Analyzer, 0, len(c.analyzers)),
	}
}

// keep offers an entry to the entry hooks and records it when one keeps
// it.
func (w *walker) keep(e Entry) {
	if len(w.c.hooks) == 0 {
		return
	}
	for _, h := range w.c.hooks {
		if h.Keep(&e) {
			if len(w.res.Entries) >= maxKept {
				w.keptOver++
				return
			}
			w.res.Entries = append(w.res.Entries, e)
			return
		}
	}
}

func (w *walker) warn(format string, args ...any) {
	if len(w.res.Warnings) < maxWarnings {
		w.res.Warnings = append(w.res.Warnings, fmt.Sprintf(format, args...))
		return
	}
	w.dropped++
}

func (w *walker) finish() *LayerResult {
	if w.keptOver > 0 {
		w.warn("%d entries past the %d kept for file checks were not kept", w.keptOver, maxKept)
	}
	if w.dropped > 0 {
		w.res.Warnings = append(w.res.Warnings, fmt.Sprintf("%d more warnings not shown", w.dropped))
	}
	// A path that occurs twice in one layer keeps only its last entry's
	// results, as extraction would.
	files := w.res.Files[:0]
	for i, f := range w.res.Files {
		if w.lastSeen[f.Path] == w.entryOf[i] {
			files = append(files, f)
		}
	}
	w.res.Files = files
	return &w.res
}

// wants fills w.wanting with the analyzers that want the entry.
func (w *walker) wants(p string, mode fs.FileMode, size int64) []Analyzer {
	w.wanting = w.wanting[:0]
	for _, a := range w.c.analyzers {
		if a.Wants(p, mode, size) {
			w.wanting = append(w.wanting, a)
		}
	}
	return w.wanting
}

// cleanName makes a tar name absolute and clean, noting names that try to
// leave the root.
func (w *walker) cleanName(name string) string {
	p := path.Clean("/" + name)
	if name == ".." || strings.HasPrefix(name, "../") ||
		strings.Contains(name, "/../") || strings.HasSuffix(name, "/..") {
		w.warn("entry %q escapes the root; read as %s", name, p)
	}
	return p
}

// entry handles one tar or directory entry. open is called at most once,
// only for wanted regular files.
func (w *walker) entry(ctx context.Context, idx int, p string, mode fs.FileMode, size int64, open func() (io.Reader, error)) error {
	dir, base := path.Split(p)
	dir = path.Clean(dir)
	if base == ".wh..wh..opq" {
		w.res.Opaques = append(w.res.Opaques, dir)
		return nil
	}
	if name, ok := strings.CutPrefix(base, ".wh."); ok {
		w.res.Whiteouts = append(w.res.Whiteouts, path.Join(dir, name))
		return nil
	}
	if !mode.IsRegular() {
		if !mode.IsDir() && len(w.wants(p, mode, 0)) > 0 {
			w.res.Shadows = append(w.res.Shadows, p)
		}
		return nil
	}
	if len(w.tracked) < maxTracked {
		w.tracked[p] = struct{}{}
	}
	as := w.wants(p, mode, size)
	if len(as) == 0 {
		return nil
	}
	if size > w.c.maxFileSize {
		w.warn("%s: %d bytes exceeds the %d-byte file limit; not analyzed", p, size, w.c.maxFileSize)
		w.res.Shadows = append(w.res.Shadows, p)
		return nil
	}
	r, err := open()
	if err != nil {
		w.warn("%s: %v", p, err)
		w.res.Shadows = append(w.res.Shadows, p)
		return nil
	}
	r = io.LimitReader(r, size)
	if len(as) > 1 {
		// Several analyzers read the same file (a package.json both the npm
		// and the secret analyzer want): read it once into a buffer, which
		// size, capped by maxFileSize above, bounds.
		w.buf.Reset()
		if _, err := w.buf.ReadFrom(r); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		buf := w.buf.Bytes()
		for _, a := range as {
			w.analyze(ctx, idx, a, &File{Path: p, Mode: mode, Size: size, Content: bytes.NewReader(buf)})
		}
		if w.buf.Cap() > bufKeep {
			w.buf = bytes.Buffer{} // don't hold a rare large file for the whole layer
		}
		return nil
	}
	w.analyze(ctx, idx, as[0], &File{Path: p, Mode: mode, Size: size, Content: r})
	return nil
}

// analyze runs one analyzer on one file; errors and panics become warnings
// so one bad analyzer or file cannot stop the scan.
func (w *walker) analyze(ctx context.Context, idx int, a Analyzer, f *File) {
	w.lastSeen[f.Path] = idx
	res, err := func() (res *Result, err error) {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("analyzer panicked: %v", v)
			}
		}()
		return a.Analyze(ctx, f)
	}()
	if err != nil {
		w.warn("%s: %s: %v", f.Path, a.Name(), err)
	}
	if res == nil || (len(res.Packages) == 0 && len(res.Owned) == 0 && res.Distro == nil && len(res.Findings) == 0) {
		// Record the path even without results so a lower layer's
		// version of the file is still shadowed; a shadow is cheaper to
		// cache than an empty file result, which matters once the secret
		// analyzer reads most text files.
		if n := len(w.res.Shadows); n == 0 || w.res.Shadows[n-1] != f.Path {
			w.res.Shadows = append(w.res.Shadows, f.Path)
		}
		return
	}
	for i := range res.Packages {
		pk := &res.Packages[i]
		pk.Layer = w.res.Digest
		if len(pk.Paths) == 0 {
			pk.Paths = []string{f.Path}
		}
	}
	for i := range res.Findings {
		if res.Findings[i].Path == "" {
			res.Findings[i].Path = f.Path
		}
	}
	w.res.Files = append(w.res.Files, FileResult{
		Path: f.Path, Analyzer: a.Name(), Packages: res.Packages, Owned: res.Owned, Distro: res.Distro, Findings: res.Findings,
	})
	w.entryOf = append(w.entryOf, idx)
}

// countingReader fails once more than limit bytes were read.
type countingReader struct {
	r     io.Reader
	n     int64
	limit int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= c.limit {
		return 0, errLayerTooLarge
	}
	if rem := c.limit - c.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readAhead reads (and so hashes) src in its own goroutine, one 1 MiB
// chunk ahead of the caller, so reading and verifying the blob overlap
// with inflating it, the longest step of a cold scan. stop ends the
// reading early if need be and waits for the goroutine; calling it again
// is harmless.
func readAhead(src io.Reader) (r io.Reader, stop func()) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := io.CopyBuffer(pw, src, make([]byte, 1<<20))
		pw.CloseWithError(err)
	}()
	return pr, func() { pr.Close(); <-done }
}

// walkTar streams one layer blob once: verify, decompress, walk.
func (c *Catalog) walkTar(ctx context.Context, l Layer) (*LayerResult, error) {
	rc, err := l.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	defer rc.Close()
	var (
		src  io.Reader = rc
		want digest.Digest
		h    hash.Hash
	)
	if d := l.Digest(); d != "" {
		if dd, err := digest.Parse(d); err == nil && dd.Algorithm().Available() {
			want, h = dd, dd.Algorithm().Hash()
			src = io.TeeReader(rc, h)
		}
	}
	var diffID digest.Digest
	if dl, ok := l.(DiffIDLayer); ok && dl.DiffID() != "" {
		if diffID, err = digest.Parse(dl.DiffID()); err != nil || !diffID.Algorithm().Available() {
			return nil, fmt.Errorf("%w: diff_id %q is not a digest", ErrDiffID, dl.DiffID())
		}
	}
	w := c.newWalker(l.Digest())
	pr, stop := readAhead(src)
	defer stop()
	br := bufio.NewReaderSize(pr, 1<<20)
	tarErr := c.readTar(ctx, w, br, diffID)
	if ctx.Err() != nil {
		return nil, errors.Join(tarErr, ctx.Err())
	}
	if errors.Is(tarErr, ErrDiffID) {
		return nil, tarErr
	}
	// Drain what the tar reader left (padding, a stopped bomb) so the
	// digest covers the whole blob. A failing source fails here too: the
	// pipe hands its error on.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, errors.Join(tarErr, fmt.Errorf("read: %w", err))
	}
	stop() // the blob is read: src is ours again
	if tarErr != nil {
		w.warn("layer read stopped: %v", tarErr)
	}
	if want != "" {
		if got := digest.NewDigestFromBytes(want.Algorithm(), h.Sum(nil)); got != want {
			return nil, fmt.Errorf("%w: got %s", ErrDigestMismatch, got)
		}
	}
	return w.finish(), nil
}

// readTar decompresses br as needed and walks the tar. With a diffID it
// also hashes the decompressed stream to its end and fails with ErrDiffID
// unless it matches, or when the walk stopped before the end.
func (c *Catalog) readTar(ctx context.Context, w *walker, br *bufio.Reader, diffID digest.Digest) error {
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		// gunzip inflates faster than compress/gzip, and ahead in its own
		// goroutine, so walking the tar and hashing overlap with it, with
		// a few MiB in flight.
		zr, err := gunzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	var h hash.Hash
	if diffID != "" {
		h = diffID.Algorithm().Hash()
		r = io.TeeReader(r, h)
	}
	counted := &countingReader{r: r, limit: c.maxLayerSize}
	err := c.walkEntries(ctx, w, tar.NewReader(counted))
	if h == nil {
		return err
	}
	if err != nil {
		return errors.Join(err, fmt.Errorf("%w: the layer was not read to its end, so it cannot be checked against %s", ErrDiffID, diffID))
	}
	// What follows the tar's end marker (zero padding) is hashed too.
	if _, err := io.Copy(io.Discard, counted); err != nil {
		return fmt.Errorf("%w: reading past the tar's end: %w", ErrDiffID, err)
	}
	if got := digest.NewDigestFromBytes(diffID.Algorithm(), h.Sum(nil)); got != diffID {
		return fmt.Errorf("%w: uncompressed content is %s, the config says %s", ErrDiffID, got, diffID)
	}
	return nil
}

// walkEntries hands each tar entry to the walker until the end.
func (c *Catalog) walkEntries(ctx context.Context, w *walker, tr *tar.Reader) error {
	for idx := 0; ; idx++ {
		if idx%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if idx >= c.maxEntries {
			return fmt.Errorf("more than %d entries", c.maxEntries)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := w.cleanName(hdr.Name)
		w.keep(Entry{Path: p, Mode: hdr.Mode, Typeflag: hdr.Typeflag, UID: hdr.Uid, GID: hdr.Gid, Linkname: hdr.Linkname})
		mode := hdr.FileInfo().Mode()
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			mode = mode.Perm()
		case tar.TypeLink:
			// The content was earlier in the stream; the entry still
			// shadows lower layers.
			target := path.Clean("/" + hdr.Linkname)
			if _, ok := w.tracked[target]; !ok && len(w.tracked) < maxTracked {
				w.warn("hard link %s to missing target %s", p, target)
			}
			if len(w.wants(p, mode.Perm(), hdr.Size)) > 0 {
				w.res.Shadows = append(w.res.Shadows, p)
			}
			continue
		}
		if err := w.entry(ctx, idx, p, mode, hdr.Size, func() (io.Reader, error) { return tr, nil }); err != nil {
			return err
		}
	}
}

// walkFS walks a directory tree; symlinks are never followed.
func (c *Catalog) walkFS(ctx context.Context, l FSLayer) (*LayerResult, error) {
	w := c.newWalker(l.Digest())
	fsys := l.FS()
	idx := 0
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			w.warn("%s: %v", name, err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		idx++
		if idx%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if idx > c.maxEntries {
			return fmt.Errorf("more than %d entries", c.maxEntries)
		}
		var size int64
		mode := d.Type()
		if mode.IsRegular() || len(w.c.hooks) > 0 {
			info, err := d.Info()
			if err != nil {
				w.warn("%s: %v", name, err)
				return nil
			}
			w.keep(fsEntry(path.Clean("/"+name), info))
			if mode.IsRegular() {
				size, mode = info.Size(), info.Mode().Perm()
			}
		}
		var file fs.File
		e := w.entry(ctx, idx, path.Clean("/"+name), mode, size, func() (io.Reader, error) {
			f, err := fsys.Open(name)
			file = f
			return f, err
		})
		if file != nil {
			file.Close()
		}
		return e
	})
	if err != nil {
		return nil, err
	}
	return w.finish(), nil
}

// fsEntry describes a directory-tree entry as a tar header would. Owners
// are not portable through fs.FileInfo and stay 0.
func fsEntry(p string, info fs.FileInfo) Entry {
	m := info.Mode()
	e := Entry{Path: p, Mode: int64(m.Perm())}
	if m&fs.ModeSetuid != 0 {
		e.Mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		e.Mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		e.Mode |= 0o1000
	}
	switch {
	case m.IsDir():
		e.Typeflag = tar.TypeDir
	case m&fs.ModeSymlink != 0:
		e.Typeflag = tar.TypeSymlink
	case m.IsRegular():
		e.Typeflag = tar.TypeReg
	default:
		e.Typeflag = tar.TypeChar // a device or other special file
	}
	return e
}
