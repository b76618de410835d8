package e2e

import (
	"os"
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// Every server starts with access control on (moatproc's default) and
// every client logs in as the robot moatproc creates; TestWithoutAuth is
// the one test of the opt-out.
func TestMain(m *testing.M) { os.Exit(moatproc.Main(m)) }

// craneLogin returns a runner whose crane is logged in to s as the robot
// through `crane auth login`, into a docker config of the test's own.
func craneLogin(t *testing.T, crane string, s *moatproc.Server) *moatproc.Runner {
	t.Helper()
	r := moatproc.NewRunner(t, "DOCKER_CONFIG="+t.TempDir())
	r.Run(crane, "auth", "login", s.Addr, "-u", s.Robot.Username, "-p", s.Robot.Password)
	return r
}
