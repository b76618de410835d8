package gunzip

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// CorruptError reports invalid deflate data at a compressed offset.
type CorruptError struct {
	Offset int64 // byte offset in the gzip stream
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("gzip: corrupt deflate data at offset %d", e.Offset)
}

// Option configures a Reader.
type Option func(*config) error

type config struct {
	workers   int
	chunk     int
	maxOut    int
	maxMarked int
}

// WithConcurrency sets the goroutines decoding chunks ahead speculatively
// (default GOMAXPROCS). With 0 one goroutine decodes sequentially, ahead of
// Read. Speculation costs CPU (the search for block starts, 16-bit output
// until the window is known), so it pays only with idle cores.
func WithConcurrency(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("gunzip: concurrency %d < 0", n)
		}
		c.workers = n
		return nil
	}
}

// WithChunkSize sets the compressed bytes one goroutine decodes ahead at a
// time (default 2 MiB, at least 1 KiB; small chunks only suit tests).
// Streams shorter than two chunks are decoded sequentially.
func WithChunkSize(n int) Option {
	return func(c *config) error {
		if n < 1<<10 {
			return fmt.Errorf("gunzip: chunk size %d < 1 KiB", n)
		}
		c.chunk = n
		return nil
	}
}

// WithMaxChunkOutput caps the bytes one speculative chunk may decode to
// (default 16 MiB, at least 1 MiB); a chunk inflating further, or whose
// markers last past an eighth of it, is decoded sequentially, in bounded
// memory, instead. Speculation holds at most about
// (2×concurrency+inFlight+2) × this cap at worst, a few MiB per chunk in
// practice.
func WithMaxChunkOutput(n int) Option {
	return func(c *config) error {
		if n < 1<<20 {
			return fmt.Errorf("gunzip: max chunk output %d < 1 MiB", n)
		}
		c.maxOut = n
		return nil
	}
}

const (
	seqOut   = 1 << 20  // sequential output per piece, after the window
	seqIn    = 64 << 10 // sequential input buffer
	inFlight = 4        // pieces decoded ahead of the reader
)

// piece is output handed to Read: data, and what to recycle once read.
type piece struct {
	data []byte
	buf  []byte // a sequential buffer
	job  *job
}

// Reader decompresses a gzip stream of one or more members. One goroutine
// decodes ahead of Read (and WithConcurrency more speculate); Close stops
// them. A Reader is not safe for concurrent use.
type Reader struct {
	cfg config
	st  store

	// Driver state, owned by the decoding goroutine: f is at the
	// confirmed position of the stream; win holds the member's last
	// output.
	f        inflater
	inMember bool
	hdrAt    int64 // byte offset of the next member header
	crc      uint32
	size     uint32
	win      [windowSize]byte
	nwin     int
	free     []*job
	mkFree   [][]uint16 // marker buffers of used jobs
	bufs     [][]byte
	jobs     []*job
	next     int64 // index of the next chunk to speculate on
	jobCh    chan *job
	started  bool
	stats    Stats

	pieces  chan piece // decoded output, closed after err is set
	recycle chan piece // read pieces back to the decoder
	quit    chan struct{}
	stop    atomic.Bool
	wg      sync.WaitGroup // decoder and workers
	err     error          // the decoder's final error, io.EOF at the end

	// Reader side.
	cur    piece
	rest   []byte
	rerr   error
	closed bool
}

// Stats counts how a stream was decoded.
type Stats struct {
	Jobs, Used, Failed, Missed int   // speculative chunks
	SpecBytes, MarkedBytes     int64 // output they gave, with markers
}

// NewReader reads the first member header of r's gzip stream and starts
// decoding. Like compress/gzip it returns io.EOF for an empty stream and
// gzip.ErrHeader for a bad header.
func NewReader(r io.Reader, opts ...Option) (*Reader, error) {
	z := &Reader{cfg: config{workers: runtime.GOMAXPROCS(0), chunk: 2 << 20, maxOut: 16 << 20}}
	for _, o := range opts {
		if err := o(&z.cfg); err != nil {
			return nil, err
		}
	}
	z.cfg.maxMarked = z.cfg.maxOut / 8
	z.st = store{src: r, chunk: z.cfg.chunk}
	z.f.in = make([]byte, seqIn+padding)
	if err := z.readHeader(); err != nil {
		return nil, err
	}
	z.pieces = make(chan piece, inFlight)
	z.recycle = make(chan piece, inFlight+2)
	z.quit = make(chan struct{})
	z.wg.Add(1)
	go z.decode()
	return z, nil
}

