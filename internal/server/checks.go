package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moat-dev/moat/internal/meta"
)

// UploadWriter is the part of a blob driver the storage check needs.
type UploadWriter interface {
	AppendUpload(ctx context.Context, id string, offset int64, r io.Reader) (int64, error)
	DeleteUpload(ctx context.Context, id string) error
}

// StorageWritable returns a Check that writes a few bytes to a throwaway
// upload session and deletes it: the same path a push takes, so a full
// disk, a read-only mount or lost permissions all fail it.
func StorageWritable(w UploadWriter) Check {
	return func(ctx context.Context) error {
		id := "readyz-" + rand.Text()
		if _, err := w.AppendUpload(ctx, id, 0, strings.NewReader("moat readiness probe")); err != nil {
			// Remove a partial session; the append error is what matters.
			_ = w.DeleteUpload(context.WithoutCancel(ctx), id)
			return fmt.Errorf("storage not writable: %w", err)
		}
		if err := w.DeleteUpload(ctx, id); err != nil {
			return fmt.Errorf("storage probe cleanup: %w", err)
		}
		return nil
	}
}

// RepositoryLister is the part of the metadata store the database check
// needs.
type RepositoryLister interface {
	ListRepositories(ctx context.Context, p meta.Page) ([]string, error)
}

// DatabaseReachable returns a Check that runs a one-row query, which needs
// a live connection and a migrated schema but costs the same however much
// is stored.
func DatabaseReachable(l RepositoryLister) Check {
	return func(ctx context.Context) error {
		if _, err := l.ListRepositories(ctx, meta.Page{N: 1}); err != nil && !errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("database not reachable: %w", err)
		}
		return nil
	}
}
