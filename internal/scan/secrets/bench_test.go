package secrets_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// mixedCorpus builds about n bytes of the text an image holds: source code,
// config with URLs and credential-named keys, minified lines, base64 blobs,
// prose, with the positive corpus mixed in. Deterministic.
func mixedCorpus(tb testing.TB, n int, plant bool) []byte {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	word := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = alnum[r.IntN(len(alnum))]
		}
		return string(b)
	}
	var pos [][]byte
	_ = filepath.WalkDir("testdata/corpus/positive", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				pos = append(pos, b)
			}
		}
		return nil
	})
	var buf bytes.Buffer
	for buf.Len() < n {
		switch r.IntN(10) {
		case 0:
			fmt.Fprintf(&buf, "    url = \"https://%s.example.org/api/v1/%s?token_type=bearer\"\n", word(8), word(12))
		case 1:
			fmt.Fprintf(&buf, "%s\n", word(76))
		case 2:
			fmt.Fprintf(&buf, "var a=function(e,t){return e.%s(t)||null},b=a(\"%s\",{secret:!1,retries:3});", word(6), word(10))
			for i := 0; i < 40; i++ {
				fmt.Fprintf(&buf, "e.%s=t.%s;", word(5), word(7))
			}
			buf.WriteString("\n")
		case 3:
			fmt.Fprintf(&buf, "password_file = /run/secrets/%s\n", word(6))
		case 4:
			if plant && len(pos) > 0 && r.IntN(20) == 0 {
				buf.Write(pos[r.IntN(len(pos))])
			}
		default:
			fmt.Fprintf(&buf, "Lorem ipsum dolor sit amet, %s consectetur adipiscing elit, sed do eiusmod tempor.\n", word(7))
		}
	}
	return buf.Bytes()
}

// BenchmarkScan reports the throughput (MB/s) of Scan on the mixed corpus.
func BenchmarkScan(b *testing.B) {
	s := newScanner(b)
	data := mixedCorpus(b, 8<<20, true)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Scan(context.Background(), "/srv/app/data.txt", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSkips measures the per-entry filter the catalog calls for every
// file of every layer.
func BenchmarkSkips(b *testing.B) {
	s := newScanner(b)
	paths := []string{
		"/usr/lib/x86_64-linux-gnu/libssl.so.3", "/srv/npmapp/node_modules/lodash/fp/map.js",
		"/usr/share/doc/bash/copyright", "/etc/ssl/certs/ca-certificates.crt",
		"/usr/lib/python3/dist-packages/requests/sessions.py", "/srv/npmapp/node_modules/qs/test/parse.js",
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Skips(paths[i%len(paths)], 0o644, 1000)
	}
}

// The benchmark's noise (URLs, minified code, base64, prose) yields
// nothing; with the corpus planted in, findings appear.
func TestMixedCorpus(t *testing.T) {
	s := newScanner(t)
	fs, err := s.Scan(context.Background(), "/srv/app/data.txt", bytes.NewReader(mixedCorpus(t, 1<<20, false)))
	if err != nil || len(fs) != 0 {
		t.Fatalf("noise: %v, %v", fs, err)
	}
	fs, err = s.Scan(context.Background(), "/srv/app/data.txt", bytes.NewReader(mixedCorpus(t, 1<<20, true)))
	if err != nil || len(fs) == 0 {
		t.Fatalf("planted: %d findings, %v", len(fs), err)
	}
}