// Read implements io.Reader.
func (z *Reader) Read(p []byte) (int, error) {
	if z.closed {
		return 0, errClosed
	}
	for len(z.rest) == 0 {
		if z.rerr != nil {
			return 0, z.rerr
		}
		if z.cur.buf != nil || z.cur.job != nil {
			z.recycle <- z.cur // never blocks: as many slots as pieces
			z.cur = piece{}
		}
		pc, ok := <-z.pieces
		if !ok {
			z.rerr = z.err
			continue
		}
		z.cur, z.rest = pc, pc.data
	}
	n := copy(p, z.rest)
	z.rest = z.rest[n:]
	return n, nil
}

// Stats reports how the stream was decoded; call it after the stream
// ended or Close.
func (z *Reader) Stats() Stats { return z.stats }

// Close stops decoding. It does not close the underlying reader.
func (z *Reader) Close() error {
	if z.closed {
		return nil
	}
	z.closed = true
	z.rest = nil
	z.stop.Store(true)
	close(z.quit)
	z.wg.Wait()
	if z.rerr == nil {
		z.rerr = errClosed
	}
	return nil
}

var errClosed = errors.New("gunzip: read after Close")

// decode runs the driver until the stream ends, fails, or Close.
func (z *Reader) decode() {
	defer z.wg.Done()
	var err error
	for err == nil && !z.stop.Load() {
		err = z.advance()
		if err == nil && !z.inMember {
			err = z.readHeader()
		}
	}
	if z.started {
		close(z.jobCh)
		for _, j := range z.jobs {
			<-j.done
		}
	}
	z.err = err
	close(z.pieces)
}

// emit counts p and hands it to Read.
func (z *Reader) emit(pc piece) bool {
	z.crc = crc32.Update(z.crc, crc32.IEEETable, pc.data)
	z.size += uint32(len(pc.data))
	select {
	case z.pieces <- pc:
		return true
	case <-z.quit:
		return false
	}
}

// reclaim takes back pieces Read is done with.
func (z *Reader) reclaim() {
	for {
		select {
		case pc := <-z.recycle:
			if pc.job != nil {
				z.free = append(z.free, pc.job)
			}
			if pc.buf != nil {
				z.bufs = append(z.bufs, pc.buf)
			}
		default:
			return
		}
	}
}

// keep updates the window with p, the member's latest output.
func (z *Reader) keep(p []byte) {
	if len(p) >= windowSize {
		z.nwin = copy(z.win[:], p[len(p)-windowSize:])
		return
	}
	if z.nwin+len(p) > windowSize {
		k := z.nwin + len(p) - windowSize
		copy(z.win[:], z.win[k:z.nwin])
		z.nwin -= k
	}
	z.nwin += copy(z.win[z.nwin:], p)
}

// byteReader reads the stream through the store from off.
type byteReader struct {
	st  *store
	off int64
}

func (b *byteReader) Read(p []byte) (int, error) {
	n, err := b.st.readAt(p, b.off)
	b.off += int64(n)
	if n > 0 {
		return n, nil
	}
	return n, err
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readHeader reads a member header (RFC 1952) at z.hdrAt, with the checks
// compress/gzip makes, and starts the member.
func (z *Reader) readHeader() error {
	br := &byteReader{st: &z.st, off: z.hdrAt}
	var buf [10]byte
	if _, err := io.ReadFull(br, buf[:]); err != nil {
		return err // io.EOF: no further member
	}
	if buf[0] != 0x1f || buf[1] != 0x8b || buf[2] != 8 {
		return gzip.ErrHeader
	}
	flg := buf[3]
	digest := crc32.ChecksumIEEE(buf[:])
	if flg&0x04 != 0 { // FEXTRA
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return noEOF(err)
		}
		digest = crc32.Update(digest, crc32.IEEETable, l[:])
		extra := make([]byte, binary.LittleEndian.Uint16(l[:]))
		if _, err := io.ReadFull(br, extra); err != nil {
			return noEOF(err)
		}
		digest = crc32.Update(digest, crc32.IEEETable, extra)
	}
	for _, bit := range []byte{0x08, 0x10} { // FNAME, FCOMMENT: NUL-terminated
		if flg&bit == 0 {
			continue
		}
		var s [512]byte
		for i := 0; ; i++ {
			if i >= len(s) {
				return gzip.ErrHeader // compress/gzip's limit
			}
			if _, err := io.ReadFull(br, s[i:i+1]); err != nil {
				return noEOF(err)
			}
			if s[i] == 0 {
				digest = crc32.Update(digest, crc32.IEEETable, s[:i+1])
				break
			}
		}
	}
	if flg&0x02 != 0 { // FHCRC
		var c [2]byte
		if _, err := io.ReadFull(br, c[:]); err != nil {
			return noEOF(err)
		}
		if binary.LittleEndian.Uint16(c[:]) != uint16(digest) {
			return gzip.ErrHeader
		}
	}
	z.inMember, z.crc, z.size, z.nwin = true, 0, 0, 0
	if err := z.seek(br.off * 8); err != nil {
		return err
	}
	if c := br.off/int64(z.cfg.chunk) + 1; z.next < c {
		z.next = c
	}
	return nil
}

