package secrets_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/moat-dev/moat/internal/scan/secrets"
)

// expectation is one row of testdata/corpus/expected.tsv.
type expectation struct {
	path, rule, raw string
	line            int
}

func (e expectation) key() string { return fmt.Sprintf("%s:%d %s", e.path, e.line, e.rule) }

func readExpected(t *testing.T) []expectation {
	t.Helper()
	f, err := os.Open("testdata/corpus/expected.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []expectation
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") || sc.Text() == "" {
			continue
		}
		p := strings.Split(sc.Text(), "\t")
		if len(p) != 4 {
			t.Fatalf("bad row %q", sc.Text())
		}
		n, err := strconv.Atoi(p[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, expectation{path: p[0], line: n, rule: p[2], raw: p[3]})
	}
	return out
}

// scanTree scans every file under dir as if it sat at its path relative to
// dir in an image.
func scanTree(t *testing.T, s *secrets.Scanner, dir string) (findings []secrets.Finding, skipped []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		virtual := "/" + filepath.ToSlash(rel)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fs, err := s.Scan(context.Background(), virtual, f)
		if errors.Is(err, secrets.ErrSkipped) {
			skipped = append(skipped, virtual)
			return nil
		}
		if err != nil {
			return err
		}
		findings = append(findings, fs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return findings, skipped
}

func newScanner(t testing.TB, opts ...secrets.Option) *secrets.Scanner {
	t.Helper()
	s, err := secrets.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCorpusRecallAndPrecision: every planted secret is found by the
// expected rule at the expected line, and nothing else is reported on
// either the positive or the look-alike negative corpus.
func TestCorpusRecallAndPrecision(t *testing.T) {
	s := newScanner(t)
	want := readExpected(t)
	got, skipped := scanTree(t, s, "testdata/corpus/positive")
	if len(skipped) > 0 {
		t.Errorf("positive files skipped: %v", skipped)
	}
	gotKeys := map[string]int{}
	for _, f := range got {
		gotKeys[fmt.Sprintf("%s:%d %s", f.Path, f.Line, f.RuleID)]++
	}
	wantKeys := map[string]int{}
	for _, e := range want {
		wantKeys[e.key()]++
	}
	found := 0
	for k, n := range wantKeys {
		if gotKeys[k] >= n {
			found += n
		} else {
			t.Errorf("missed: %s", k)
		}
	}
	fp := 0
	for k, n := range gotKeys {
		if extra := n - wantKeys[k]; extra > 0 {
			fp += extra
			t.Errorf("unexpected: %s", k)
		}
	}
	neg, negSkipped := scanTree(t, s, "testdata/corpus/negative")
	for _, f := range neg {
		fp++
		t.Errorf("false positive on a look-alike: %s", f)
	}
	sort.Strings(negSkipped)
	wantSkipped := []string{
		"/go/src/app/vendor/github.com/x/y/creds.yaml",
		"/srv/app/node_modules/jsonwebtoken/test/priv.pem",
		"/srv/app/testdata/aws",
		"/usr/lib/python3/dist-packages/requests/tests/test_auth.py",
		"/usr/share/doc/curl/README",
	}
	if strings.Join(negSkipped, ",") != strings.Join(wantSkipped, ",") {
		t.Errorf("skipped %v, want %v", negSkipped, wantSkipped)
	}
	rules := map[string]bool{}
	for _, e := range want {
		rules[e.rule] = true
	}
	t.Logf("recall %d/%d, false positives %d, rules covered %d", found, len(want), fp, len(rules))
	for _, id := range s.RuleIDs() {
		if !rules[id] {
			t.Errorf("corpus has no true positive for rule %s", id)
		}
	}
}

// TestNoRawSecretInOutput renders findings every way a caller might and
// greps for each planted value.
func TestNoRawSecretInOutput(t *testing.T) {
	s := newScanner(t)
	got, _ := scanTree(t, s, "testdata/corpus/positive")
	if len(got) == 0 {
		t.Fatal("no findings")
	}
	var outputs []string
	js, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(js))
	for _, f := range got {
		outputs = append(outputs, f.String(), fmt.Sprintf("%v", f), fmt.Sprintf("%+v", f), fmt.Sprintf("%#v", f))
	}
	all := strings.Join(outputs, "\n")
	for _, e := range readExpected(t) {
		if strings.Contains(all, e.raw) {
			t.Errorf("output contains the raw value for %s", e.key())
		}
		// Nor any 8-character run of it beyond the kept prefix.
		if len(e.raw) >= 16 && strings.Contains(all, e.raw[4:12]) {
			t.Errorf("output contains part of the raw value for %s", e.key())
		}
	}
}
