package dockerfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/moat-dev/moat/internal/lazyregexp"
	"github.com/moat-dev/moat/internal/redact"
)

// DefaultMaxSize is the largest Dockerfile Lint reads unless WithMaxSize
// says otherwise; real Dockerfiles are a few KiB.
const DefaultMaxSize = 1 << 20

// Errors that classify bad input. Lint wraps them in an *InputError.
var (
	ErrBinary      = errors.New("binary content (NUL byte), not a Dockerfile")
	ErrInvalidUTF8 = errors.New("not valid UTF-8")
	ErrTooLarge    = errors.New("larger than the size limit")
	ErrSyntax      = errors.New("invalid Dockerfile")
	ErrBadSeverity = errors.New("unknown severity")
	ErrUnknownRule = errors.New("unknown rule id")
	ErrBadConfig   = errors.New("invalid lint configuration")
)

// InputError says why a file could not be linted and where.
type InputError struct {
	Name string
	// Line is 1-based; 0 when the problem has no line.
	Line int
	Err  error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Name, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// Finding is one rule violated at one line.
type Finding struct {
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// Linter checks Dockerfiles. It holds only configuration and is safe for
// concurrent use.
type Linter struct {
	disabled map[string]bool
	maxSize  int64
}

// Option configures a Linter.
type Option func(*Linter) error

// WithDisabled turns rules off by id. Unknown ids are an error so that a
// typo does not silently keep a rule on. Default: every rule on.
func WithDisabled(ids ...string) Option {
	return func(l *Linter) error {
		for _, id := range ids {
			id = strings.ToUpper(strings.TrimSpace(id))
			if _, ok := ruleByID(id); !ok {
				return fmt.Errorf("%w: %q", ErrUnknownRule, id)
			}
			l.disabled[id] = true
		}
		return nil
	}
}

// WithMaxSize bounds the bytes read per Dockerfile. Default DefaultMaxSize.
func WithMaxSize(n int64) Option {
	return func(l *Linter) error {
		if n <= 0 {
			return fmt.Errorf("max size %d: must be positive", n)
		}
		l.maxSize = n
		return nil
	}
}

// New returns a Linter.
func New(opts ...Option) (*Linter, error) {
	l := &Linter{disabled: map[string]bool{}, maxSize: DefaultMaxSize}
	for _, o := range opts {
		if err := o(l); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Lint reads one Dockerfile from r (name is used in findings and errors)
// and returns its findings sorted by line and rule. Bad input yields an
// *InputError wrapping ErrTooLarge, ErrBinary, ErrInvalidUTF8 or ErrSyntax.
func (l *Linter) Lint(ctx context.Context, name string, r io.Reader) ([]Finding, error) {
	b, err := io.ReadAll(io.LimitReader(r, l.maxSize+1))
	if err != nil {
		return nil, &InputError{Name: name, Err: fmt.Errorf("read: %w", err)}
	}
	if int64(len(b)) > l.maxSize {
		return nil, &InputError{Name: name, Err: fmt.Errorf("%w of %d bytes", ErrTooLarge, l.maxSize)}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return nil, &InputError{Name: name, Line: lineAt(b, i), Err: ErrBinary}
	}
	if !utf8.Valid(b) {
		return nil, &InputError{Name: name, Line: lineAt(b, firstInvalid(b)), Err: ErrInvalidUTF8}
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, syntaxError(name, err)
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, syntaxError(name, err)
	}
	if len(stages) == 0 {
		return nil, &InputError{Name: name, Err: fmt.Errorf("%w: no FROM instruction", ErrSyntax)}
	}
	c := &checker{name: name, l: l, args: argDefaults(metaArgs)}
	c.run(stages)
	sort.SliceStable(c.out, func(i, j int) bool {
		if c.out[i].Line != c.out[j].Line {
			return c.out[i].Line < c.out[j].Line
		}
		return c.out[i].Rule < c.out[j].Rule
	})
	return c.out, nil
}

func syntaxError(name string, err error) error {
	line := 0
	var le interface{ Location() []parser.Range }
	if errors.As(err, &le) && len(le.Location()) > 0 {
		line = le.Location()[0].Start.Line
	}
	return &InputError{Name: name, Line: line, Err: fmt.Errorf("%w: %v", ErrSyntax, err)}
}

func lineAt(b []byte, off int) int { return bytes.Count(b[:off], []byte{'\n'}) + 1 }

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return 0
}

// checker accumulates the findings of one file.
type checker struct {
	name string
	l    *Linter
	args map[string]string
	out  []Finding
}

func (c *checker) report(id string, line int, comments []string, format string, a ...any) {
	if c.l.disabled[id] || ignored(comments, id) {
		return
	}
	r, _ := ruleByID(id)
	c.out = append(c.out, Finding{File: c.name, Line: line, Rule: id, Severity: r.Severity, Message: fmt.Sprintf(format, a...)})
}

// ignored reports whether a "# moat-ignore [ids]" comment directly above
// the instruction silences rule id.
func ignored(comments []string, id string) bool {
	for _, cm := range comments {
		rest, ok := strings.CutPrefix(strings.TrimSpace(cm), "moat-ignore")
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t' && rest[0] != ':') {
			continue
		}
		ids := strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == ':' })
		if len(ids) == 0 {
			return true
		}
		for _, x := range ids {
			if strings.EqualFold(x, id) {
				return true
			}
		}
	}
	return false
}