// seek points the driver's decoder at bit pos, a block boundary.
func (z *Reader) seek(pos int64) error {
	f := &z.f
	base := pos >> 3
	n, err := z.st.readAt(f.in[:seqIn], base)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	clear(f.in[n : n+padding])
	if n == 0 && pos&7 != 0 {
		return io.ErrUnexpectedEOF
	}
	f.reset(f.in, n, base, int(pos&7), err != nil)
	z.st.release(base - 1)
	return nil
}

// fill moves the unread input to the front of the driver's buffer and
// reads more.
func (z *Reader) fill() error {
	f := &z.f
	// Keep the bytes the bit buffer holds whole: a stored block hands
	// them back.
	keep := f.ip - int(f.nb>>3)
	k := copy(f.in, f.in[keep:f.n])
	f.base += int64(keep)
	f.ip, f.n = f.ip-keep, k
	m, err := z.st.readAt(f.in[k:seqIn], f.base+int64(k))
	f.n += m
	clear(f.in[f.n : f.n+padding])
	if err != nil {
		if !errors.Is(err, io.EOF) {
			return err
		}
		f.final = true
	}
	z.st.release(f.base - 1)
	return nil
}

// advance decodes the next piece of output, or ends the member.
func (z *Reader) advance() error {
	z.reclaim()
	z.dispatch()
	if z.f.state == stHeader && !z.f.last {
		if used, err := z.tryJob(z.win[:z.nwin]); used || err != nil {
			return err
		}
	}
	// Decode sequentially into a buffer that starts with the window.
	var buf []byte
	if k := len(z.bufs); k > 0 {
		buf, z.bufs = z.bufs[k-1], z.bufs[:k-1]
	} else {
		buf = make([]byte, windowSize+seqOut)
	}
	from := copy(buf, z.win[:z.nwin])
	op := from
	flush := func() bool {
		z.keep(buf[from:op])
		return z.emit(piece{data: buf[from:op], buf: buf})
	}
	for {
		var ev event
		var err error
		op, ev, err = inflate(&z.f, buf, op)
		if err != nil {
			flush()
			if errors.Is(err, errCorrupt) {
				err = &CorruptError{Offset: z.f.pos() / 8}
			}
			return err
		}
		switch ev {
		case evNeedInput:
			if err := z.fill(); err != nil {
				flush()
				return err
			}
		case evEnd:
			if !flush() {
				return errClosed
			}
			return z.endMember()
		case evOutFull:
			if !flush() {
				return errClosed
			}
			return nil
		case evBoundary:
			if z.f.state != stHeader || !z.jobReady() {
				continue
			}
			if !flush() {
				return errClosed
			}
			_, err := z.tryJob(z.win[:z.nwin])
			return err
		}
	}
}

// jobReady reports whether the first job's chunk is reached, so tryJob
// has something to decide.
func (z *Reader) jobReady() bool {
	return len(z.jobs) > 0 && z.jobs[0].from <= z.f.pos()
}

// endMember checks the trailer after the final block.
func (z *Reader) endMember() error {
	at := (z.f.pos() + 7) >> 3
	var t [8]byte
	br := &byteReader{st: &z.st, off: at}
	if _, err := io.ReadFull(br, t[:]); err != nil {
		return noEOF(err)
	}
	z.inMember = false
	z.hdrAt = br.off
	if binary.LittleEndian.Uint32(t[:4]) != z.crc || binary.LittleEndian.Uint32(t[4:]) != z.size {
		return gzip.ErrChecksum
	}
	return nil
}

