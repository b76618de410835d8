package cli

import (
	"testing"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestAdminPasswordReset is the documented reset of a lost admin
// password: `moat user passwd admin` on the server's data, with the
// server running (the new password logs in at once) and stopped (it
// logs in after the restart).
func TestAdminPasswordReset(t *testing.T) {
	onEachDatabase(t, func(t *testing.T, database string) {
		s := moatproc.Start(t, moatproc.WithoutRobot(), moatproc.WithDatabase(database))
		passwd := func(pw string) {
			t.Helper()
			code, out := moat(t, pw+"\n", append([]string{"user", "passwd", "admin"}, s.StoreArgs()...)...)
			if code != 0 {
				t.Fatalf("moat user passwd admin: exit %d\n%s", code, out)
			}
		}
		passwd("reset-while-running-1")
		if got := basicStatus(t, s.URL, "admin", "reset-while-running-1"); got != 200 {
			t.Errorf("new password set while the server runs: GET /v2/ %d, want 200", got)
		}
		must(t, s.Stop())
		passwd("reset-while-stopped-2")
		s.Restart(t)
		if got := basicStatus(t, s.URL, "admin", "reset-while-stopped-2"); got != 200 {
			t.Errorf("new password set while the server was stopped: GET /v2/ %d, want 200", got)
		}
		if got := basicStatus(t, s.URL, "admin", moatproc.AdminPassword); got != 401 {
			t.Errorf("the first password after a reset and a restart: GET /v2/ %d, want 401", got)
		}
	})
}
