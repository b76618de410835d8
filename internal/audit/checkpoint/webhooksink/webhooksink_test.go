package webhooksink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
)

func TestPublish(t *testing.T) {
	const secret = "s3cret"
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := checkpoint.NewSigner(key)
	c := signer.Sign(audit.Head{Seq: 5, Hash: bytes.Repeat([]byte{2}, 32)}, time.Now())
	status := http.StatusNoContent
	var got checkpoint.Signed
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get(SignatureHeader) != Sign([]byte(secret), body) || r.Header.Get(EventHeader) != "audit.checkpoint" {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		got, _ = checkpoint.Parse(body)
		w.WriteHeader(status)
	}))
	defer srv.Close()

	s, err := New(srv.URL+"/hook", secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got.Seq != 5 || got.Verify(signer.Public()) != nil {
		t.Errorf("received %+v", got)
	}
	status = http.StatusBadGateway
	if err := s.Publish(context.Background(), c); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("5xx answer: %v", err)
	}
	wrong, _ := New(srv.URL, "other")
	if err := wrong.Publish(context.Background(), c); err == nil {
		t.Error("wrong secret accepted by the test server")
	}
	// Credentials in the URL stay out of errors.
	creds, _ := New("http://user:topsecret@127.0.0.1:1/hook", secret)
	if err := creds.Publish(context.Background(), c); err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("error %v", err)
	}
	for _, bad := range [][2]string{{"ftp://x/y", "s"}, {"http://x/y", ""}, {"/relative", "s"}} {
		if _, err := New(bad[0], bad[1]); err == nil {
			t.Errorf("New(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