// dispatch keeps jobs in flight on the chunks ahead of the driver.
func (z *Reader) dispatch() {
	if z.cfg.workers == 0 {
		return
	}
	c := int64(z.cfg.chunk)
	for len(z.jobs) < z.cfg.workers+1 {
		from := z.next * c
		if from*8 <= z.f.pos() {
			z.next++
			continue
		}
		// The chunk, its successor for the last block that crosses the
		// end, and padding.
		want := from + 2*c
		if _, err := z.st.ensure(want); err != nil || z.st.end <= from+c/2 {
			return // too little left to be worth it, or a read error the driver will meet
		}
		j := &job{}
		if k := len(z.free); k > 0 {
			j, z.free = z.free[k-1], z.free[:k-1]
		}
		size := int(min(want, z.st.end)-from) + padding
		if cap(j.in) < size {
			j.in = make([]byte, size)
		}
		in := j.in[:size]
		n, _ := z.st.readAt(in[:size-padding], from)
		clear(in[n:])
		*j = job{
			in: in, n: n, base: from, final: z.st.eof && from+int64(n) == z.st.end,
			from: from * 8, search: min(c, 1<<20) * 8, limit: (from + c) * 8,
			maxOut: z.cfg.maxOut, maxMarked: z.cfg.maxMarked,
			done: make(chan struct{}), mkBuf: j.mkBuf, plBuf: j.plBuf, res: j.res,
		}
		if j.mkBuf == nil && len(z.mkFree) > 0 {
			k := len(z.mkFree) - 1
			j.mkBuf, z.mkFree = z.mkFree[k], z.mkFree[:k]
		}
		z.next++
		if !z.started {
			z.started = true
			z.jobCh = make(chan *job, z.cfg.workers+1)
			for range z.cfg.workers {
				z.wg.Add(1)
				go z.work()
			}
		}
		z.stats.Jobs++
		z.jobs = append(z.jobs, j)
		z.jobCh <- j
	}
}

func (z *Reader) work() {
	defer z.wg.Done()
	f := new(inflater)
	for j := range z.jobCh {
		speculate(j, f, &z.stop)
	}
}

// tryJob uses the first job if it starts exactly at the driver's
// position, where hist is the window, dropping jobs that cannot. The
// driver is at a block boundary.
func (z *Reader) tryJob(hist []byte) (bool, error) {
	pos := z.f.pos()
	for len(z.jobs) > 0 {
		j := z.jobs[0]
		if j.from > pos {
			return false, nil // the driver has not reached the chunk yet
		}
		select {
		case <-j.done:
		case <-z.quit:
			return false, errClosed
		}
		switch {
		case j.err == nil && j.start != pos && z.sameStored(j.start, pos):
		case j.err != nil || j.start < pos:
			if j.err != nil {
				z.stats.Failed++
			} else {
				z.stats.Missed++
			}
			z.jobs = z.jobs[1:]
			z.free = append(z.free, j)
			continue
		case j.start > pos:
			return false, nil
		}
		z.jobs = z.jobs[1:]
		ok, err := z.use(j, hist)
		if !ok {
			z.free = append(z.free, j)
		}
		return ok, err
	}
	return false, nil
}

// sameStored reports whether decoding from bit s gives what decoding from
// the driver's position pos does because both read as a non-final stored
// block header that aligns to the same byte: the bits between them are
// zero padding, and the stored block's length comes after it.
func (z *Reader) sameStored(s, pos int64) bool {
	if (s+3+7)>>3 != (pos+3+7)>>3 {
		return false
	}
	var b [2]byte
	lo := min(s, pos)
	if n, _ := z.st.readAt(b[:], lo>>3); n == 0 {
		return false
	}
	v := uint16(b[0]) | uint16(b[1])<<8
	v >>= lo & 7
	// All bits from the lower start to the aligned byte are zero.
	end := (pos+3+7)>>3*8 - lo
	return v&(1<<end-1) == 0
}

// use resolves j's markers with the window hist and hands its output on.
// It reports false if a marker reaches before the member's start, which
// the sequential decode then reports as an error.
func (z *Reader) use(j *job, hist []byte) (bool, error) {
	if cap(j.res) < len(j.marked) {
		j.res = make([]byte, len(j.marked))
	}
	res := j.res[:len(j.marked)]
	for i, v := range j.marked {
		if v < 256 {
			res[i] = byte(v)
			continue
		}
		k := len(hist) - windowSize + int(v-256)
		if k < 0 {
			return false, nil
		}
		res[i] = hist[k]
	}
	z.mkFree = append(z.mkFree, j.mkBuf)
	j.mkBuf, j.marked = nil, nil
	z.stats.Used++
	z.stats.SpecBytes += int64(len(res) + len(j.plain))
	z.stats.MarkedBytes += int64(len(res))
	z.keep(res)
	z.keep(j.plain)
	if !z.emit(piece{data: res}) || !z.emit(piece{data: j.plain, job: j}) {
		return true, errClosed
	}
	if err := z.seek(j.end); err != nil {
		return true, err
	}
	if j.last {
		z.f.last = true
	}
	return true, nil
}
