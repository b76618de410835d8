package redact

import "testing"

func TestURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"https://example.com/a.tgz", "https://example.com/a.tgz"},
		{"https://bob:pw1234@example.com/a.tgz", "https://***@example.com/a.tgz"},
		{"https://bob@example.com", "https://***@example.com"},
		{"https://a@b:pw@example.com:8443/x", "https://***@example.com:8443/x"},
		{"http://example.com/x?sig=pw1234", "http://example.com/x"},
		{"http://example.com/x#token=pw1234", "http://example.com/x"},
		{"https://example.com", "https://example.com"},
		// The trailing slash is part of what the user wrote: kept.
		{"https://example.com/", "https://example.com/"},
		{"https://bob:pw@example.com/?t=1", "https://***@example.com/"},
		{"https://example.com/a@b/c", "https://example.com/a@b/c"},
		{"file.tgz?x=1", "file.tgz"},
		{"", ""},
	} {
		if got := URL(tt.in); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
