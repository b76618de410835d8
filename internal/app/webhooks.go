package app

import (
	"context"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/jobs"
	"github.com/moat-dev/moat/internal/sqldb"
	"github.com/moat-dev/moat/internal/webhooks"
)

// openWebhooks opens the webhooks service and makes the configuration
// file's webhooks the ones it manages (API-made ones stay). Events name
// the registry by its service name (auth.service) as their CloudEvents
// source.
func openWebhooks(ctx context.Context, cfg config.Config, db *sqldb.DB, q *jobs.Queue, metrics prometheus.Registerer, log *slog.Logger) (*webhooks.Service, error) {
	svc, err := webhooks.New(ctx, db, q, webhooks.WithLogger(log), webhooks.WithMetrics(metrics),
		webhooks.WithSource(cfg.Auth.Service))
	if err != nil {
		return nil, err
	}
	hooks, err := webhooks.FromConfig(cfg.Webhooks, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if err := svc.SyncConfig(ctx, hooks); err != nil {
		return nil, err
	}
	return svc, nil
}
