package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/moat-dev/moat/internal/auth/policy"
)

// PolicySource is where policies are kept; *policystore.Store is one.
type PolicySource interface {
	// Load returns every policy as a Set and the version it reflects.
	Load(ctx context.Context) (policy.Set, int64, error)
	// Version increases with every change.
	Version(ctx context.Context) (int64, error)
}

// PolicyLoader keeps an EngineHolder compiled from a PolicySource. Call
// Reload after a change made in this process and periodically to pick up
// changes made by other replicas.
type PolicyLoader struct {
	src    PolicySource
	holder *EngineHolder

	mu      sync.Mutex // serializes reloads
	version int64
	loaded  bool
}

// NewPolicyLoader returns a loader filling holder from src.
func NewPolicyLoader(src PolicySource, holder *EngineHolder) (*PolicyLoader, error) {
	if src == nil || holder == nil {
		return nil, errors.New("auth: NewPolicyLoader needs a source and a holder")
	}
	return &PolicyLoader{src: src, holder: holder}, nil
}

// Reload compiles the policies again if their version changed since the
// last load (always the first time) and reports whether it did. On any
// error the current engine stays in place: a stored policy that stops
// compiling must not silently drop the others.
func (l *PolicyLoader) Reload(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loaded {
		v, err := l.src.Version(ctx)
		if err != nil {
			return false, fmt.Errorf("auth: policy version: %w", err)
		}
		if v == l.version {
			return false, nil
		}
	}
	set, v, err := l.src.Load(ctx)
	if err != nil {
		return false, fmt.Errorf("auth: load policies: %w", err)
	}
	e, err := policy.Compile(set)
	if err != nil {
		return false, fmt.Errorf("auth: compile policies (version %d): %w", v, err)
	}
	l.holder.Store(e)
	l.version, l.loaded = v, true
	return true, nil
}

// Version is the version of the engine in the holder (0 before the first
// load).
func (l *PolicyLoader) Version() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.version
}
