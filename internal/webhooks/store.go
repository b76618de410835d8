package webhooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/moat-dev/moat/internal/sqldb"
)

// stored is a webhook row: the webhook and its key.
type stored struct {
	id int64
	Webhook
}

const columns = `id, name, url, secret, events, repositories, enabled, source, created_at, updated_at`

// scanRow reads a row of columns; callers blank the secret before it
// leaves the package.
func scanRow(row interface{ Scan(...any) error }) (stored, error) {
	var (
		w                stored
		events, repos    string
		created, updated int64
	)
	if err := row.Scan(&w.id, &w.Name, &w.URL, &w.Secret, &events, &repos, &w.Enabled, &w.Source, &created, &updated); err != nil {
		return w, err
	}
	if err := errors.Join(json.Unmarshal([]byte(events), &w.Events), json.Unmarshal([]byte(repos), &w.Repositories)); err != nil {
		return w, fmt.Errorf("webhook %s filters: %w", w.Name, err)
	}
	w.CreatedAt, w.UpdatedAt = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	return w, nil
}

// public is w as it leaves the service: without its secret.
func (w stored) public() Webhook {
	out := w.Webhook
	out.Secret = ""
	return out
}

func filters(fs []string) string {
	if fs == nil {
		fs = []string{}
	}
	b, _ := json.Marshal(fs) // strings always marshal
	return string(b)
}

// List returns every webhook by name, without secrets.
func (s *Service) List(ctx context.Context) ([]Webhook, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+columns+` FROM webhooks ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("webhooks: list: %w", err)
	}
	defer rows.Close()
	out := []Webhook{}
	for rows.Next() {
		w, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("webhooks: list: %w", err)
		}
		out = append(out, w.public())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhooks: list: %w", err)
	}
	return out, nil
}

// Get returns the webhook called name, without its secret.
func (s *Service) Get(ctx context.Context, name string) (Webhook, error) {
	w, err := s.get(ctx, s.db.R, name, "")
	if err != nil {
		return Webhook{}, err
	}
	return w.public(), nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// get reads one webhook by name, secret included; suffix may lock it.
func (s *Service) get(ctx context.Context, q querier, name, suffix string) (stored, error) {
	w, err := scanRow(q.QueryRowContext(ctx, s.db.Q(`SELECT `+columns+` FROM webhooks WHERE name = ?`+suffix), name))
	if errors.Is(err, sql.ErrNoRows) {
		return w, fmt.Errorf("%w: webhook %q", ErrNotFound, name)
	}
	if err != nil {
		return w, fmt.Errorf("webhooks: get %s: %w", name, err)
	}
	return w, nil
}

// byID reads one webhook by id, secret included.
func (s *Service) byID(ctx context.Context, id int64) (stored, error) {
	w, err := scanRow(s.db.R.QueryRowContext(ctx, s.db.Q(`SELECT `+columns+` FROM webhooks WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, fmt.Errorf("%w: webhook #%d", ErrNotFound, id)
	}
	if err != nil {
		return w, fmt.Errorf("webhooks: get #%d: %w", id, err)
	}
	return w, nil
}

// Create stores a new webhook defined through the API and returns it
// without its secret.
func (s *Service) Create(ctx context.Context, w Webhook) (Webhook, error) {
	w.Source = SourceAPI
	var out stored
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.insert(ctx, tx, w)
		return err
	})
	if err != nil {
		return Webhook{}, err
	}
	return out.public(), nil
}

func (s *Service) insert(ctx context.Context, tx *sql.Tx, w Webhook) (stored, error) {
	if err := w.validate(); err != nil {
		return stored{}, err
	}
	now := s.now().UTC()
	w.CreatedAt, w.UpdatedAt = now, now
	out := stored{Webhook: w}
	err := tx.QueryRowContext(ctx, s.db.Q(`
		INSERT INTO webhooks (name, url, secret, events, repositories, enabled, source, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		w.Name, w.URL, w.Secret, filters(w.Events), filters(w.Repositories), w.Enabled, string(w.Source), now.UnixNano(), now.UnixNano()).Scan(&out.id)
	if sqldb.IsUniqueViolation(err) {
		return out, fmt.Errorf("%w: webhook %q", ErrExists, w.Name)
	}
	if err != nil {
		return out, fmt.Errorf("webhooks: create %s: %w", w.Name, err)
	}
	return out, nil
}

// Update changes a webhook defined through the API and returns it
// without its secret.
func (s *Service) Update(ctx context.Context, name string, c Change) (Webhook, error) {
	var out stored
	err := s.db.Write(ctx, func(tx *sql.Tx) error {
		cur, err := s.get(ctx, tx, name, s.db.ForUpdate())
		if err != nil {
			return err
		}
		if cur.Source == SourceConfig {
			return managed(name)
		}
		out = cur
		out.Webhook = c.apply(cur.Webhook)
		return s.write(ctx, tx, &out)
	})
	if err != nil {
		return Webhook{}, err
	}
	return out.public(), nil
}

// write stores w's fields over its row and sets its update time.
func (s *Service) write(ctx context.Context, tx *sql.Tx, w *stored) error {
	if err := w.validate(); err != nil {
		return err
	}
	w.UpdatedAt = s.now().UTC()
	if _, err := tx.ExecContext(ctx, s.db.Q(`
		UPDATE webhooks SET url = ?, secret = ?, events = ?, repositories = ?, enabled = ?, source = ?, updated_at = ?
		WHERE id = ?`),
		w.URL, w.Secret, filters(w.Events), filters(w.Repositories), w.Enabled, string(w.Source), w.UpdatedAt.UnixNano(), w.id); err != nil {
		return fmt.Errorf("webhooks: update %s: %w", w.Name, err)
	}
	return nil
}

// Delete removes a webhook defined through the API, with its delivery
// log; its pending deliveries are dropped.
func (s *Service) Delete(ctx context.Context, name string) error {
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		cur, err := s.get(ctx, tx, name, s.db.ForUpdate())
		if err != nil {
			return err
		}
		if cur.Source == SourceConfig {
			return managed(name)
		}
		if _, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM webhooks WHERE id = ?`), cur.id); err != nil {
			return fmt.Errorf("webhooks: delete %s: %w", name, err)
		}
		return nil
	})
}

