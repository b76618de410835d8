package gunzip

import (
	"bytes"
	"compress/gzip"
	"runtime"
	"testing"
	"time"
)

// agree checks a Reader against compress/gzip on stream: both fail or
// both succeed with the same output, and output before an error is a
// prefix of the true output.
func agree(t *testing.T, stream []byte, opts ...Option) {
	t.Helper()
	want, refErr := reference(stream)
	var got []byte
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		got, _, err = decode(stream, opts...)
	}()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > 1<<30 {
				t.Fatalf("decode holds %d MiB on %d bytes", ms.HeapAlloc>>20, len(stream))
			}
		case <-deadline:
			t.Fatalf("decode hangs on %d bytes", len(stream))
		}
	}
	if (err == nil) != (refErr == nil) {
		t.Fatalf("err %v, compress/gzip %v", err, refErr)
	}
	if err == nil && !bytes.Equal(got, want) {
		t.Fatalf("output differs: %d bytes, want %d", len(got), len(want))
	}
	if err != nil && !bytes.HasPrefix(got, want) && !bytes.HasPrefix(want, got) {
		t.Fatalf("partial outputs diverge: %d and %d bytes", len(got), len(want))
	}
}

// FuzzReader feeds arbitrary bytes to the Reader, sequential and
// speculating on tiny chunks.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(gz(f, []byte("hello, hello, hello"), 6))
	f.Add(gz(f, bytes.Repeat([]byte("abc"), 3000), 9))
	f.Add(gz(f, []byte("stored"), gzip.NoCompression))
	f.Add(append(gz(f, []byte("one"), 1), gz(f, nil, 6)...))
	f.Add(fixedHuffman([]byte("fixed fixed fixed")))
	f.Fuzz(func(t *testing.T, stream []byte) {
		agree(t, stream, WithConcurrency(0))
		agree(t, stream, WithConcurrency(2), WithChunkSize(1<<10))
	})
}

// FuzzSpeculation compresses a payload built from the input (long enough
// to span many 1 KiB chunks), optionally flips one bit of the stream, and
// compares the speculating Reader with compress/gzip.
func FuzzSpeculation(f *testing.F) {
	f.Add([]byte("the layer's files\n"), int8(6), uint16(0), uint8(0))
	f.Add([]byte{0, 1, 2, 3, 250, 7}, int8(1), uint16(2000), uint8(3))
	f.Add([]byte("ab"), int8(0), uint16(500), uint8(1))
	f.Add([]byte("x"), int8(-2), uint16(3000), uint8(7))
	f.Fuzz(func(t *testing.T, seed []byte, level int8, flipAt uint16, bit uint8) {
		if len(seed) == 0 || level < -2 || level > 9 {
			return
		}
		const size = 48 << 10
		payload := make([]byte, 0, size+len(seed)+2)
		for i := 0; len(payload) < size; i++ {
			payload = append(payload, seed...)
			payload = append(payload, byte(i), byte(i>>8))
		}
		stream := gz(t, payload, int(level))
		if flipAt != 0 {
			stream[int(flipAt)%len(stream)] ^= 1 << (bit & 7)
		}
		agree(t, stream, WithConcurrency(2), WithChunkSize(1<<10))
	})
}
