// Package kms seals the registry's secrets (image signing keys, and later
// webhook secrets and data keys) before they are stored in the shared
// metadata database, so that a copy of the database alone gives none of
// them away, and every replica holding the master key can open them.
//
// The master key is 32 random bytes: from the environment variable
// MOAT_MASTER_KEY (base64), or else from a file (created, mode 0600, with a
// new key on first use). Replicas must share it: give them the same
// variable or file. Sealing is AES-256-GCM with a fresh nonce and the
// secret's purpose as additional data, so a sealed value moved to another
// purpose does not open.
//
// Limits: one local master key; key providers (AWS KMS) and re-wrapping
// under a new master key come with encryption at rest.
package kms

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvMasterKey names the environment variable holding the master key.
const EnvMasterKey = "MOAT_MASTER_KEY"

// Errors, classified with errors.Is.
var (
	// ErrWrongKey: the value was sealed under another master key.
	ErrWrongKey = errors.New("kms: sealed under another master key")
	// ErrCorrupt: the sealed value does not open (altered, truncated, or
	// sealed for another purpose).
	ErrCorrupt = errors.New("kms: sealed value does not open")
)

// keySize is the master key's length: AES-256.
const keySize = 32

// version prefixes every sealed value, so the format can change.
const version = 1

// Keyring seals and opens secrets with the master key.
type Keyring struct {
	aead cipher.AEAD
	id   [8]byte // a fingerprint of the master key, stored with each value
}

// New returns a keyring over key (32 bytes).
func New(key []byte) (*Keyring, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("kms: master key of %d bytes, want %d", len(key), keySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	k := &Keyring{aead: aead}
	sum := sha256.Sum256(append([]byte("moat master key id\x00"), key...))
	copy(k.id[:], sum[:])
	return k, nil
}

// Load returns the keyring of the master key in the environment
// (lookup(EnvMasterKey), base64), or else in the file at path, which is
// created with a new key when it does not exist.
func Load(path string, lookup func(string) (string, bool)) (*Keyring, error) {
	if v, ok := lookup(EnvMasterKey); ok {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(key) != keySize {
			return nil, fmt.Errorf("kms: %s must be %d random bytes in base64 (openssl rand -base64 32)", EnvMasterKey, keySize)
		}
		return New(key)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return create(path)
	}
	if err != nil {
		return nil, fmt.Errorf("kms: read master key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != keySize {
		return nil, fmt.Errorf("kms: %s does not hold a master key (%d random bytes in base64)", path, keySize)
	}
	return New(key)
}

// create writes a new master key to path, unless another process did
// first (then that one is used). The key is written to a temporary file
// and linked into place, so no reader sees a partial file.
func create(path string) (*Keyring, error) {
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	f, err := os.CreateTemp(dir, ".master-key-*")
	if err != nil {
		return nil, fmt.Errorf("kms: create master key: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := errors.Join(werr, f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("kms: write master key: %w", err)
	}
	if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
		return Load(path, func(string) (string, bool) { return "", false })
	} else if err != nil {
		return nil, fmt.Errorf("kms: create master key: %w", err)
	}
	return New(key)
}

// ID identifies the master key (not secret): the first bytes of a hash
// of it, in hex.
func (k *Keyring) ID() string { return hex.EncodeToString(k.id[:]) }

// Seal encrypts secret for purpose (e.g. "signing-key/ab12…").
func (k *Keyring) Seal(secret []byte, purpose string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{version}, k.id[:]...)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, secret, []byte(purpose)), nil
}

// Open decrypts what Seal returned for the same purpose.
func (k *Keyring) Open(sealed []byte, purpose string) ([]byte, error) {
	head := 1 + len(k.id) + k.aead.NonceSize()
	if len(sealed) < head+k.aead.Overhead() || sealed[0] != version {
		return nil, ErrCorrupt
	}
	if !bytes.Equal(sealed[1:1+len(k.id)], k.id[:]) {
		return nil, fmt.Errorf("%w %s; this process has %s (set %s or the master key file as the other replicas do)",
			ErrWrongKey, hex.EncodeToString(sealed[1:1+len(k.id)]), k.ID(), EnvMasterKey)
	}
	nonce := sealed[1+len(k.id) : head]
	secret, err := k.aead.Open(nil, nonce, sealed[head:], []byte(purpose))
	if err != nil {
		return nil, ErrCorrupt
	}
	return secret, nil
}
