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
func agree(t *testing.T, stream []byte) {
	t.Helper()
	want, refErr := reference(stream)
	var got []byte
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		got, err = decode(bytes.NewReader(stream))
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

// FuzzReader feeds arbitrary bytes to the Reader.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(gz(f, []byte("hello, hello, hello"), 6))
	f.Add(gz(f, bytes.Repeat([]byte("abc"), 3000), 9))
	f.Add(gz(f, []byte("stored"), gzip.NoCompression))
	f.Add(append(gz(f, []byte("one"), 1), gz(f, nil, 6)...))
	f.Add(fixedHuffman([]byte("fixed fixed fixed")))
	f.Fuzz(func(t *testing.T, stream []byte) {
		agree(t, stream)
	})
}
