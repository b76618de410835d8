package dockerfile_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/dockerfile"
)

// FuzzLint feeds arbitrary bytes to the front end: it must return findings
// or an *InputError, never panic or hang.
func FuzzLint(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.Dockerfile")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("FROM a\nRUN <<EOF\nx\nEOF\n"))
	f.Add([]byte("# escape=`\nFROM a\nRUN a `\n b\n"))
	l, err := dockerfile.New(dockerfile.WithMaxSize(1 << 16))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := l.Lint(context.Background(), "Dockerfile", strings.NewReader(string(b)))
		if err != nil {
			var ie *dockerfile.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an *InputError", err)
			}
			return
		}
		for _, x := range fs {
			if x.Line < 1 || x.Rule == "" {
				t.Fatalf("bad finding %+v", x)
			}
		}
	})
}
