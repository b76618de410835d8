package blob

import (
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/moat-dev/moat/internal/reference"
)

// MaxUploadIDLength bounds an upload ID; IDs are random tokens, far shorter.
const MaxUploadIDLength = 128

// ValidateDigest reports whether d is a digest a driver may store: sha256 or
// sha512 with exact lowercase hex. Drivers call it before building any path
// or key from d. Errors wrap ErrInvalidDigest.
func ValidateDigest(d digest.Digest) error {
	if err := reference.ValidDigest(d); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDigest, err)
	}
	return nil
}

// ValidateUploadID reports whether id is a safe opaque token: 1 to
// MaxUploadIDLength characters from [A-Za-z0-9_-]. That alphabet covers
// UUIDs and unpadded base64url, and can never form a path separator or
// "..". Errors wrap ErrInvalidUploadID.
func ValidateUploadID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidUploadID)
	}
	if len(id) > MaxUploadIDLength {
		return fmt.Errorf("%w: %d bytes, limit is %d", ErrInvalidUploadID, len(id), MaxUploadIDLength)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') && c != '-' && c != '_' {
			return fmt.Errorf("%w: %q: character %q at offset %d", ErrInvalidUploadID, id, c, i)
		}
	}
	return nil
}
