package crash

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

func TestMain(m *testing.M) { os.Exit(moatproc.Main(m)) }

// startServer runs moat for a crash test. Access control stays on, as it
// is by default: the token signing key and the audit log, appended on
// every push, are part of the state a kill interrupts, and the test
// clients send the robot's credentials (Basic on /v2/, the token flow in
// go-containerregistry). Background tasks are off so that they do not
// change what the test inspects; opts come after these defaults.
func startServer(t *testing.T, opts ...moatproc.Option) *moatproc.Server {
	t.Helper()
	defaults := moatproc.WithEnv("MOAT_GC_INTERVAL=0", "MOAT_UPLOADS_PURGE_INTERVAL=0", "MOAT_LOG_LEVEL=warn")
	return moatproc.Start(t, append([]moatproc.Option{defaults}, opts...)...)
}

// newClient returns an HTTP client that sends the robot's credentials to srv.
func newClient(srv *moatproc.Server, base *http.Transport) *http.Client {
	return &http.Client{Transport: srv.Transport(base)}
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
