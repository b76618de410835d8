package lang

import (
	"io/fs"
	"testing"
)

// BenchmarkWants measures the per-file cost of asking every language
// analyzer, on the path shapes a Debian layer is made of.
func BenchmarkWants(b *testing.B) {
	files := []struct {
		path string
		mode fs.FileMode
	}{
		{"/usr/share/doc/libc6/changelog.Debian.gz", 0o644},
		{"/usr/lib/x86_64-linux-gnu/libc.so.6", 0o755},
		{"/usr/share/locale/de/LC_MESSAGES/coreutils.mo", 0o644},
		{"/usr/bin/ls", 0o755},
		{"/srv/npmapp/node_modules/express/lib/router/index.js", 0o644},
		{"/srv/npmapp/node_modules/express/package.json", 0o644},
		{"/usr/share/java/log4j-core.jar", 0o644},
		{"/usr/lib/python3/dist-packages/idna/core.py", 0o644},
	}
	as := Analyzers()
	b.ReportAllocs()
	for b.Loop() {
		for _, f := range files {
			for _, a := range as {
				a.Wants(f.path, f.mode, 4096)
			}
		}
	}
}
