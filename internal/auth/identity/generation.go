package identity

import (
	"context"
	"fmt"
)

// Epoch identifies the identity state a cache entry was filled from. It
// changes after every change made through this Service and whenever
// Refresh sees that the store changed, so an entry kept with the epoch
// read before its lookup is good while Epoch returns the same value.
func (s *Service) Epoch() uint64 { return s.epoch.Load() }

// Refresh reads the store's generation and moves the epoch on if another
// process (a replica, the moat CLI on the same database) changed
// identities since the last call. Servers call it about once a second; it
// costs one small query. It reports whether the epoch moved.
func (s *Service) Refresh(ctx context.Context) (bool, error) {
	g, err := s.store.Generation(ctx)
	if err != nil {
		return false, fmt.Errorf("identity: refresh: %w", err)
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	if s.genKnown && g == s.gen {
		return false, nil
	}
	s.gen, s.genKnown = g, true
	s.epoch.Add(1)
	return true, nil
}

// changed moves the epoch on after a change made here, so this process
// stops using what it cached without waiting for Refresh; it returns err
// unchanged, for "return s.changed(s.store.X(...))". A failed change may
// have been applied (an error after commit), so it moves the epoch
// either way.
func (s *Service) changed(err error) error {
	s.epoch.Add(1)
	return err
}
