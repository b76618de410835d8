package checkpoint

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/moat-dev/moat/internal/audit"
)

// Errors, classified with errors.Is / errors.As.
var (
	// ErrNone: no checkpoint has been written yet.
	ErrNone = errors.New("no audit checkpoint")
	// ErrBadSignature: a checkpoint's signature does not verify with its
	// key: it was altered or forged. It wraps audit.ErrTampered.
	ErrBadSignature = fmt.Errorf("%w: checkpoint signature invalid", audit.ErrTampered)
	// ErrUnverifiable: a checkpoint could not be checked (signed by
	// another key, unreadable): not evidence of tampering either way.
	ErrUnverifiable = errors.New("audit checkpoint cannot be verified")
	// ErrMalformed: a stored checkpoint does not parse.
	ErrMalformed = errors.New("malformed audit checkpoint")
)

// Checkpoint commits to the audit chain up to record Seq: that record's
// hash covers every record before it.
type Checkpoint struct {
	Seq   int64
	Hash  []byte // of record Seq
	Time  time.Time
	KeyID string // see KeyID
}

// Signed is a checkpoint with its Ed25519 signature over Message.
type Signed struct {
	Checkpoint
	Signature []byte
}

// messageTag versions the signed encoding.
const messageTag = "moat audit checkpoint v1"

// Message is the byte string signed: the tag and each field on a line of
// its own, so no two checkpoints sign the same bytes.
func (c Checkpoint) Message() []byte {
	return fmt.Appendf(nil, "%s\nseq %d\nhash %x\ntime %s\nkey %s\n",
		messageTag, c.Seq, c.Hash, c.Time.UTC().Format(time.RFC3339Nano), c.KeyID)
}

// KeyID names a public key: the hex of the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signer signs checkpoints with one key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a signer for key.
func NewSigner(key ed25519.PrivateKey) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("checkpoint: not an Ed25519 private key")
	}
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}, nil
}

// Public returns the key verifiers need.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign returns the signed checkpoint of head at time t.
func (s *Signer) Sign(head audit.Head, t time.Time) Signed {
	c := Checkpoint{Seq: head.Seq, Hash: head.Hash, Time: t.UTC(), KeyID: s.id}
	return Signed{Checkpoint: c, Signature: ed25519.Sign(s.key, c.Message())}
}

// Verify checks the signature with pub: ErrUnverifiable when the
// checkpoint names another key, ErrBadSignature when it does not verify.
func (s Signed) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: not an Ed25519 public key", ErrUnverifiable)
	}
	if id := KeyID(pub); s.KeyID != id {
		return fmt.Errorf("%w: checkpoint %d is signed by key %s, the key given is %s", ErrUnverifiable, s.Seq, s.KeyID, id)
	}
	if !ed25519.Verify(pub, s.Message(), s.Signature) {
		return fmt.Errorf("%w (checkpoint %d)", ErrBadSignature, s.Seq)
	}
	return nil
}

// jsonSigned is the stored and published form.
type jsonSigned struct {
	Version   int    `json:"version"`
	Seq       int64  `json:"seq"`
	Hash      string `json:"hash"`
	Time      string `json:"time"`
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"` // base64
}

// MarshalJSON renders {"version":1,"seq":…,"hash":hex,"time":RFC 3339,
// "key_id":…,"signature":base64}.
func (s Signed) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonSigned{Version: 1, Seq: s.Seq, Hash: hex.EncodeToString(s.Hash),
		Time: s.Time.UTC().Format(time.RFC3339Nano), KeyID: s.KeyID, Signature: s.Signature})
}

// Parse reads the JSON form; it does not check the signature.
func Parse(b []byte) (Signed, error) {
	var j jsonSigned
	if err := json.Unmarshal(b, &j); err != nil {
		return Signed{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if j.Version != 1 {
		return Signed{}, fmt.Errorf("%w: version %d", ErrMalformed, j.Version)
	}
	h, err := hex.DecodeString(j.Hash)
	if err != nil || len(h) != sha256.Size || j.Seq < 1 || len(j.Signature) != ed25519.SignatureSize || j.KeyID == "" {
		return Signed{}, fmt.Errorf("%w: bad seq, hash, key id or signature", ErrMalformed)
	}
	t, err := time.Parse(time.RFC3339Nano, j.Time)
	if err != nil {
		return Signed{}, fmt.Errorf("%w: time: %v", ErrMalformed, err)
	}
	return Signed{Checkpoint: Checkpoint{Seq: j.Seq, Hash: h, Time: t, KeyID: j.KeyID}, Signature: j.Signature}, nil
}

// Sink receives every checkpoint written: a syslog server, a webhook.
type Sink interface {
	// Publish sends s; an error leaves the checkpoint written elsewhere.
	Publish(ctx context.Context, s Signed) error
}

// Store keeps checkpoints apart from the database, where verification
// reads them back: the blob storage.
type Store interface {
	Sink
	// Latest returns the checkpoint with the highest Seq, or ErrNone.
	Latest(ctx context.Context) (Signed, error)
}
