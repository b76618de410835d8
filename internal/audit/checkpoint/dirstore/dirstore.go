package dirstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moat-dev/moat/internal/audit/checkpoint"
)

// DefaultKeep is how many checkpoint files are kept by default.
const DefaultKeep = 100

// Store is a checkpoint.Store in a directory.
type Store struct {
	dir  string
	keep int
}

var _ checkpoint.Store = (*Store)(nil)

// New returns the store in directory dir, keeping the newest keep
// checkpoints (keep >= 1). The directory is made (0750) by the first
// Publish, so a verifier reading a wrong path creates nothing.
func New(dir string, keep int) (*Store, error) {
	if dir == "" || keep < 1 {
		return nil, errors.New("dirstore: need a directory and keep >= 1")
	}
	return &Store{dir: dir, keep: keep}, nil
}

const nameDigits = 20

func name(seq int64) string { return fmt.Sprintf("%0*d.json", nameDigits, seq) }

// seqs returns the sequence numbers of the stored checkpoints, ascending.
func (s *Store) seqs() ([]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	var out []int64
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || len(base) != nameDigits || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.ParseInt(base, 10, 64)
		if err != nil || n < 1 {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// Publish implements checkpoint.Sink: it stores c durably, replacing a
// checkpoint of the same sequence number, and prunes old ones.
func (s *Store) Publish(ctx context.Context, c checkpoint.Signed) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	tmp, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(s.dir, name(c.Seq)))
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		return fmt.Errorf("dirstore: write checkpoint %d: %w", c.Seq, err)
	}
	return s.prune()
}

func (s *Store) prune() error {
	seqs, err := s.seqs()
	if err != nil {
		return err
	}
	for _, n := range seqs[:max(len(seqs)-s.keep, 0)] {
		if err := os.Remove(filepath.Join(s.dir, name(n))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("dirstore: prune: %w", err)
		}
	}
	return nil
}

// Latest implements checkpoint.Reader. A newest file that does not parse
// is an error (checkpoint.ErrMalformed), never skipped: it may be the
// evidence.
func (s *Store) Latest(ctx context.Context) (checkpoint.Signed, error) {
	if err := ctx.Err(); err != nil {
		return checkpoint.Signed{}, err
	}
	seqs, err := s.seqs()
	if err != nil {
		return checkpoint.Signed{}, err
	}
	if len(seqs) == 0 {
		return checkpoint.Signed{}, checkpoint.ErrNone
	}
	n := seqs[len(seqs)-1]
	b, err := os.ReadFile(filepath.Join(s.dir, name(n)))
	if err != nil {
		return checkpoint.Signed{}, fmt.Errorf("dirstore: %w", err)
	}
	c, err := checkpoint.Parse(b)
	if err != nil {
		return checkpoint.Signed{}, fmt.Errorf("dirstore: %s: %w", name(n), err)
	}
	if c.Seq != n {
		return checkpoint.Signed{}, fmt.Errorf("dirstore: %s: %w: holds checkpoint %d", name(n), checkpoint.ErrMalformed, c.Seq)
	}
	return c, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
