package server

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuf) snapshot() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

func TestBufferedWriterBatchesAndKeepsOrder(t *testing.T) {
	dst := &lockedBuf{}
	w := NewBufferedWriter(dst, 20*time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				fmt.Fprintf(w, "g%d line %03d\n", g, i)
			}
		}()
	}
	wg.Wait()
	waitFor(t, func() bool { s, _ := dst.snapshot(); return strings.Count(s, "\n") == 800 })
	out, writes := dst.snapshot()
	if writes >= 800 {
		t.Errorf("%d writes for 800 lines: not batched", writes)
	}
	// Each goroutine's lines stay in order and whole.
	for g := range 8 {
		last := -1
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var lg, li int
			if _, err := fmt.Sscanf(line, "g%d line %d", &lg, &li); err != nil {
				t.Fatalf("torn line %q", line)
			}
			if lg == g {
				if li != last+1 {
					t.Fatalf("goroutine %d: line %d after %d", g, li, last)
				}
				last = li
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBufferedWriterCloseFlushes(t *testing.T) {
	dst := &lockedBuf{}
	w := NewBufferedWriter(dst, time.Hour)
	fmt.Fprint(w, "last words\n")
	if s, _ := dst.snapshot(); s != "" {
		t.Fatalf("written before flush: %q", s)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := dst.snapshot(); s != "last words\n" {
		t.Errorf("after Close: %q", s)
	}
}

func TestBufferedWriterBounded(t *testing.T) {
	dst := &lockedBuf{}
	w := NewBufferedWriter(dst, time.Hour)
	defer w.Close()
	line := strings.Repeat("x", 1023) + "\n"
	for range (maxBuffered / len(line)) + 1 {
		_, _ = w.Write([]byte(line))
	}
	if s, _ := dst.snapshot(); len(s) < maxBuffered {
		t.Errorf("buffer grew past %d bytes without flushing (%d written)", maxBuffered, len(s))
	}
}
