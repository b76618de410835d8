package events

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockKey is the advisory lock held while migrating ("moatevnt").
const migrationLockKey int64 = 0x6d6f61746576e774

// Event types. Each is a CloudEvents type; Data's fields are documented
// with the function that builds it.
const (
	ImagePushed     = "dev.moat.image.pushed"
	ImageDeleted    = "dev.moat.image.deleted"
	ScanCompleted   = "dev.moat.scan.completed"
	ScanFailed      = "dev.moat.scan.failed"
	FindingNew      = "dev.moat.finding.new"
	FindingResolved = "dev.moat.finding.resolved"
	ImageSigned     = "dev.moat.image.signed"
	ImageExpired    = "dev.moat.image.expired"
)

// ImageData is the data of image.pushed and image.deleted events: the
// manifest and where it is.
type ImageData struct {
	Repository   string `json:"repository"`
	Digest       string `json:"digest"`
	MediaType    string `json:"mediaType"`
	ArtifactType string `json:"artifactType,omitempty"`
	Size         int64  `json:"size,omitempty"`
	// Tag is the tag a push set ("" for a push by digest); Previous is
	// the digest the tag pointed at before, when it moved.
	Tag      string `json:"tag,omitempty"`
	Previous string `json:"previous,omitempty"`
	// Subject is the manifest a referrer refers to.
	Subject string `json:"subject,omitempty"`
	// Children are an index's manifests.
	Children []string `json:"children,omitempty"`
	// Actor is who pushed or deleted ("user:alice", "robot:ci"), and
	// SourceIP the address the request came from.
	Actor    string `json:"actor,omitempty"`
	SourceIP string `json:"sourceIP,omitempty"`
}

// ErrInvalid: an event or argument is malformed; nothing was stored.
var ErrInvalid = errors.New("events: invalid")

// Event is one change of state.
type Event struct {
	// ID orders events within a transaction; assigned when stored.
	ID   int64
	Type string
	// Subject is what the event is about, e.g. "team-a/app@sha256:...".
	Subject string
	// Time is when the change happened; zero means now.
	Time time.Time
	// Data is a JSON object with the event's details.
	Data json.RawMessage
}

// NewEvent returns an event of typ about subject with data marshaled to
// JSON.
func NewEvent(typ, subject string, data any) (Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %s data: %v", ErrInvalid, typ, err)
	}
	return Event{Type: typ, Subject: subject, Data: b}, nil
}

// Cursor is a position in the outbox: every event at or before it has
// been handled.
type Cursor struct{ TxID, ID int64 }

// Outbox appends events and feeds them to consumers.
type Outbox struct {
	db    *sqldb.DB
	now   func() time.Time
	owner string
	log   *slog.Logger

	mu      sync.Mutex
	waiters []chan struct{}
}

// Option configures New.
type Option func(*Outbox) error

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *Outbox) error {
		if now == nil {
			return errors.New("events: nil clock")
		}
		o.now = now
		return nil
	}
}

// WithLogger sets the logger. Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *Outbox) error {
		if l == nil {
			return errors.New("events: nil logger")
		}
		o.log = l
		return nil
	}
}

