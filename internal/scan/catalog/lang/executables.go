package lang

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/golang"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/java"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/runtime"
	"github.com/moat-dev/moat/internal/scan/catalog/lang/rust"
)

// Executables runs the analyzers that look inside executables (Go build
// info, cargo-auditable data, the node release string) over one shared
// pass of each executable. Offered separately, several analyzers would
// want every executable and the catalog would have to buffer each one;
// here the stream is fanned out to them through pipes instead, so no
// executable is held in memory.
type Executables struct {
	inner []catalog.Analyzer // nil: the default set; tests substitute
}

var _ catalog.Analyzer = Executables{}

func (e Executables) analyzers() []catalog.Analyzer {
	if e.inner != nil {
		return e.inner
	}
	return []catalog.Analyzer{golang.Binary{}, rust.Binary{}, runtime.NodeBinary{}}
}

func (Executables) Name() string { return "executables" }

// Version changes whenever an inner analyzer's does.
func (e Executables) Version() int {
	v := 0
	for _, a := range e.analyzers() {
		v += a.Version()
	}
	return v
}

func (e Executables) Wants(path string, mode fs.FileMode, size int64) bool {
	if (java.Archive{}).Wants(path, mode, size) {
		return false // an executable jar is read as an archive
	}
	for _, a := range e.analyzers() {
		if a.Wants(path, mode, size) {
			return true
		}
	}
	return false
}

// errReaderDone tells the fan-out that an analyzer stopped reading.
var errReaderDone = errors.New("analyzer finished reading")

func (e Executables) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	var as []catalog.Analyzer
	for _, a := range e.analyzers() {
		if a.Wants(f.Path, f.Mode, f.Size) {
			as = append(as, a)
		}
	}
	switch len(as) {
	case 0:
		return nil, nil
	case 1:
		return as[0].Analyze(ctx, f)
	}
	type outcome struct {
		res *catalog.Result
		err error
	}
	out := make([]outcome, len(as))
	writers := make([]*io.PipeWriter, len(as))
	var wg sync.WaitGroup
	for i, a := range as {
		pr, pw := io.Pipe()
		writers[i] = pw
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					out[i].err = fmt.Errorf("%s panicked: %v", a.Name(), v)
				}
				pr.CloseWithError(errReaderDone)
			}()
			res, err := a.Analyze(ctx, &catalog.File{Path: f.Path, Mode: f.Mode, Size: f.Size, Content: pr})
			out[i] = outcome{res, err}
		}()
	}
	copyErr := fanOut(ctx, f.Content, writers)
	for _, pw := range writers {
		pw.CloseWithError(copyErr) // nil: readers see EOF
	}
	wg.Wait()

	res := &catalog.Result{}
	var errs []error
	for i, o := range out {
		if o.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", as[i].Name(), o.err))
		}
		if o.res != nil {
			res.Packages = append(res.Packages, o.res.Packages...)
		}
	}
	if len(res.Packages) == 0 {
		res = nil
	}
	return res, errors.Join(errs...)
}

// fanOutBufs recycles fanOut's buffer, one per executable otherwise.
var fanOutBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// fanOut copies r to every writer until EOF or until no writer reads any
// more, and returns the read error, if any.
func fanOut(ctx context.Context, r io.Reader, ws []*io.PipeWriter) error {
	bp := fanOutBufs.Get().(*[]byte)
	defer fanOutBufs.Put(bp)
	buf := *bp
	live := make([]bool, len(ws))
	n := len(ws)
	for i := range live {
		live[i] = true
	}
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := r.Read(buf)
		for i, w := range ws {
			if m == 0 || !live[i] {
				continue
			}
			if _, werr := w.Write(buf[:m]); werr != nil {
				live[i] = false
				n--
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}
