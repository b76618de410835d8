package reference

import (
	// Link the hashes of the accepted algorithms: go-digest only offers
	// Verifier and Digester for algorithms whose hash is linked in, and
	// every digest this package accepts must be verifiable.
	_ "crypto/sha256"
	_ "crypto/sha512"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// Sentinel errors; every error returned by this package wraps exactly one.
var (
	// ErrInvalidName: the repository name breaks the grammar or is too long.
	ErrInvalidName = errors.New("reference: invalid repository name")
	// ErrInvalidTag: the tag breaks the grammar.
	ErrInvalidTag = errors.New("reference: invalid tag")
	// ErrInvalidDigest: the digest is malformed, or its algorithm is not
	// one moat stores.
	ErrInvalidDigest = errors.New("reference: invalid digest")
)

// Limits.
const (
	// MaxNameLength bounds a repository name in bytes. The spec leaves the
	// limit to registries; 255 matches what common clients and registries
	// accept, and keeps names usable as keys and in URLs.
	MaxNameLength = 255
	// MaxTagLength is the spec's limit on a tag: 1 + 127 characters.
	MaxTagLength = 128
)

// ValidRepository reports whether name is a valid repository name:
//
//	component ( "/" component )*
//	component = [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//
// and at most MaxNameLength bytes. Errors wrap ErrInvalidName.
func ValidRepository(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxNameLength {
		return fmt.Errorf("%w: %d bytes, limit is %d", ErrInvalidName, len(name), MaxNameLength)
	}
	// The scanner alternates between an alphanumeric run, which every
	// component starts and ends with, and exactly one separator.
	i := 0
	for {
		// Alphanumeric run: at least one character.
		start := i
		for i < len(name) && isLowerAlnum(name[i]) {
			i++
		}
		if i == start {
			return nameError(name, i, "expected a lowercase letter or digit")
		}
		if i == len(name) {
			return nil
		}
		switch c := name[i]; c {
		case '/':
			i++
		case '.':
			i++
		case '_':
			i++
			if i < len(name) && name[i] == '_' {
				i++
			}
		case '-':
			for i < len(name) && name[i] == '-' {
				i++
			}
		default:
			return nameError(name, i, "unexpected character")
		}
		if i == len(name) {
			return nameError(name, i, "name must end with a lowercase letter or digit")
		}
	}
}

func nameError(name string, at int, why string) error {
	if at < len(name) {
		return fmt.Errorf("%w: %q: %s at offset %d (%q)", ErrInvalidName, name, why, at, name[at])
	}
	return fmt.Errorf("%w: %q: %s", ErrInvalidName, name, why)
}

// ValidTag reports whether tag matches [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
// Errors wrap ErrInvalidTag.
func ValidTag(tag string) error {
	if tag == "" {
		return fmt.Errorf("%w: empty", ErrInvalidTag)
	}
	if len(tag) > MaxTagLength {
		return fmt.Errorf("%w: %d bytes, limit is %d", ErrInvalidTag, len(tag), MaxTagLength)
	}
	if c := tag[0]; !isAlnum(c) && c != '_' {
		return fmt.Errorf("%w: %q: must start with a letter, digit or underscore", ErrInvalidTag, tag)
	}
	for i := 1; i < len(tag); i++ {
		if c := tag[i]; !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return fmt.Errorf("%w: %q: unexpected character %q at offset %d", ErrInvalidTag, tag, c, i)
		}
	}
	return nil
}

// hexLength maps the digest algorithms moat stores to their hex length.
func hexLength(alg digest.Algorithm) int {
	switch alg {
	case digest.SHA256:
		return 64
	case digest.SHA512:
		return 128
	}
	return 0
}

// ValidDigest reports whether d is "<alg>:<hex>" with alg sha256 or sha512
// and hex lowercase of exactly the algorithm's length. Stricter than
// digest.Digest.Validate, which also accepts sha384, and independent of
// which hash packages are linked. Errors wrap ErrInvalidDigest.
func ValidDigest(d digest.Digest) error {
	s := string(d)
	sep := -1
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			sep = i
			break
		}
	}
	if sep < 0 {
		return fmt.Errorf("%w: %q: missing algorithm", ErrInvalidDigest, s)
	}
	alg, hex := digest.Algorithm(s[:sep]), s[sep+1:]
	n := hexLength(alg)
	if n == 0 {
		return fmt.Errorf("%w: %q: unsupported algorithm (want sha256 or sha512)", ErrInvalidDigest, truncate(s))
	}
	if len(hex) != n {
		return fmt.Errorf("%w: %q: %s needs %d hex characters, got %d", ErrInvalidDigest, truncate(s), alg, n, len(hex))
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !isDigit(c) && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: %q: %q is not lowercase hex", ErrInvalidDigest, truncate(s), c)
		}
	}
	return nil
}

// ParseDigest validates s with ValidDigest and returns it as a digest.
func ParseDigest(s string) (digest.Digest, error) {
	d := digest.Digest(s)
	if err := ValidDigest(d); err != nil {
		return "", err
	}
	return d, nil
}

// Reference is the last segment of a manifest path: a tag or a digest.
// Exactly one field is set.
type Reference struct {
	Tag    string
	Digest digest.Digest
}

// Parse interprets a manifest path's reference segment. A ":" can never
// occur in a tag, so a segment containing one is parsed as a digest (errors
// wrap ErrInvalidDigest) and anything else as a tag (ErrInvalidTag).
func Parse(s string) (Reference, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			d, err := ParseDigest(s)
			if err != nil {
				return Reference{}, err
			}
			return Reference{Digest: d}, nil
		}
	}
	if err := ValidTag(s); err != nil {
		return Reference{}, err
	}
	return Reference{Tag: s}, nil
}

// IsDigest reports whether the reference names a manifest by digest.
func (r Reference) IsDigest() bool { return r.Digest != "" }

// String returns the segment as it appears in a URL.
func (r Reference) String() string {
	if r.IsDigest() {
		return string(r.Digest)
	}
	return r.Tag
}

// truncate keeps hostile input from bloating error messages and logs.
func truncate(s string) string {
	const limit = 150
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}

func isDigit(c byte) bool      { return '0' <= c && c <= '9' }
func isLowerAlnum(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'z') }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || ('A' <= c && c <= 'Z') }
