package config

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse checks that no input makes the parser panic, that every
// rejection is classified as ErrInvalid, and that whatever it accepts is a
// version-1 configuration.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"version: 1\n",
		"version: 1\naddr: :5000\ndataDir: ./moat-data\n",
		"version: 1\ndatabase: postgres://moat:pw@localhost/moat\nstorage:\n  driver: fs\n  root: /blobs\n",
		"version: 1\nuploads:\n  ttl: 24h\n  purgeInterval: 1h\ngc:\n  interval: 1h\n  grace: 1h\n",
		"version: 1\nlog:\n  level: debug\n  format: json\nhttp:\n  readHeaderTimeout: 10s\n",
		"version: 1\nlimits:\n  maxHeaderBytes: 1048576\n",
		"version: 1\ndatabase:\n  dsn: postgres://moat:pw@localhost/moat\n  maxConns: 20\n",
		"version: 1\nd: &d {maxConns: 2}\ndatabase: *d\n",
		"version: 1\ntls:\n  certFile: c.pem\n  keyFile: k.pem\n  clientAuth: optional\nlisteners:\n  - name: private\n    addr: :5001\n    tls: {selfSigned: true}\n",
		"version: 2\n",
		"version: 1\n---\nversion: 1\n",
		"&a [*a, *a]\n",
		"version: !!binary aGVsbG8=\n",
		"version: 1\naddr: {a: b}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if cfg.Version != Version {
			t.Fatalf("accepted version %d", cfg.Version)
		}
		_ = cfg.Validate()
	})
}
