// Package moatserve starts a moat binary for the benchmark programs: an
// open registry (--auth=false) on a free loopback port, with a data
// directory and a configuration file under a work directory.
package moatserve

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Start runs bin serve with config (YAML), env added to the environment
// and its output to out, waits until it answers, and returns its base URL
// and a function that stops it.
func Start(bin, work, config string, env []string, out io.Writer) (base string, stop func(), err error) {
	cfg := filepath.Join(work, "moat.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	srv := exec.Command(bin, "serve", "--auth=false", "--addr", addr, "--data-dir", filepath.Join(work, "data"), "--config", cfg)
	srv.Env = append(os.Environ(), env...)
	srv.Stdout, srv.Stderr = out, out
	if err := srv.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		srv.Process.Kill()
		srv.Wait()
	}
	base = "http://" + addr
	for range 400 {
		if resp, err := http.Get(base + "/v2/"); err == nil {
			resp.Body.Close()
			return base, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("moat did not come up")
}
