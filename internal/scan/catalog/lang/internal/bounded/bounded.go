// Package bounded reads untrusted input with hard limits, so that a hostile
// file in a layer costs at most a known amount of memory.
package bounded

import (
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge reports input longer than the limit a parser accepts.
var ErrTooLarge = errors.New("input exceeds size limit")

// ReadAll reads r to EOF but fails with ErrTooLarge once more than max
// bytes arrive; it never holds more than max+1 bytes.
func ReadAll(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, max)
	}
	return b, nil
}
