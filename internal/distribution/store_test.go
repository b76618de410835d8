package distribution_test

import (
	"testing"

	"github.com/moat-dev/moat/internal/meta"
	"github.com/moat-dev/moat/internal/registry/registrytest"
)

func newStore(t *testing.T) meta.Store {
	return registrytest.NewMemStore(nil)
}
