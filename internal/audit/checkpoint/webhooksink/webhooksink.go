package webhooksink

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/moat-dev/moat/internal/audit/checkpoint"
)

// Headers of a post.
const (
	SignatureHeader = "X-Moat-Signature" // "sha256=" + hex HMAC of the body
	EventHeader     = "X-Moat-Event"     // "audit.checkpoint"
)

const (
	timeout      = 10 * time.Second
	maxErrorBody = 4 << 10
)

// Sink posts checkpoints to one URL.
type Sink struct {
	url      string
	redacted string // for errors and logs
	secret   []byte
	client   *http.Client
}

var _ checkpoint.Sink = (*Sink)(nil)

// New returns a sink posting to target (an absolute http or https URL)
// signed with secret (not empty).
func New(target, secret string) (*Sink, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("webhook: want an absolute http(s) URL")
	}
	if secret == "" {
		return nil, errors.New("webhook: empty secret")
	}
	return &Sink{url: target, redacted: u.Redacted(), secret: []byte(secret), client: &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// Sign returns the X-Moat-Signature value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Publish implements checkpoint.Sink: any 2xx answer is success.
func (s *Sink) Publish(ctx context.Context, c checkpoint.Signed) error {
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", s.redacted, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(EventHeader, "audit.checkpoint")
	req.Header.Set(SignatureHeader, Sign(s.secret, body))
	resp, err := s.client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may hold credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", s.redacted, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return fmt.Errorf("webhook %s: %s: %q", s.redacted, resp.Status, bytes.TrimSpace(b))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return nil
}
