package dockerfile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/moat-dev/moat/internal/dockerfile"
)

func lint(t *testing.T, src string, opts ...dockerfile.Option) ([]dockerfile.Finding, error) {
	t.Helper()
	l, err := dockerfile.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l.Lint(context.Background(), "Dockerfile", strings.NewReader(src))
}

func ids(fs []dockerfile.Finding) string {
	var b []string
	for _, f := range fs {
		b = append(b, f.Rule)
	}
	return strings.Join(b, " ")
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want error
		line int
	}{
		{"binary", "FROM alpine\n\x7fELF\x02\x01\x00\x00garbage", dockerfile.ErrBinary, 2},
		{"invalid utf8", "FROM alpine\nRUN echo \xff\xfe\n", dockerfile.ErrInvalidUTF8, 2},
		{"empty", "", dockerfile.ErrSyntax, 0},
		{"comments only", "# nothing\n", dockerfile.ErrSyntax, 0},
		{"no FROM", "RUN echo hi\n", dockerfile.ErrSyntax, 0},
		{"unknown instruction", "FROM alpine\nFROBNICATE x\n", dockerfile.ErrSyntax, 0},
		{"line over 64 KiB", "FROM alpine\nRUN echo " + strings.Repeat("a", 70_000) + "\n", dockerfile.ErrSyntax, 0},
		{"bad directive", "# escape=xx\nFROM alpine\n", dockerfile.ErrSyntax, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := lint(t, c.src)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			var ie *dockerfile.InputError
			if !errors.As(err, &ie) || ie.Name != "Dockerfile" {
				t.Fatalf("err %v is not an *InputError naming the file", err)
			}
			if c.line > 0 && ie.Line != c.line {
				t.Errorf("line = %d, want %d", ie.Line, c.line)
			}
		})
	}
}

// A 10 MB single-line file is refused by size at once; with the limit
// raised it fails on BuildKit's line limit, still quickly.
func TestHugeSingleLine(t *testing.T) {
	src := "FROM alpine\nRUN echo " + strings.Repeat("x", 10<<20)
	start := time.Now()
	_, err := lint(t, src)
	if !errors.Is(err, dockerfile.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	_, err = lint(t, src, dockerfile.WithMaxSize(64<<20))
	if !errors.Is(err, dockerfile.ErrSyntax) {
		t.Fatalf("raised limit: err = %v, want ErrSyntax", err)
	}
	// Linear work takes well under a second; the bound leaves room for
	// the race detector on a loaded machine and still catches a hang.
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestDisableAndConfig(t *testing.T) {
	src := "FROM alpine\nWORKDIR rel\n"
	fs, err := lint(t, src)
	if err != nil || ids(fs) != "ML001 ML002 ML015 ML013" {
		t.Fatalf("findings %q, %v", ids(fs), err)
	}
	cfg, err := dockerfile.ParseConfig(strings.NewReader("version: 1\ndisable: [ML015, ML002, ML001]\nfailOn: warning\n"))
	if err != nil {
		t.Fatal(err)
	}
	fs, err = lint(t, src, dockerfile.WithConfig(cfg))
	if err != nil || ids(fs) != "ML013" {
		t.Fatalf("with config: %q, %v", ids(fs), err)
	}
	if _, err := dockerfile.New(dockerfile.WithDisabled("ML999")); !errors.Is(err, dockerfile.ErrUnknownRule) {
		t.Errorf("unknown id: %v", err)
	}
	for _, bad := range []string{"version: 2\n", "version: 1\ndisable: [XX1]\n", "version: 1\nfailOn: loud\n", "version: 1\nunknown: 1\n", "version: [\n"} {
		if _, err := dockerfile.ParseConfig(strings.NewReader(bad)); !errors.Is(err, dockerfile.ErrBadConfig) {
			t.Errorf("%q: err = %v, want ErrBadConfig", bad, err)
		}
	}
}

func TestRuleTable(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range dockerfile.Rules() {
		if seen[r.ID] || r.Name == "" || r.Rationale == "" || r.Fix == "" || r.Severity == 0 {
			t.Errorf("rule %+v incomplete or duplicated", r)
		}
		seen[r.ID] = true
	}
	if len(seen) != 15 {
		t.Errorf("%d rules", len(seen))
	}
}

func TestCases(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"digest pinned", "FROM alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000\nUSER 1\nHEALTHCHECK NONE\n", ""},
		{"arg base unresolved", "ARG BASE\nFROM ${BASE}\nUSER 1\nHEALTHCHECK NONE\n", ""},
		{"arg base latest", "ARG BASE=alpine:latest\nFROM $BASE\nUSER 1\nHEALTHCHECK NONE\n", "ML001"},
		{"scratch", "FROM scratch\nUSER 1\nHEALTHCHECK NONE\n", ""},
		{"user inherited from stage", "FROM alpine:3 AS base\nUSER app\nHEALTHCHECK NONE\nFROM base\nRUN true\n", ""},
		{"env ref is not a secret", "FROM alpine:3\nENV TOKEN=${TOKEN}\nUSER 1\nHEALTHCHECK NONE\n", ""},
		{"secret message hides value", "FROM alpine:3\nENV AWS_SECRET_ACCESS_KEY=abcDEF123\nUSER 1\nHEALTHCHECK NONE\n", "ML009"},
		{"pipe to python is not sh", "FROM alpine:3\nRUN curl -s https://x | python3\nUSER 1\nHEALTHCHECK NONE\n", ""},
		{"curl to tar", "FROM alpine:3\nRUN curl -sL https://x/a.tgz | tar xz\nUSER 1\nHEALTHCHECK NONE\n", ""},
		{"exec form", "FROM alpine:3\nRUN [\"chmod\", \"777\", \"/x\"]\nUSER 1\nHEALTHCHECK NONE\n", "ML011"},
		{"add with checksum", "FROM alpine:3\nADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://x/a.tgz /a\nUSER 1\nHEALTHCHECK NONE\n", ""},
		{"add git", "FROM alpine:3\nADD git@github.com:moby/buildkit.git /src\nUSER 1\nHEALTHCHECK NONE\n", "ML004"},
		{"add heredoc", "FROM alpine:3\nADD <<EOF /a\nhi\nEOF\nUSER 1\nHEALTHCHECK NONE\n", "ML003"},
		{"apt option before install", "FROM alpine:3\nRUN apt-get -o Acquire::Retries=3 install -y --no-install-recommends jq && rm -rf /var/lib/apt/lists/*\nUSER 1\nHEALTHCHECK NONE\n", ""},
		{"apt option, recommends", "FROM alpine:3\nRUN apt-get -o Acquire::Retries=3 install -y jq && rm -rf /var/lib/apt/lists/*\nUSER 1\nHEALTHCHECK NONE\n", "ML006"},
		{"url credentials hidden", "FROM alpine:3\nADD https://bob:abcDEF123@example.com/x?token=abcDEF123 /x\nUSER 1\nHEALTHCHECK NONE\n", "ML004"},
		{"nonroot distroless", "FROM gcr.io/distroless/static:nonroot\nHEALTHCHECK NONE\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, err := lint(t, c.src)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(fs); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			for _, f := range fs {
				if strings.Contains(f.Message, "abcDEF123") {
					t.Errorf("message leaks a value: %s", f.Message)
				}
			}
		})
	}
}

