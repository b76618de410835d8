package source

import "testing"

func TestBlobPathDigest(t *testing.T) {
	hex := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for name, want := range map[string]string{
		"blobs/sha256/" + hex:        "sha256:" + hex,
		"blobs/sha256/" + hex[:63]:   "", // too short
		"blobs/sha256/" + hex + "/x": "", // not a blob file
		"blobs/SHA256/" + hex:        "",
		"blobs/md5/" + hex:           "",
		"x/blobs/sha256/" + hex:      "",
		"0/layer.tar":                "",
	} {
		if got := blobPathDigest(name); got != want {
			t.Errorf("blobPathDigest(%q) = %q, want %q", name, got, want)
		}
	}
}
