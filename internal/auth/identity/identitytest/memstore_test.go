package identitytest

import (
	"testing"

	"github.com/moat-dev/moat/internal/auth/identity"
)

func TestMemStore(t *testing.T) {
	RunStoreTests(t, func(*testing.T) identity.Store { return NewMemStore() })
}
