//go:build !unix

package vulndb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// lockDir falls back to an exclusive lock file where flock is unavailable.
func lockDir(ctx context.Context, path string) (func(), error) {
	for {
		f, err := os.OpenFile(path+".excl", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			_ = f.Close()
			return func() { _ = os.Remove(path + ".excl") }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for database lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
