package gunzip

import (
	"errors"
	"io"
)

// errReleased is a read of stream bytes the store no longer holds, which
// the Reader never makes.
var errReleased = errors.New("gunzip: internal error: read before the retained stream")

// store holds the compressed stream from the oldest byte a decoder may
// still need, in fixed-size chunks read from src on demand.
type store struct {
	src   io.Reader
	chunk int
	bufs  [][]byte // chunks first, first+1, ...
	first int      // index of bufs[0]
	end   int64    // bytes read from src
	eof   bool     // src is exhausted; end is the stream size
	err   error    // a read error other than EOF
	spare [][]byte // released chunks for reuse
}

// load reads the next chunk.
func (s *store) load() error {
	if s.eof {
		return io.EOF
	}
	if s.err != nil {
		return s.err
	}
	var buf []byte
	if k := len(s.spare); k > 0 {
		buf, s.spare = s.spare[k-1][:s.chunk], s.spare[:k-1]
	} else {
		buf = make([]byte, s.chunk)
	}
	n, err := io.ReadFull(s.src, buf)
	if n > 0 {
		s.bufs = append(s.bufs, buf[:n])
		s.end += int64(n)
	}
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		s.eof = true
		if n == 0 {
			return io.EOF
		}
	case err != nil:
		s.err = err
		if n == 0 {
			return err
		}
	}
	return nil
}

// ensure loads chunks until the stream holds off bytes or ends; it
// reports whether it holds them.
func (s *store) ensure(off int64) (bool, error) {
	for s.end < off {
		if err := s.load(); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}

// readAt copies stream bytes from off into p. It returns io.EOF with a
// short count at the end of the stream, or src's read error.
func (s *store) readAt(p []byte, off int64) (int, error) {
	if _, err := s.ensure(off + int64(len(p))); err != nil && s.end <= off {
		return 0, err
	}
	n := 0
	for n < len(p) {
		at := off + int64(n)
		i := int(at/int64(s.chunk)) - s.first
		if i < 0 {
			return n, errReleased
		}
		if at >= s.end {
			break
		}
		b := s.bufs[i]
		n += copy(p[n:], b[at%int64(s.chunk):])
	}
	if n < len(p) {
		if s.err != nil {
			return n, s.err
		}
		return n, io.EOF
	}
	return n, nil
}

// release drops the chunks wholly before off.
func (s *store) release(off int64) {
	k := int(off/int64(s.chunk)) - s.first
	if k <= 0 {
		return
	}
	k = min(k, len(s.bufs))
	for _, b := range s.bufs[:k] {
		if len(s.spare) < 2 && cap(b) == s.chunk {
			s.spare = append(s.spare, b)
		}
	}
	clear(s.bufs[:k])
	s.bufs = s.bufs[k:]
	s.first += k
}
