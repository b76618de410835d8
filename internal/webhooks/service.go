package webhooks

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moathook").
const migrationLockKey int64 = 0x6d6f6174686f6f6b

// Service stores webhooks, fans events out to them and delivers them.
type Service struct {
	db       *sqldb.DB
	queue    *jobs.Queue
	instance string

	source    string
	log       *slog.Logger
	client    *http.Client
	window    time.Duration
	backoff   func(int) time.Duration
	retention time.Duration
	workers   int
	metrics   *metrics
	now       func() time.Time
}

// New brings the webhook tables in db up to date and returns the
// service; q is the job queue on the same database, which carries the
// deliveries.
func New(ctx context.Context, db *sqldb.DB, q *jobs.Queue, opts ...Option) (*Service, error) {
	if db == nil || q == nil {
		return nil, errors.New("webhooks: New needs a database and a job queue")
	}
	s := &Service{
		db: db, queue: q, source: "moat", log: slog.Default(),
		client:    newClient(10 * time.Second),
		window:    24 * time.Hour,
		backoff:   jobs.ExponentialBackoff(30*time.Second, time.Hour),
		retention: 14 * 24 * time.Hour,
		workers:   4,
		now:       time.Now,
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	// A log purged before the retries end would lose the events they send.
	if s.retention <= s.window {
		return nil, fmt.Errorf("%w: retention %v must exceed the retry window %v", ErrInvalid, s.retention, s.window)
	}
	if err := db.Migrate(ctx, migrations, "migrations", "webhooks_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	id, err := s.loadInstance(ctx)
	if err != nil {
		return nil, err
	}
	s.instance = id
	return s, nil
}

// newClient makes the delivery client: it never follows redirects, so a
// receiver cannot bounce a signed request to another address.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:   timeout,
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// loadInstance returns this registry's instance id, making it on the
// first start; replicas starting together agree on the first one stored.
func (s *Service) loadInstance(ctx context.Context) (string, error) {
	var id string
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.db.Q(`INSERT INTO webhook_instance (one, id) VALUES (1, ?) ON CONFLICT (one) DO NOTHING`),
			rand.Text()[:12]); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT id FROM webhook_instance WHERE one = 1`).Scan(&id)
	})
	if err != nil {
		return "", fmt.Errorf("webhooks: instance id: %w", err)
	}
	return id, nil
}
