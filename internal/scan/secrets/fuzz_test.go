package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/moat-dev/moat/internal/scan/secrets"
)

// FuzzScan runs the built-in rules over arbitrary content: no panic, every
// finding on a real line, and no finding that carries more than the kept
// prefix of what it matched.
func FuzzScan(f *testing.F) {
	_ = filepath.WalkDir("testdata/corpus", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	s, err := secrets.New(secrets.WithMaxLineLength(256), secrets.WithMaxFileSize(1<<16))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, path := range []string{"/app/.env", "/root/.npmrc"} {
			fs, err := s.Scan(context.Background(), path, bytes.NewReader(b))
			if err != nil && !errors.Is(err, secrets.ErrSkipped) {
				t.Fatal(err)
			}
			lines := bytes.Count(b, []byte{'\n'}) + 1
			for _, x := range fs {
				if x.Line < 1 || x.Line > lines || len(x.Match) > 12 {
					t.Fatalf("bad finding %+v (%d lines)", x, lines)
				}
			}
		}
	})
}

// FuzzRules compiles arbitrary user rule files: an error or a working
// scanner, never a panic.
func FuzzRules(f *testing.F) {
	f.Add([]byte("version: 1\nrules:\n  - id: a\n    title: A\n    regex: 'x(y+)'\n    keywords: [xy]\n"))
	f.Add([]byte("version: 1\ndisable: [jwt]\nskip: ['**/{a,b}/*.c']\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := secrets.New(secrets.WithRules(bytes.NewReader(b)))
		if err != nil {
			if !errors.Is(err, secrets.ErrBadRules) {
				t.Fatalf("error %v is not ErrBadRules", err)
			}
			return
		}
		if _, err := s.Scan(context.Background(), "/x", bytes.NewReader([]byte("xyyy password = 'abc'\n"))); err != nil {
			t.Fatal(err)
		}
	})
}
