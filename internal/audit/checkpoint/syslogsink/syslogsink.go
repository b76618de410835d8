package syslogsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/audit/checkpoint"
)

// priority is facility 13 ("log audit") times 8 plus severity 6
// (informational).
const priority = 13*8 + 6

// timeout bounds connecting and writing.
const timeout = 10 * time.Second

// Sink sends checkpoints to one syslog server.
type Sink struct {
	network, addr string
	hostname      string
	procID        string

	mu   sync.Mutex
	conn net.Conn // kept between messages; redialled after an error
}

var _ checkpoint.Sink = (*Sink)(nil)

// New returns a sink for target, "udp://HOST:PORT" or "tcp://HOST:PORT".
func New(target string) (*Sink, error) {
	network, addr, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "-"
	}
	return &Sink{network: network, addr: addr, hostname: printable(host, 255), procID: strconv.Itoa(os.Getpid())}, nil
}

// ParseTarget splits "udp://HOST:PORT" or "tcp://HOST:PORT".
func ParseTarget(target string) (network, addr string, err error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Port() == "" || u.Path != "" || u.User != nil {
		return "", "", fmt.Errorf("syslog target %q: want udp://HOST:PORT or tcp://HOST:PORT", target)
	}
	return u.Scheme, u.Host, nil
}

// Format renders c as an RFC 5424 message:
//
//	<110>1 TIMESTAMP HOSTNAME moat PROCID audit-checkpoint - {"version":1,"seq":…}
func (s *Sink) Format(c checkpoint.Signed) ([]byte, error) {
	msg, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("<%d>1 %s %s moat %s audit-checkpoint - ", priority,
		c.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), s.hostname, s.procID)
	return append([]byte(head), msg...), nil
}

// Publish implements checkpoint.Sink. It tries a fresh connection once
// when the kept one fails.
func (s *Sink) Publish(ctx context.Context, c checkpoint.Signed) error {
	msg, err := s.Format(c)
	if err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	if s.network == "tcp" {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for range 2 {
		if s.conn == nil {
			d := net.Dialer{Timeout: timeout}
			if s.conn, err = d.DialContext(ctx, s.network, s.addr); err != nil {
				s.conn = nil
				return fmt.Errorf("syslog %s://%s: %w", s.network, s.addr, errors.Join(append(errs, err)...))
			}
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
		if _, err = s.conn.Write(msg); err == nil {
			return nil
		}
		errs = append(errs, err)
		s.conn.Close()
		s.conn = nil
	}
	return fmt.Errorf("syslog %s://%s: %w", s.network, s.addr, errors.Join(errs...))
}

// Close closes the kept connection.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// printable keeps the printable US-ASCII that RFC 5424 header fields
// allow, at most n bytes.
func printable(s string, n int) string {
	b := make([]byte, 0, min(len(s), n))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c >= 33 && c <= 126 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}
