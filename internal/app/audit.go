package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
	"github.com/moat-dev/moat/internal/audit/checkpoint/dirstore"
	"github.com/moat-dev/moat/internal/audit/checkpoint/syslogsink"
	"github.com/moat-dev/moat/internal/audit/checkpoint/webhooksink"
	"github.com/moat-dev/moat/internal/audit/sqlaudit"
	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/sqldb"
)

// auditStack is the audit log in the database, anchored by signed
// checkpoints in the blob storage (and the configured sinks).
type auditStack struct {
	log         *audit.Log
	checkpoints *checkpoint.Writer
	verifier    checkpoint.Verifier
	sinks       []io.Closer
}

// openAudit opens the audit log on db and the writer of its
// checkpoints, signed with the key file (created on first start); start
// begins writing them.
func openAudit(ctx context.Context, cfg config.Config, db *sqldb.DB, log *slog.Logger) (*auditStack, error) {
	chain, err := sqlaudit.New(ctx, db)
	if err != nil {
		return nil, err
	}
	key, err := checkpoint.LoadOrCreateKey(cfg.AuditCheckpointKeyFile())
	if err != nil {
		return nil, err
	}
	signer, err := checkpoint.NewSigner(key)
	if err != nil {
		return nil, err
	}
	cps, err := checkpointStore(cfg)
	if err != nil {
		return nil, err
	}
	s := &auditStack{verifier: checkpoint.Verifier{Chain: chain, Checkpoints: cps, Key: signer.Public()}}
	opts := []checkpoint.WriterOption{checkpoint.WithLogger(log),
		checkpoint.WithInterval(cfg.Audit.Checkpoint.Interval), checkpoint.WithRecords(int64(cfg.Audit.Checkpoint.Records))}
	if t := cfg.Audit.Checkpoint.Syslog; t != "" {
		sl, err := syslogsink.New(t)
		if err != nil {
			return nil, err
		}
		s.sinks = append(s.sinks, sl)
		opts = append(opts, checkpoint.WithSinks(sl))
	}
	if u := cfg.Audit.Checkpoint.WebhookURL; u != "" {
		wh, err := webhooksink.New(u, cfg.Audit.Checkpoint.WebhookSecret)
		if err != nil {
			return nil, err
		}
		opts = append(opts, checkpoint.WithSinks(wh))
	}
	if s.checkpoints, err = checkpoint.NewWriter(chain, signer, cps, opts...); err != nil {
		return nil, err
	}
	s.log, err = audit.New(chain, audit.WithLogger(log), audit.WithRefusalKeys(cfg.Audit.RefusalKeys),
		audit.WithCommitHook(s.checkpoints.Committed))
	if err != nil {
		return nil, err
	}
	log.Info("audit checkpoints", "dir", cfg.AuditCheckpointDir(), "key_file", cfg.AuditCheckpointKeyFile(),
		"key_id", checkpoint.KeyID(signer.Public()), "interval", cfg.Audit.Checkpoint.Interval, "records", cfg.Audit.Checkpoint.Records)
	return s, nil
}

// checkpointStore is where checkpoints live: a directory under the fs
// blob driver's root.
func checkpointStore(cfg config.Config) (*dirstore.Store, error) {
	return dirstore.New(cfg.AuditCheckpointDir(), dirstore.DefaultKeep)
}

// start writes checkpoints in the background until close.
func (s *auditStack) start() { s.checkpoints.Start() }

// close writes the pending refusal summaries, then a last checkpoint
// that covers them.
func (s *auditStack) close(ctx context.Context) error {
	errs := []error{s.log.Close(ctx)}
	if err := s.checkpoints.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("last audit checkpoint: %w", err))
	}
	for _, c := range s.sinks {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
