package gunzip

import (
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// CorruptError reports invalid deflate data at a compressed offset.
type CorruptError struct {
	Offset int64 // byte offset in the gzip stream
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("gzip: corrupt deflate data at offset %d", e.Offset)
}

const (
	windowSize = 32 << 10 // deflate's back-reference window
	pieceOut   = 1 << 20  // output per piece, after the window
	inSize     = 64 << 10 // input buffer
	inFlight   = 4        // pieces decoded ahead of the reader
)

// piece is output handed to Read: data, within buf, which goes back to
// the decoder once read.
type piece struct {
	data []byte
	buf  []byte
}

// Reader decompresses a gzip stream of one or more members. One goroutine
// decodes ahead of Read; Close stops it. A Reader is not safe for
// concurrent use.
type Reader struct {
	src io.Reader

	// Decoder state, owned by the decoding goroutine: f reads the
	// stream from its input buffer; win holds the member's last output.
	f        inflater
	inMember bool
	crc      uint32
	size     uint32
	win      [windowSize]byte
	nwin     int
	bufs     [][]byte // read pieces' buffers, for reuse

	pieces  chan piece // decoded output, closed after err is set
	recycle chan piece // read pieces back to the decoder
	quit    chan struct{}
	done    chan struct{} // closed when the decoder returns
	err     error         // the decoder's final error, io.EOF at the end

	// Reader side.
	cur    piece
	rest   []byte
	rerr   error
	closed bool
}

// NewReader reads the first member header of r's gzip stream and starts
// decoding. Like compress/gzip it returns io.EOF for an empty stream and
// gzip.ErrHeader for a bad header.
func NewReader(r io.Reader) (*Reader, error) {
	z := &Reader{src: r}
	z.f.in = make([]byte, inSize+padding)
	if err := z.readHeader(); err != nil {
		return nil, err
	}
	z.pieces = make(chan piece, inFlight)
	z.recycle = make(chan piece, inFlight+2)
	z.quit = make(chan struct{})
	z.done = make(chan struct{})
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
		if z.cur.buf != nil {
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

// Close stops decoding. It does not close the underlying reader.
func (z *Reader) Close() error {
	if z.closed {
		return nil
	}
	z.closed = true
	z.rest = nil
	close(z.quit)
	<-z.done
	if z.rerr == nil {
		z.rerr = errClosed
	}
	return nil
}

var errClosed = errors.New("gunzip: read after Close")

// decode decodes until the stream ends, fails, or Close.
func (z *Reader) decode() {
	defer close(z.done)
	var err error
	defer func() {
		// Layers come from anyone who can push: a decoder bug that
		// panics on some input fails that stream, not the process.
		if v := recover(); v != nil {
			err = fmt.Errorf("gunzip: internal error: %v", v)
		}
		z.err = err
		close(z.pieces)
	}()
	for err == nil {
		err = z.advance()
		if err == nil && !z.inMember {
			err = z.readHeader()
		}
	}
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

// reclaim takes back the buffers of pieces Read is done with.
func (z *Reader) reclaim() {
	for {
		select {
		case pc := <-z.recycle:
			z.bufs = append(z.bufs, pc.buf)
		default:
			return
		}
	}
}

// fill moves the unread input to the front of the buffer and reads more.
func (z *Reader) fill() error {
	f := &z.f
	// Keep the bytes the bit buffer holds whole: a stored block or the
	// trailer hands them back.
	keep := f.ip - int(f.nb>>3)
	k := copy(f.in, f.in[keep:f.n])
	f.base += int64(keep)
	f.ip, f.n = f.ip-keep, k
	// ReadFull so that a short read never passes for the end of the
	// input the decoder waits on.
	m, err := io.ReadFull(z.src, f.in[k:inSize])
	f.n += m
	clear(f.in[f.n : f.n+padding])
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		f.final = true
	case err != nil:
		return err
	}
	return nil
}

// byteReader reads whole bytes from the input buffer, for the member
// header and trailer; the bit buffer must be empty.
type byteReader struct{ z *Reader }

func (b byteReader) Read(p []byte) (int, error) {
	f := &b.z.f
	for f.ip >= f.n {
		if f.final {
			return 0, io.EOF
		}
		if err := b.z.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.in[f.ip:f.n])
	f.ip += n
	return n, nil
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readHeader reads a member header (RFC 1952), with the checks
// compress/gzip makes, and starts the member.
func (z *Reader) readHeader() error {
	br := byteReader{z}
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
	f := &z.f
	f.reset(f.in, f.n, f.base, f.ip*8, f.final)
	return nil
}

// advance decodes the next piece of output, or ends the member.
func (z *Reader) advance() error {
	z.reclaim()
	// Decode into a buffer that starts with the window.
	var buf []byte
	if k := len(z.bufs); k > 0 {
		buf, z.bufs = z.bufs[k-1], z.bufs[:k-1]
	} else {
		buf = make([]byte, windowSize+pieceOut)
	}
	from := copy(buf, z.win[:z.nwin])
	op := from
	flush := func() bool {
		z.nwin = copy(z.win[:], buf[max(0, op-windowSize):op])
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
		}
	}
}

// endMember checks the trailer after the final block.
func (z *Reader) endMember() error {
	// The trailer starts at the byte after the last block: drop the
	// partial byte and hand whole buffered bytes back.
	f := &z.f
	f.ip = int((f.pos()+7)>>3 - f.base)
	f.bits, f.nb = 0, 0
	var t [8]byte
	if _, err := io.ReadFull(byteReader{z}, t[:]); err != nil {
		return noEOF(err)
	}
	z.inMember = false
	if binary.LittleEndian.Uint32(t[:4]) != z.crc || binary.LittleEndian.Uint32(t[4:]) != z.size {
		return gzip.ErrChecksum
	}
	return nil
}
