package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	SaltLen uint32
	KeyLen  uint32
}

// DefaultArgon2 follows RFC 9106's memory-constrained recommendation
// (64 MiB, 3 passes) with the parallelism of a small server.
func DefaultArgon2() Argon2Params {
	return Argon2Params{Memory: 64 << 10, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// Bounds on parameters read back from stored hashes, so a tampered row
// cannot make verification allocate gigabytes.
const (
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 16
	maxThreads = 16
)

func (p Argon2Params) validate() error {
	switch {
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("argon2 memory %d KiB outside %d..%d", p.Memory, 8*uint32(p.Threads), maxMemory)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("argon2 time %d outside 1..%d", p.Time, maxTime)
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("argon2 threads %d outside 1..%d", p.Threads, maxThreads)
	case p.SaltLen < 8 || p.SaltLen > 64:
		return fmt.Errorf("argon2 salt length %d outside 8..64", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > 64:
		return fmt.Errorf("argon2 key length %d outside 16..64", p.KeyLen)
	}
	return nil
}

// HashPassword returns an argon2id PHC string:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash> (unpadded standard base64).
func HashPassword(password string, p Argon2Params) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64(salt), b64(key)), nil
}

// errBadHash: a stored hash is not a PHC argon2id string we accept.
var errBadHash = errors.New("malformed argon2id hash")

// VerifyPassword reports whether password matches a PHC argon2id hash,
// comparing in constant time.
func VerifyPassword(password, phc string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func parsePHC(phc string) (Argon2Params, []byte, []byte, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Argon2Params{}, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: version %q", errBadHash, parts[2])
	}
	var p Argon2Params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: parameters %q", errBadHash, parts[3])
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: encoding", errBadHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.validate(); err != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("%w: %w", errBadHash, err)
	}
	return p, salt, key, nil
}