func managed(name string) error {
	return fmt.Errorf("%w: webhook %q is declared in the configuration file; change or remove it there", ErrManaged, name)
}

// SyncConfig makes the configuration file's webhooks the stored ones of
// source config: each is created or overwritten (an API-defined webhook
// of the same name is taken over, and a warning logged), and config
// webhooks no longer in hooks are deleted. Call it at every start.
// Replicas started with different files undo each other's changes; keep
// the file the same on all.
func (s *Service) SyncConfig(ctx context.Context, hooks []Webhook) error {
	names := map[string]bool{}
	for _, w := range hooks {
		if err := w.validate(); err != nil {
			return fmt.Errorf("webhook %q in the configuration: %w", w.Name, err)
		}
		if names[w.Name] {
			return fmt.Errorf("%w: webhook %q is configured twice", ErrInvalid, w.Name)
		}
		names[w.Name] = true
	}
	return s.db.Write(ctx, func(tx *sql.Tx) error {
		for _, w := range hooks {
			w.Source = SourceConfig
			cur, err := s.get(ctx, tx, w.Name, s.db.ForUpdate())
			switch {
			case errors.Is(err, ErrNotFound):
				_, err = s.insert(ctx, tx, w)
			case err == nil && !same(cur.Webhook, w):
				if cur.Source != SourceConfig {
					s.log.WarnContext(ctx, "webhook defined through the API is now managed by the configuration file", "webhook", w.Name)
				}
				cur.Webhook = Webhook{Name: cur.Name, URL: w.URL, Secret: w.Secret, Events: w.Events, Repositories: w.Repositories,
					Enabled: w.Enabled, Source: SourceConfig, CreatedAt: cur.CreatedAt}
				err = s.write(ctx, tx, &cur)
			}
			if err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, s.db.Q(`SELECT name FROM webhooks WHERE source = ?`), string(SourceConfig))
		if err != nil {
			return fmt.Errorf("webhooks: sync configuration: %w", err)
		}
		var gone []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return fmt.Errorf("webhooks: sync configuration: %w", err)
			}
			if !names[n] {
				gone = append(gone, n)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("webhooks: sync configuration: %w", err)
		}
		for _, n := range gone {
			if _, err := tx.ExecContext(ctx, s.db.Q(`DELETE FROM webhooks WHERE name = ? AND source = ?`), n, string(SourceConfig)); err != nil {
				return fmt.Errorf("webhooks: remove %s, gone from the configuration: %w", n, err)
			}
		}
		return nil
	})
}

// same reports whether a and b differ in no stored field but the times,
// so an unchanged configuration file rewrites nothing.
func same(a, b Webhook) bool {
	return a.URL == b.URL && a.Secret == b.Secret && slices.Equal(a.Events, b.Events) &&
		slices.Equal(a.Repositories, b.Repositories) && a.Enabled == b.Enabled && a.Source == b.Source
}

// matching returns the hooks that want an event of type typ about repo.
func matching(hooks []stored, typ, repo string) []stored {
	var out []stored
	for _, w := range hooks {
		if wantsType(w.Events, typ) && wantsRepository(w.Repositories, repo) {
			out = append(out, w)
		}
	}
	return out
}

// enabledHooks reads the enabled webhooks, secrets included.
func (s *Service) enabledHooks(ctx context.Context) ([]stored, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+columns+` FROM webhooks WHERE enabled ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("webhooks: read enabled webhooks: %w", err)
	}
	defer rows.Close()
	var out []stored
	for rows.Next() {
		w, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("webhooks: read enabled webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, rows.Err()
}