func startLine(cmd instructions.Command) int {
	if loc := cmd.Location(); len(loc) > 0 {
		return loc[0].Start.Line
	}
	return 0
}

func stageLine(s *instructions.Stage) int {
	if len(s.Location) > 0 {
		return s.Location[0].Start.Line
	}
	return 0
}

func (c *checker) run(stages []instructions.Stage) {
	names := map[string]int{}
	for i := range stages {
		if stages[i].Name != "" {
			names[strings.ToLower(stages[i].Name)] = i
		}
	}
	chain := c.finalChain(stages, names)
	seen := map[string]int{}
	for i := range stages {
		s := &stages[i]
		c.base(s, seen)
		// Build tools matter only when some stage is left out of the image.
		c.stage(s, chain[i] && len(chain) < len(stages))
		if s.Name != "" {
			seen[strings.ToLower(s.Name)] = i
		}
	}
	c.final(stages, names)
}

// finalChain is the set of stages the final image is built on: the last
// stage and the earlier stages its FROM names, transitively.
func (c *checker) finalChain(stages []instructions.Stage, names map[string]int) map[int]bool {
	chain := map[int]bool{}
	for i := len(stages) - 1; i >= 0 && !chain[i]; {
		chain[i] = true
		img, _ := c.expand(stages[i].BaseName)
		j, ok := names[strings.ToLower(img)]
		if !ok || j >= i {
			break
		}
		i = j
	}
	return chain
}

var varRef = lazyregexp.New(`\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)`)

func argDefaults(meta []instructions.ArgCommand) map[string]string {
	m := map[string]string{}
	for _, a := range meta {
		for _, kv := range a.Args {
			if kv.Value != nil {
				m[kv.Key] = *kv.Value
			}
		}
	}
	return m
}

// expand substitutes global ARG defaults; ok is false when a variable has
// no value, so the image cannot be judged.
func (c *checker) expand(s string) (string, bool) {
	ok := true
	out := varRef().ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef().FindStringSubmatch(m)
		name := sub[1] + sub[3]
		if v, found := c.args[name]; found && v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[2]
		}
		ok = false
		return ""
	})
	return out, ok
}

// base checks the FROM of one stage.
func (c *checker) base(s *instructions.Stage, earlier map[string]int) {
	img, ok := c.expand(s.BaseName)
	if !ok || img == "" {
		return
	}
	lower := strings.ToLower(img)
	if lower == "scratch" {
		return
	}
	if _, isStage := earlier[lower]; isStage {
		return
	}
	if strings.Contains(img, "@") {
		return
	}
	tag := ""
	if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
		tag = img[i+1:]
	}
	switch tag {
	case "":
		c.report(RuleUnpinnedBase, stageLine(s), s.Comments, "base image %q has no tag; pin it by digest", img)
	case "latest":
		c.report(RuleUnpinnedBase, stageLine(s), s.Comments, "base image %q uses :latest; pin it by digest", img)
	}
}

