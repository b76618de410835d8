package blob

import (
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestValidateUploadID(t *testing.T) {
	for _, id := range []string{"a", "Z", "0", "-", "_", "550e8400-e29b-41d4-a716-446655440000", "dGVzdA_-", strings.Repeat("x", MaxUploadIDLength)} {
		if err := ValidateUploadID(id); err != nil {
			t.Errorf("ValidateUploadID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "a.b", "a b", "a=", "a+b", "\x00", "é", strings.Repeat("x", MaxUploadIDLength+1)} {
		if err := ValidateUploadID(id); !errors.Is(err, ErrInvalidUploadID) {
			t.Errorf("ValidateUploadID(%q) = %v, want ErrInvalidUploadID", id, err)
		}
	}
}

func TestValidateDigest(t *testing.T) {
	if err := ValidateDigest(digest.FromString("x")); err != nil {
		t.Error(err)
	}
	if err := ValidateDigest(digest.SHA512.FromString("x")); err != nil {
		t.Error(err)
	}
	for _, d := range []digest.Digest{"", "sha256:x", digest.SHA384.FromString("x")} {
		if err := ValidateDigest(d); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("ValidateDigest(%q) = %v, want ErrInvalidDigest", d, err)
		}
	}
}
