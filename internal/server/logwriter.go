package server

import (
	"io"
	"sync"
	"time"
)

// maxBuffered bounds a BufferedWriter's memory: past it, Write flushes
// inline, so a stalled log destination slows requests instead of growing
// the heap.
const maxBuffered = 256 << 10

// BufferedWriter batches log lines in memory and writes them out from one
// goroutine every interval. Loggers serialize writes under a lock, so with
// an unbuffered file or pipe every request would queue behind one write
// system call at a time; batching takes that call off the request path.
// The price: lines written in the last interval are lost if the process is
// killed (SIGKILL, OOM). Close flushes what is left.
type BufferedWriter struct {
	w       io.Writer
	mu      sync.Mutex // guards buf
	buf     []byte
	flushMu sync.Mutex // orders writes to w
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewBufferedWriter starts a writer that flushes to w every interval.
func NewBufferedWriter(w io.Writer, interval time.Duration) *BufferedWriter {
	b := &BufferedWriter{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop(interval)
	return b
}

func (b *BufferedWriter) loop(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}

// Write appends p to the buffer. It never fails; write errors of the
// destination surface from Flush and Close.
func (b *BufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= maxBuffered
	b.mu.Unlock()
	if full {
		_ = b.Flush()
	}
	return len(p), nil
}

// Flush writes out everything buffered so far.
func (b *BufferedWriter) Flush() error {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	b.mu.Lock()
	out := b.buf
	b.buf = nil
	b.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	_, err := b.w.Write(out)
	return err
}

// Close stops the flushing goroutine and flushes what is left. Writes
// after Close stay buffered until the next Flush.
func (b *BufferedWriter) Close() error {
	b.once.Do(func() { close(b.stop) })
	<-b.done
	return b.Flush()
}