// stage runs the per-instruction rules of one stage; finalOfMany marks a
// stage whose content ends up in the image of a multi-stage build.
func (c *checker) stage(s *instructions.Stage, finalOfMany bool) {
	var cmds, entrypoints []int
	var cmdComments, epComments [][]string
	for _, cmd := range s.Commands {
		line, comments := startLine(cmd), cmd.Comments()
		switch x := cmd.(type) {
		case *instructions.RunCommand:
			c.run1(x, line, comments, finalOfMany)
		case *instructions.AddCommand:
			c.add(x, line, comments)
		case *instructions.EnvCommand:
			for _, kv := range x.Env {
				c.secretVar("ENV", kv.Key, kv.Value, line, comments)
			}
		case *instructions.ArgCommand:
			for _, kv := range x.Args {
				if kv.Value != nil {
					c.secretVar("ARG", kv.Key, *kv.Value, line, comments)
				}
			}
		case *instructions.WorkdirCommand:
			if relativePath(x.Path) {
				c.report(RuleRelativeWorkdir, line, comments, "WORKDIR %q is relative; use an absolute path", x.Path)
			}
		case *instructions.CmdCommand:
			cmds, cmdComments = append(cmds, line), append(cmdComments, comments)
		case *instructions.EntrypointCommand:
			entrypoints, epComments = append(entrypoints, line), append(epComments, comments)
		}
	}
	for i := 0; i+1 < len(cmds); i++ {
		c.report(RuleMultipleCmd, cmds[i], cmdComments[i], "CMD is overridden by the CMD on line %d", cmds[len(cmds)-1])
	}
	for i := 0; i+1 < len(entrypoints); i++ {
		c.report(RuleMultipleCmd, entrypoints[i], epComments[i], "ENTRYPOINT is overridden by the ENTRYPOINT on line %d", entrypoints[len(entrypoints)-1])
	}
	if finalOfMany {
		if img, ok := c.expand(s.BaseName); ok {
			if tool := buildImage(img); tool != "" {
				c.report(RuleBuildTools, stageLine(s), s.Comments, "final stage is based on the %s build image; copy artifacts into a minimal image instead", tool)
			}
		}
	}
}

func relativePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "$") || strings.HasPrefix(p, `\`) {
		return false
	}
	// Windows drive paths (C:\app, C:/app).
	if len(p) >= 2 && p[1] == ':' {
		return false
	}
	return true
}

// final checks the user and healthcheck of the image the build produces,
// following FROM <earlier stage> chains.
func (c *checker) final(stages []instructions.Stage, names map[string]int) {
	last := &stages[len(stages)-1]
	var user *instructions.UserCommand
	health := false
	for s, hops := last, 0; s != nil && hops < len(stages); hops++ {
		for i := len(s.Commands) - 1; i >= 0; i-- {
			switch x := s.Commands[i].(type) {
			case *instructions.UserCommand:
				if user == nil {
					user = x
				}
			case *instructions.HealthCheckCommand:
				health = true
			}
		}
		img, _ := c.expand(s.BaseName)
		idx, ok := names[strings.ToLower(img)]
		if !ok || &stages[idx] == s {
			break
		}
		s = &stages[idx]
	}
	switch {
	case user == nil:
		img, _ := c.expand(last.BaseName)
		if !strings.Contains(strings.ToLower(img), "nonroot") {
			c.report(RuleRootUser, stageLine(last), last.Comments, "final stage sets no USER, so the container runs as root")
		}
	case isRoot(user.User):
		c.report(RuleRootUser, startLine(user), user.Comments(), "final USER is %q; the container runs as root", user.User)
	}
	if !health {
		c.report(RuleNoHealthcheck, stageLine(last), last.Comments, "final stage has no HEALTHCHECK")
	}
}

func isRoot(u string) bool {
	name, _, _ := strings.Cut(strings.TrimSpace(u), ":")
	return name == "root" || name == "0"
}

var archiveExt = []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".tar.lz4"}

func isRemote(src string) bool {
	l := strings.ToLower(src)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://") ||
		strings.HasPrefix(l, "git://") || strings.HasPrefix(l, "git@") || strings.HasPrefix(l, "ssh://")
}

func (c *checker) add(a *instructions.AddCommand, line int, comments []string) {
	local := len(a.SourceContents) > 0
	for _, src := range a.SourcePaths {
		if isRemote(src) {
			if a.Checksum == "" {
				c.report(RuleAddRemote, line, comments, "ADD downloads %s without a checksum", redact.URL(src))
			}
			continue
		}
		archive := false
		for _, ext := range archiveExt {
			if strings.HasSuffix(strings.ToLower(src), ext) {
				archive = true
			}
		}
		if !archive {
			local = true
		}
	}
	if local {
		c.report(RuleAddForCopy, line, comments, "ADD of local files that are not archives; use COPY")
	}
}

var secretName = lazyregexp.New(`(?i)(passw(or)?d|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth[_-]?key)`)
var notSecretName = lazyregexp.New(`(?i)(_file|_path|_dir|_url|_uri|_host|_user(name)?|_name|_length|_len|_ttl|_type|_id)$`)

func (c *checker) secretVar(kind, key, value string, line int, comments []string) {
	if !secretName().MatchString(key) || notSecretName().MatchString(key) {
		return
	}
	v := strings.TrimSpace(value)
	if v == "" || varRef().ReplaceAllString(v, "") == "" {
		return
	}
	c.report(RuleSecretEnv, line, comments, "%s %s has a literal value that will be stored in the image", kind, key)
}
