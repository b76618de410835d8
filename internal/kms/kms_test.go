package kms_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/moat-dev/moat/internal/kms"
)

func noEnv(string) (string, bool) { return "", false }

func TestSealOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "master.key")
	k, err := kms.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, %v", st, err)
	}
	secret := []byte("-----BEGIN EC PRIVATE KEY-----")
	sealed, err := k.Seal(secret, "signing-key/1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed value holds the secret")
	}
	// The same file gives the same key.
	again, err := kms.Load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.Open(sealed, "signing-key/1"); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}

	// Another purpose, an altered byte, a truncated value: no.
	if _, err := k.Open(sealed, "signing-key/2"); !errors.Is(err, kms.ErrCorrupt) {
		t.Errorf("other purpose: %v", err)
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := k.Open(bad, "signing-key/1"); !errors.Is(err, kms.ErrCorrupt) {
		t.Errorf("altered: %v", err)
	}
	if _, err := k.Open(sealed[:10], "signing-key/1"); !errors.Is(err, kms.ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}

	// Another master key says so.
	other, err := kms.Load(filepath.Join(t.TempDir(), "other.key"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Open(sealed, "signing-key/1"); !errors.Is(err, kms.ErrWrongKey) {
		t.Errorf("other master key: %v", err)
	}
}

func TestMasterKeyFromEnvironment(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	env := func(name string) (string, bool) {
		if name == kms.EnvMasterKey {
			return base64.StdEncoding.EncodeToString(key), true
		}
		return "", false
	}
	path := filepath.Join(t.TempDir(), "master.key")
	a, err := kms.Load(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("a key file was written although the environment holds the key")
	}
	b, _ := kms.New(key)
	sealed, _ := a.Seal([]byte("x"), "p")
	if got, err := b.Open(sealed, "p"); err != nil || string(got) != "x" {
		t.Fatalf("replicas sharing the key: %q, %v", got, err)
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, err := kms.Load(path, func(string) (string, bool) { return bad, true }); err == nil {
			t.Errorf("%q accepted as a master key", bad)
		}
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := kms.Load(path, noEnv); err == nil {
		t.Error("a garbage key file was accepted")
	}
}

// Processes starting together agree on one master key.
func TestConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			k, err := kms.Load(path, noEnv)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID()
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("keys differ: %v", ids)
		}
	}
}
