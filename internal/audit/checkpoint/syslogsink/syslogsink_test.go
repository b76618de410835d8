package syslogsink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/audit"
	"github.com/moat-dev/moat/internal/audit/checkpoint"
)

func signed(t *testing.T) (checkpoint.Signed, ed25519.PublicKey) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s, err := checkpoint.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return s.Sign(audit.Head{Seq: 77, Hash: bytes.Repeat([]byte{1}, 32)}, time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.UTC)), s.Public()
}

// rfc5424 matches the header this sink writes; the message is the JSON.
var rfc5424 = regexp.MustCompile(`^<110>1 2026-06-01T12:00:00\.123456Z [!-~]+ moat [0-9]+ audit-checkpoint - (\{.*\})$`)

// checkMessage parses msg as the checkpoint and verifies it.
func checkMessage(t *testing.T, msg []byte, pub ed25519.PublicKey) {
	t.Helper()
	m := rfc5424.FindSubmatch(msg)
	if m == nil {
		t.Fatalf("not the expected RFC 5424 message: %q", msg)
	}
	c, err := checkpoint.Parse(m[1])
	if err != nil || c.Seq != 77 || c.Verify(pub) != nil {
		t.Fatalf("message body: %+v %v", c, err)
	}
}

func TestUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s, err := New("udp://" + pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, pub := signed(t)
	if err := s.Publish(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8192)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, buf[:n], pub)
}

// TestTCP: octet-counted frames, two messages on one connection, and a
// redial after the server dropped it.
func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	frames := make(chan []byte, 4)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					var n int
					if _, err := fmt.Fscanf(r, "%d ", &n); err != nil {
						return
					}
					b := make([]byte, n)
					if _, err := io.ReadFull(r, b); err != nil {
						return
					}
					frames <- b
				}
			}()
		}
	}()
	s, err := New("tcp://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, pub := signed(t)
	for range 2 {
		if err := s.Publish(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		select {
		case f := <-frames:
			checkMessage(t, f, pub)
		case <-time.After(5 * time.Second):
			t.Fatal("no frame")
		}
	}
	if _, err := New("syslog://x:1"); err == nil {
		t.Error("bad scheme accepted")
	}
	for _, bad := range []string{"udp://host", "tcp://:514/x", "http://h:1", "udp://u@h:1"} {
		if _, _, err := ParseTarget(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if got := strconv.Quote(printable("a b\x00c", 255)); got != `"abc"` {
		t.Errorf("printable: %s", got)
	}
}
