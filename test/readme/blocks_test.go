package readme

import (
	"strings"
	"testing"
)

// block is one fenced code block of a Markdown file.
type block struct {
	line int    // of the opening fence, 1-based
	lang string // the fence's info string ("sh", or "")
	text string
}

// parseBlocks returns the fenced (```) code blocks of md, in order.
func parseBlocks(md string) []block {
	var out []block
	var cur *block
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &block{line: i + 1, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```"))}
		case cur != nil && trimmed == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	return out
}

// commands returns the command lines of a shell text: continuation lines
// joined, comments and blank lines dropped. Heredoc bodies are not told
// apart; README blocks that run keep to simple commands.
func commands(text string) []string {
	var out []string
	var acc string
	for _, line := range strings.Split(text, "\n") {
		line = stripComment(line)
		if cont, ok := strings.CutSuffix(strings.TrimRight(line, " \t"), `\`); ok {
			acc += cont + " "
			continue
		}
		if cmd := strings.Join(strings.Fields(acc+line), " "); cmd != "" {
			out = append(out, cmd)
		}
		acc = ""
	}
	return out
}

// stripComment drops a shell comment: a # that starts a word outside
// quotes.
func stripComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

// program is the command a command line runs: its first word after
// VAR=value assignments and a "$ " prompt.
func program(cmd string) string {
	for _, w := range strings.Fields(strings.TrimPrefix(cmd, "$ ")) {
		if name, _, ok := strings.Cut(w, "="); ok && name != "" && !strings.ContainsAny(name, "-/.") {
			continue
		}
		return w
	}
	return ""
}

// clients are the registry clients whose README examples must run.
var clients = []string{"skopeo", "crane", "podman", "oras", "curl"}

func isClient(prog string) bool {
	for _, c := range clients {
		if prog == c {
			return true
		}
	}
	return false
}

// readmeHost is the registry the README's examples talk to.
const readmeHost = "localhost:5000"

// runnable reports whether a block is one of the examples this test runs:
// a ```sh block with a client command or a command naming the registry.
func runnable(b block) bool {
	if b.lang != "sh" {
		return false
	}
	for _, c := range commands(b.text) {
		if isClient(program(c)) || strings.Contains(c, readmeHost) {
			return true
		}
	}
	return false
}

// strayExamples returns the lines outside runnable blocks that start a
// client command: examples the test would not run.
func strayExamples(blocks []block) []string {
	var out []string
	for _, b := range blocks {
		if runnable(b) {
			continue
		}
		for _, c := range commands(b.text) {
			if isClient(program(c)) {
				out = append(out, c)
			}
		}
	}
	return out
}

func TestParseBlocks(t *testing.T) {
	md := "# t\n\n```sh\ncrane ls localhost:5000/a   # list\nskopeo copy \\\n  a b\n\n# a comment\necho 'x # y'\n```\n\ntext\n```\nSSL_CERT_FILE=ca.pem crane push x y\nmoat serve\n```\n```sh\nmake run   # localhost:5000 in a comment\n```\n"
	bs := parseBlocks(md)
	if len(bs) != 3 || bs[0].lang != "sh" || bs[0].line != 3 || bs[1].lang != "" {
		t.Fatalf("blocks: %+v", bs)
	}
	want := []string{"crane ls localhost:5000/a", "skopeo copy a b", "echo 'x # y'"}
	if got := commands(bs[0].text); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands = %q, want %q", got, want)
	}
	if !runnable(bs[0]) || runnable(bs[1]) || runnable(bs[2]) {
		t.Errorf("runnable: %v %v %v, want true false false", runnable(bs[0]), runnable(bs[1]), runnable(bs[2]))
	}
	if got := strayExamples(bs); len(got) != 1 || got[0] != "SSL_CERT_FILE=ca.pem crane push x y" {
		t.Errorf("stray examples: %q", got)
	}
	if p := program("MOAT_ADMIN_PASSWORD='x' moat serve"); p != "moat" {
		t.Errorf("program = %q", p)
	}
}
