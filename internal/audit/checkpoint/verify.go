package checkpoint

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/moat-dev/moat/internal/audit"
)

// Reader reads back stored checkpoints.
type Reader interface {
	// Latest returns the checkpoint with the highest Seq, or ErrNone.
	Latest(ctx context.Context) (Signed, error)
}

// MismatchError: the chain no longer holds a signed checkpoint's record
// as signed — records were removed from the end (and the head rewritten
// to match), or records at or before it were changed and the chain
// rehashed. It wraps audit.ErrTampered.
type MismatchError struct {
	Checkpoint Checkpoint
	Reason     string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("audit log tampered: checkpoint %d (signed %s): %s", e.Checkpoint.Seq, e.Checkpoint.Time.Format(time.RFC3339), e.Reason)
}

func (e *MismatchError) Unwrap() error { return audit.ErrTampered }

// Result is what Verify checked.
type Result struct {
	Report audit.Report
	// Checkpoint is the newest checkpoint, which the chain holds; nil
	// when none has been written.
	Checkpoint *Signed
}

// Verify checks the audit chain in chain against the newest checkpoint
// in cps, whose signature must verify with pub: the whole chain links up
// (else an *audit.TamperError), and it still holds the checkpoint's
// record with the signed hash (else a *MismatchError). A checkpoint that
// does not verify is ErrBadSignature; one that cannot be checked (another
// key, an unreadable store) ErrUnverifiable. Without any checkpoint only
// the chain is checked.
func Verify(ctx context.Context, chain audit.Store, cps Reader, pub ed25519.PublicKey) (Result, error) {
	var res Result
	cp, err := cps.Latest(ctx)
	switch {
	case errors.Is(err, ErrNone):
	case errors.Is(err, ErrMalformed):
		// Someone wrote it who could not sign it.
		return res, fmt.Errorf("%w: newest checkpoint: %w", ErrBadSignature, err)
	case err != nil:
		return res, fmt.Errorf("%w: %w", ErrUnverifiable, err)
	default:
		if err := cp.Verify(pub); err != nil {
			return res, err
		}
		res.Checkpoint = &cp
	}
	if res.Report, err = audit.VerifyFrom(ctx, chain, audit.Head{Seq: 0, Hash: audit.Genesis()}); err != nil {
		return res, err
	}
	if res.Checkpoint != nil {
		if err := holds(ctx, chain, cp.Checkpoint, res.Report.Head); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Verifier is Verify with its arguments bound, for callers that check
// on demand (the management API).
type Verifier struct {
	Chain       audit.Store
	Checkpoints Reader
	Key         ed25519.PublicKey
}

// Verify runs Verify.
func (v Verifier) Verify(ctx context.Context) (Result, error) {
	return Verify(ctx, v.Chain, v.Checkpoints, v.Key)
}

// holds checks that chain still has record c.Seq with the signed hash;
// head is the chain's recorded head.
func holds(ctx context.Context, chain audit.Store, c Checkpoint, head audit.Head) error {
	rec, ok, err := audit.RecordAt(ctx, chain, c.Seq)
	switch {
	case err != nil:
		return err
	case !ok:
		return &MismatchError{Checkpoint: c, Reason: fmt.Sprintf("record %d is missing: the chain ends at %d (records removed from the end)", c.Seq, head.Seq)}
	case !bytes.Equal(rec.Hash, c.Hash):
		return &MismatchError{Checkpoint: c, Reason: fmt.Sprintf("record %d's hash differs from the signed one (records up to it were changed)", c.Seq)}
	}
	return nil
}
