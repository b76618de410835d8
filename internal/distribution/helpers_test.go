package distribution_test

import (
	"net/http"
	"testing"

	"github.com/moat-dev/moat/internal/blob/fs"
	"github.com/moat-dev/moat/internal/distribution"
	"github.com/moat-dev/moat/internal/registry"
	"github.com/moat-dev/moat/internal/registry/registrytest"
)

type testEnv struct {
	handler http.Handler
	reg     *registry.Registry
	blobs   *fs.Driver
	md      *registrytest.MemStore
}

func newTestHandler(t *testing.T) *testEnv {
	t.Helper()
	blobs, err := fs.New(t.TempDir(), fs.WithoutSyncUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	md := registrytest.NewMemStore(nil)
	reg, err := registry.New(blobs, md)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{handler: distribution.New(reg), reg: reg, blobs: blobs, md: md}
}
