package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/conformance"
	"github.com/moat-dev/moat/internal/testutil/moatproc"
)

// TestConformance runs the OCI distribution-spec conformance suite against
// moat on SQLite and on PostgreSQL and fails on any failed, errored or
// skipped conformance test. A skip means the suite found an API moat does
// not support, which the registry issue requires.
func TestConformance(t *testing.T) {
	bin := moatproc.RequireTool(t, "oci-conformance")
	moatproc.OnEachDatabase(t, func(t *testing.T, db moatproc.Option) {
		runConformance(t, bin, moatproc.Start(t, db), path.Base(t.Name()))
	})
}

func runConformance(t *testing.T, bin string, s *moatproc.Server, engine string) {
	t.Helper()
	results := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	// The suite reads oci-conformance.yaml from its working directory when
	// present; an empty directory keeps the environment authoritative.
	cmd.Dir = results
	// With access control on, the suite logs in as the robot, and
	// anonymous blob mounts (a mount without a source repository) are
	// refused: they would link blobs the caller may not read. Later
	// settings override conformance.Env's.
	env := append(conformance.Env(s.Addr, results),
		"OCI_USERNAME="+s.Robot.Username,
		"OCI_PASSWORD="+s.Robot.Password,
		"OCI_API_BLOBS_MOUNT_ANONYMOUS=false")
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, runErr := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err := os.WriteFile(filepath.Join(results, "output.txt"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	keepResults(t, results, engine)

	suites, err := readJUnit(filepath.Join(results, "junit.xml"))
	if err != nil {
		t.Fatalf("conformance suite wrote no usable junit.xml (%v; exit: %v); its output:\n%s", err, runErr, moatproc.Clip(string(out)))
	}
	var c conformanceCounts
	for _, suite := range suites.Suites {
		for _, tc := range suite.Testcases {
			c.add(tc)
		}
	}
	// The closing line is in the form the CI log reader understands.
	fmt.Printf("conformance %s: %d passed, %d failed, %d skipped (%d disabled by configuration) in %.1fs\n",
		engine, c.passed, c.failed, c.skipped, c.disabled, elapsed.Seconds())
	if c.passed == 0 {
		t.Errorf("conformance suite passed no test; its output:\n%s", moatproc.Clip(string(out)))
	}
	// One line per case that did not pass, with the HTTP transcript of the
	// first few: enough to find the request and moat's answer.
	const transcripts = 5
	for i, tc := range c.notPassed {
		msg := fmt.Sprintf("%s %s: %s", strings.ToUpper(tc.Status), tc.Name, strings.TrimSpace(tc.SystemOut))
		if i < transcripts {
			msg += "\n" + moatproc.Clip(tc.SystemErr)
		}
		t.Error(msg)
	}
	if len(c.notPassed) > transcripts {
		t.Logf("transcripts of the other %d cases are in report.html (set MOAT_CONFORMANCE_RESULTS to keep it)", len(c.notPassed)-transcripts)
	}
	// Cross-check with the suite's own verdict, which also covers the
	// parent steps that junit.xml leaves out.
	if verdict := suiteVerdict(string(out)); verdict != "Pass" {
		t.Errorf("conformance suite's own result is %q, want \"Pass\"", verdict)
	}
	if runErr != nil && c.failed == 0 && c.skipped == 0 {
		t.Errorf("conformance suite exited with %v although junit.xml shows no failure; output:\n%s", runErr, moatproc.Clip(string(out)))
	}
}

type conformanceCounts struct {
	passed, failed, skipped, disabled int
	notPassed                         []junitCase
}

// add counts one test case and keeps it when it did not pass. The suite
// reports both "disabled by configuration" and "skipped" as junit skips;
// only the first is expected.
func (c *conformanceCounts) add(tc junitCase) {
	switch {
	case tc.Status == "passed":
		c.passed++
	case tc.Status == "skipped" && isDisabled(tc):
		c.disabled++
	case tc.Status == "skipped":
		c.skipped++
		c.notPassed = append(c.notPassed, tc)
	default:
		c.failed++
		c.notPassed = append(c.notPassed, tc)
	}
}

// isDisabled reports whether a skipped case was turned off by the suite's
// settings. The suite words it two ways: "disabled by user configuration"
// (a data kind or area, in system-out) and "api ... is disabled in the
// configuration" (a single API such as anonymous blob mounts, in
// system-err).
func isDisabled(tc junitCase) bool {
	text := tc.SystemOut + "\n" + tc.SystemErr
	return strings.Contains(text, "disabled by user configuration") ||
		strings.Contains(text, "is disabled in the configuration")
}

type junitCase struct {
	Name      string `xml:"name,attr"`
	Status    string `xml:"status,attr"`
	SystemOut string `xml:"system-out"`
	SystemErr string `xml:"system-err"`
}

type junitSuites struct {
	Suites []struct {
		Name      string      `xml:"name,attr"`
		Testcases []junitCase `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(path string) (junitSuites, error) {
	var s junitSuites
	data, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := xml.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("parse %s: %w", path, err)
	}
	return s, nil
}

// suiteVerdict returns X from the suite's "OCI Conformance Result: X" line.
func suiteVerdict(out string) string {
	const prefix = "OCI Conformance Result: "
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			return v
		}
	}
	return "(no result line)"
}

// keepResults copies the suite's reports to MOAT_CONFORMANCE_RESULTS/<engine>
// when that variable is set, so CI can keep report.html.
func keepResults(t *testing.T, dir, engine string) {
	t.Helper()
	dest := os.Getenv("MOAT_CONFORMANCE_RESULTS")
	if dest == "" {
		return
	}
	dest = filepath.Join(dest, engine)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		t.Errorf("keeping conformance results: %v", err)
		return
	}
	for _, name := range []string{"junit.xml", "results.yaml", "report.html", "output.txt"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dest, name), data, 0o644); err != nil {
			t.Errorf("keeping conformance results: %v", err)
		}
	}
}