func badFindings(t *testing.T) []dockerfile.Finding {
	b, err := os.ReadFile("testdata/bad.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := lint(t, string(b))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestOutputsDoNotLeakValues(t *testing.T) {
	fs := badFindings(t)
	for _, f := range []dockerfile.Format{dockerfile.Table, dockerfile.JSON, dockerfile.SARIF} {
		var buf bytes.Buffer
		if err := dockerfile.Write(&buf, f, fs); err != nil {
			t.Fatal(err)
		}
		for _, raw := range []string{"s3cr3t-Value", "ghp_notreal"} {
			if bytes.Contains(buf.Bytes(), []byte(raw)) {
				t.Errorf("%s output contains %q", f, raw)
			}
		}
	}
}

func TestSARIFValid(t *testing.T) {
	c := jsonschema.NewCompiler()
	f, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("sarif.json", doc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("sarif.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, fs := range [][]dockerfile.Finding{badFindings(t), nil} {
		var buf bytes.Buffer
		if err := dockerfile.Write(&buf, dockerfile.SARIF, fs); err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Fatalf("SARIF invalid: %v", err)
		}
		var log struct {
			Runs []struct {
				Tool struct {
					Driver struct {
						Rules []struct{ ID string } `json:"rules"`
					} `json:"driver"`
				} `json:"tool"`
				Results []struct {
					RuleID    string `json:"ruleId"`
					RuleIndex int    `json:"ruleIndex"`
				} `json:"results"`
			} `json:"runs"`
		}
		if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
			t.Fatal(err)
		}
		run := log.Runs[0]
		if len(run.Results) != len(fs) {
			t.Errorf("%d results for %d findings", len(run.Results), len(fs))
		}
		for _, r := range run.Results {
			if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
				t.Errorf("result %s points at rule %d", r.RuleID, r.RuleIndex)
			}
		}
	}
}
