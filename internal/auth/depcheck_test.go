package auth_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoresImportNoHTTP: the policy engine, identity rules and audit
// chain are HTTP-free; only the guard and the token endpoint handler are
// edge code.
func TestCoresImportNoHTTP(t *testing.T) {
	for _, pkg := range []string{
		"github.com/moat-dev/moat/internal/auth/policy",
		"github.com/moat-dev/moat/internal/auth/identity",
		"github.com/moat-dev/moat/internal/auth/identity/sqlidentity",
		"github.com/moat-dev/moat/internal/auth/policystore",
		"github.com/moat-dev/moat/internal/auth/authschema",
		"github.com/moat-dev/moat/internal/auth/throttle",
		"github.com/moat-dev/moat/internal/audit",
		"github.com/moat-dev/moat/internal/audit/sqlaudit",
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == "net/http" || strings.HasPrefix(dep, "github.com/moat-dev/moat/internal/distribution") || strings.HasPrefix(dep, "github.com/moat-dev/moat/internal/server") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
}