// New brings the outbox tables in db up to date.
func New(ctx context.Context, db *sqldb.DB, opts ...Option) (*Outbox, error) {
	if err := db.Migrate(ctx, migrations, "migrations", "events_migrations", migrationLockKey); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	host, _ := os.Hostname()
	o := &Outbox{db: db, now: time.Now, log: slog.Default(), owner: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// maxData bounds an event's data: events describe, they do not carry.
const maxData = 256 << 10

// AppendTx stores evs inside tx, a write transaction on the outbox's
// database, so they exist if and only if the change that tx makes does.
// Consumers in this process learn of them at their next poll; call Wake
// after the commit to tell them at once.
func (o *Outbox) AppendTx(ctx context.Context, tx *sql.Tx, evs ...Event) error {
	txid := "0"
	if o.db.Engine() == sqldb.Postgres {
		txid = "pg_current_xact_id()::text::bigint"
	}
	now := o.now().UTC()
	// Many rows per statement: a rescan appends tens of thousands. Ids
	// follow the order of evs.
	const perInsert = 100
	for part := range slices.Chunk(evs, perInsert) {
		args := make([]any, 0, 4*len(part))
		for _, e := range part {
			if e.Type == "" || len(e.Type) > 200 || len(e.Subject) > 2000 {
				return fmt.Errorf("%w: type %q, subject of %d bytes", ErrInvalid, e.Type, len(e.Subject))
			}
			data := e.Data
			if len(data) == 0 {
				data = json.RawMessage("{}")
			}
			if len(data) > maxData || !json.Valid(data) || strings.TrimSpace(string(data))[0] != '{' {
				return fmt.Errorf("%w: %s data must be a JSON object of at most %d bytes", ErrInvalid, e.Type, maxData)
			}
			at := now
			if !e.Time.IsZero() {
				at = e.Time.UTC()
			}
			args = append(args, e.Type, e.Subject, at.UnixNano(), string(data))
		}
		values := strings.Repeat(",("+txid+", ?, ?, ?, ?)", len(part))[1:]
		if _, err := tx.ExecContext(ctx, o.db.Q(`INSERT INTO events (txid, type, subject, time, data) VALUES `+values), args...); err != nil {
			return fmt.Errorf("events: append %s: %w", part[0].Type, err)
		}
	}
	return nil
}

// Append stores evs in a transaction of their own and wakes this
// process's consumers.
func (o *Outbox) Append(ctx context.Context, evs ...Event) error {
	if err := o.db.Write(ctx, func(tx *sql.Tx) error { return o.AppendTx(ctx, tx, evs...) }); err != nil {
		return err
	}
	o.Wake()
	return nil
}

// Wake tells this process's idle consumers that events may be waiting.
func (o *Outbox) Wake() {
	o.mu.Lock()
	ws := o.waiters
	o.waiters = nil
	o.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

func (o *Outbox) woken() <-chan struct{} {
	ch := make(chan struct{})
	o.mu.Lock()
	o.waiters = append(o.waiters, ch)
	o.mu.Unlock()
	return ch
}

// Read returns up to limit events after c in order, only from
// transactions that can no longer add events before them, and the cursor
// of the last one returned (c itself when there are none).
func (o *Outbox) Read(ctx context.Context, c Cursor, limit int) ([]Event, Cursor, error) {
	if limit <= 0 || limit > 10000 {
		return nil, c, fmt.Errorf("%w: limit %d outside 1..10000", ErrInvalid, limit)
	}
	horizon := ""
	if o.db.Engine() == sqldb.Postgres {
		horizon = ` AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint`
	}
	rows, err := o.db.R.QueryContext(ctx, o.db.Q(`
		SELECT id, txid, type, subject, time, data FROM events
		WHERE (txid > ? OR (txid = ? AND id > ?))`+horizon+`
		ORDER BY txid, id LIMIT ?`), c.TxID, c.TxID, c.ID, limit)
	if err != nil {
		return nil, c, fmt.Errorf("events: read: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e    Event
			at   int64
			data string
		)
		if err := rows.Scan(&e.ID, &c.TxID, &e.Type, &e.Subject, &at, &data); err != nil {
			return nil, c, fmt.Errorf("events: read: %w", err)
		}
		c.ID = e.ID
		e.Time, e.Data = time.Unix(0, at).UTC(), json.RawMessage(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, c, fmt.Errorf("events: read: %w", err)
	}
	return out, c, nil
}

// Head returns the cursor after the newest visible event: a consumer
// created now starts there rather than replaying history.
func (o *Outbox) Head(ctx context.Context) (Cursor, error) {
	var c Cursor
	horizon := ""
	if o.db.Engine() == sqldb.Postgres {
		horizon = ` WHERE txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint`
	}
	err := o.db.R.QueryRowContext(ctx, `SELECT txid, id FROM events`+horizon+` ORDER BY txid DESC, id DESC LIMIT 1`).Scan(&c.TxID, &c.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return Cursor{}, nil
	}
	if err != nil {
		return c, fmt.Errorf("events: head: %w", err)
	}
	return c, nil
}

// Purge deletes events older than before that every consumer has passed,
// and reports how many.
func (o *Outbox) Purge(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := o.db.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, o.db.Q(`
			DELETE FROM events WHERE time < ?
			AND NOT EXISTS (SELECT 1 FROM event_consumers c
				WHERE events.txid > c.txid OR (events.txid = c.txid AND events.id > c.event_id))`), before.UnixNano())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("events: purge: %w", err)
	}
	return n, nil
}
