package secrets

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"sort"
	"strings"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moat-dev/moat/internal/scan/report"
)

// Defaults of the scanning limits.
const (
	DefaultMaxFileSize   = 10 << 20
	DefaultMaxLineLength = 64 << 10
	// binaryProbe is how much of a file is checked for NUL bytes.
	binaryProbe = 8 << 10
	// maxMatchesPerLine bounds regex work on hostile lines.
	maxMatchesPerLine = 16

	// engineVersion changes when scanning semantics change; it is part of
	// Version together with a checksum of the rule data.
	engineVersion = 1
)

// ErrSkipped is matched (errors.Is) by every *SkipError.
var ErrSkipped = errors.New("not scanned")

// Reasons a file is skipped, wrapped in a *SkipError.
var (
	ErrBinary      = errors.New("binary file")
	ErrTooLarge    = errors.New("file exceeds the size limit")
	ErrSkippedPath = errors.New("path matches a skip rule")
)

// SkipError says why a file was not (fully) scanned.
type SkipError struct {
	Path   string
	Reason error
}

func (e *SkipError) Error() string { return fmt.Sprintf("%s: not scanned: %v", e.Path, e.Reason) }

// Unwrap returns the reason.
func (e *SkipError) Unwrap() error { return e.Reason }

// Is makes errors.Is(err, ErrSkipped) hold for every SkipError.
func (e *SkipError) Is(target error) bool { return target == ErrSkipped }

// Finding is one secret found. It never holds the secret: Match is
// redacted when the finding is made.
type Finding struct {
	RuleID   string          `json:"ruleID"`
	Category string          `json:"category"`
	Title    string          `json:"title"`
	Severity report.Severity `json:"severity"`
	// Path is the file's absolute path in the image, or for image
	// configuration "image-config:Env", "image-config:Labels",
	// "image-config:Cmd", "image-config:Entrypoint" or "image-history".
	Path string `json:"path"`
	// Line is 1-based; for image configuration it is the entry's index+1.
	Line int `json:"line"`
	// Layer is the digest of the layer holding the file; the caller sets it.
	Layer string `json:"layer,omitempty"`
	// Match is the secret's first characters followed by asterisks.
	Match string `json:"match"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d %s (%s) %s", f.Path, f.Line, f.RuleID, f.Severity, f.Match)
}

// Redact keeps at most four leading characters of a secret (fewer for
// short ones) and hides the rest behind a fixed run of asterisks, so not
// even the length is revealed.
func Redact(secret []byte) string {
	keep := 0
	switch n := len(secret); {
	case n >= 16:
		keep = 4
	case n >= 8:
		keep = 2
	}
	return string(secret[:keep]) + "********"
}

// Scanner finds secrets. It is immutable and safe for concurrent use.
type Scanner struct {
	rs          *ruleSet
	maxFileSize int64
	maxLine     int
	userRules   []byte
	// readers recycles the line buffers (maxLine bytes each) across files.
	readers sync.Pool
}

// Option configures a Scanner.
type Option func(*Scanner) error

// WithRules adds a user rules file (the RuleFile schema) after the
// built-in rules: it may add rules, replace built-in ones by id, disable
// them and add skip globs and allow-rules. Default: built-in rules only.
func WithRules(r io.Reader) Option {
	return func(s *Scanner) error {
		b, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
		if err != nil {
			return fmt.Errorf("%w: read: %w", ErrBadRules, err)
		}
		if len(b) > 1<<20 {
			return fmt.Errorf("%w: rules file larger than 1 MiB", ErrBadRules)
		}
		s.userRules = b
		return nil
	}
}

// WithMaxFileSize sets the largest file scanned. Default DefaultMaxFileSize.
func WithMaxFileSize(n int64) Option {
	return func(s *Scanner) error {
		if n <= 0 {
			return fmt.Errorf("max file size %d: must be positive", n)
		}
		s.maxFileSize = n
		return nil
	}
}

// WithMaxLineLength sets the longest line scanned as one piece; longer
// lines are scanned in pieces of this size. Default DefaultMaxLineLength.
func WithMaxLineLength(n int) Option {
	return func(s *Scanner) error {
		if n < 256 {
			return fmt.Errorf("max line length %d: must be at least 256", n)
		}
		s.maxLine = n
		return nil
	}
}

// New compiles the built-in rules and any user rules.
func New(opts ...Option) (*Scanner, error) {
	s := &Scanner{maxFileSize: DefaultMaxFileSize, maxLine: DefaultMaxLineLength}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	builtin, err := builtinRuleFile()
	if err != nil {
		return nil, fmt.Errorf("built-in rules: %w", err)
	}
	files := []*RuleFile{builtin}
	if s.userRules != nil {
		user, err := parseRuleFile(bytes.NewReader(s.userRules))
		if err != nil {
			return nil, err
		}
		files = append(files, user)
	}
	if s.rs, err = compileRules(files...); err != nil {
		return nil, err
	}
	h := crc32.NewIEEE()
	fmt.Fprintf(h, "%d|%d|%d|", engineVersion, s.maxFileSize, s.maxLine)
	h.Write(builtinRules)
	h.Write(s.userRules)
	s.rs.version = h.Sum32()
	return s, nil
}

// Version identifies the engine, limits and rule data; cached results made
// under another Version are stale.
func (s *Scanner) Version() int { return int(s.rs.version & 0x7fffffff) }

// Skips reports whether a file is skipped from its path, mode and size
// alone: too large, matching a skip glob, or an executable larger than
// maxExecutableSize or under a skipExecutables glob. It is cheap enough for every entry of a layer.
func (s *Scanner) Skips(path string, mode fs.FileMode, size int64) bool {
	return size > s.maxFileSize ||
		(mode&0o111 != 0 && ((s.rs.maxExec > 0 && size > s.rs.maxExec) || s.rs.skipExec.match(path))) ||
		s.rs.skip.match(path)
}

// Scan reads one file and returns its findings in line order. A skipped
// file yields a *SkipError (ErrSkippedPath, ErrBinary; ErrTooLarge comes
// with the findings of the part read).
func (s *Scanner) Scan(ctx context.Context, path string, r io.Reader) ([]Finding, error) {
	if s.rs.skip.match(path) {
		return nil, &SkipError{Path: path, Reason: ErrSkippedPath}
	}
	br, _ := s.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(nil, s.maxLine)
	}
	br.Reset(io.LimitReader(r, s.maxFileSize+1))
	defer func() {
		br.Reset(nil)
		s.readers.Put(br)
	}()
	head, err := br.Peek(binaryProbe)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return nil, &SkipError{Path: path, Reason: ErrBinary}
	}
	st := s.newFile(path, false)
	var read int64
	line := 1
	for {
		chunk, err := br.ReadSlice('\n')
		read += int64(len(chunk))
		if read > s.maxFileSize {
			return st.finish(), &SkipError{Path: path, Reason: ErrTooLarge}
		}
		if len(chunk) > 0 {
			st.line(line, chunk)
			if chunk[len(chunk)-1] == '\n' {
				line++
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
			if line%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
		case errors.Is(err, io.EOF):
			return st.finish(), nil
		default:
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
}

// Image-configuration pseudo-paths of findings.
const (
	PathEnv        = "image-config:Env"
	PathLabels     = "image-config:Labels"
	PathCmd        = "image-config:Cmd"
	PathEntrypoint = "image-config:Entrypoint"
	PathHistory    = "image-history"
)

// ScanConfig looks for secrets in an image's configuration: environment,
// labels, command and entrypoint, and every history entry's created_by.
func (s *Scanner) ScanConfig(img *ocispec.Image) []Finding {
	if img == nil {
		return nil
	}
	var out []Finding
	scan := func(path string, entries []string) {
		st := s.newFile(path, true)
		for i, e := range entries {
			st.line(i+1, []byte(strings.ReplaceAll(e, "\n", " ")))
		}
		out = append(out, st.finish()...)
	}
	scan(PathEnv, img.Config.Env)
	labels := make([]string, 0, len(img.Config.Labels))
	for k, v := range img.Config.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	scan(PathLabels, labels)
	if len(img.Config.Cmd) > 0 {
		scan(PathCmd, []string{strings.Join(img.Config.Cmd, " ")})
	}
	if len(img.Config.Entrypoint) > 0 {
		scan(PathEntrypoint, []string{strings.Join(img.Config.Entrypoint, " ")})
	}
	hist := make([]string, len(img.History))
	for i, h := range img.History {
		hist[i] = h.CreatedBy
	}
	scan(PathHistory, hist)
	return out
}

// candidate is a match awaiting its checks; it holds the redacted value
// only.
type candidate struct {
	rule, line, start, end int
	match                  string
}

// fileState is the scan of one file.
type fileState struct {
	s        *Scanner
	path     string
	eligible []bool
	stamp    []int
	gen      int
	hits     []int
	win      [][][2]int // per rule: keyword windows of a long line
	seenReq  map[string]bool
	pending  []candidate // awaiting the next line
	deferred []candidate // awaiting Requires at EOF
	cands    []candidate
}

func (s *Scanner) newFile(path string, config bool) *fileState {
	rs := s.rs
	n := len(rs.rules) + len(rs.requireKW)
	st := &fileState{s: s, path: path, eligible: make([]bool, len(rs.rules)), stamp: make([]int, n), win: make([][][2]int, n)}
	globalAllow := rs.allowPaths.match(path)
	for i, r := range rs.rules {
		switch {
		case globalAllow:
		case r.paths != nil && (config || !r.paths.match(path)):
		case r.allowPaths.match(path):
		default:
			st.eligible[i] = true
		}
	}
	return st
}

func (st *fileState) line(n int, b []byte) {
	rs := st.s.rs
	b = bytes.TrimRight(b, "\r\n")
	if len(st.pending) > 0 {
		for _, c := range st.pending {
			if rs.rules[c.rule].next.Match(b) {
				st.accept(c)
			}
		}
		st.pending = st.pending[:0]
	}
	st.gen++
	st.hits = st.hits[:0]
	nr := len(rs.rules)
	rs.kw.scan(b, func(i, start, end int) {
		if st.stamp[i] != st.gen {
			st.stamp[i] = st.gen
			st.hits = append(st.hits, i)
			st.win[i] = st.win[i][:0]
		}
		if i >= nr {
			return
		}
		r := rs.rules[i]
		if r.AnchorAtKeyword {
			st.win[i] = append(st.win[i], [2]int{start, min(end+r.Window.After, len(b))})
			return
		}
		lo, hi := max(end-r.Window.Before, 0), min(end+r.Window.After, len(b))
		w := st.win[i]
		if k := len(w) - 1; k >= 0 && lo <= w[k][1] {
			w[k][1] = hi
		} else {
			st.win[i] = append(w, [2]int{lo, hi})
		}
	})
	for _, i := range st.hits {
		if i >= len(rs.rules) {
			if st.seenReq == nil {
				st.seenReq = map[string]bool{}
			}
			st.seenReq[rs.requireKW[i-len(rs.rules)]] = true
			continue
		}
		if rs.rules[i].anchored {
			st.match(i, n, b, 0)
			continue
		}
		for _, w := range st.win[i] {
			st.match(i, n, b[w[0]:w[1]], w[0])
		}
	}
	for _, i := range rs.always {
		st.match(i, n, b, 0)
	}
}

// match runs rule i over b, which starts at offset off of line n.
func (st *fileState) match(i, n int, b []byte, off int) {
	if !st.eligible[i] {
		return
	}
	rs := st.s.rs
	r := rs.rules[i]
	for _, loc := range r.re.FindAllSubmatchIndex(b, maxMatchesPerLine) {
		start, end := loc[0], loc[1]
		for g := 2; g+1 < len(loc); g += 2 {
			if loc[g] >= 0 && loc[g+1] > loc[g] {
				start, end = loc[g], loc[g+1]
				break
			}
		}
		secret := b[start:end]
		if (r.allowValues != nil && r.allowValues.Match(secret)) || (rs.allowValues != nil && rs.allowValues.Match(secret)) {
			continue
		}
		if r.Entropy > 0 && entropy(secret) < r.Entropy {
			continue
		}
		c := candidate{rule: i, line: n, start: off + start, end: off + end, match: Redact(secret)}
		if r.next != nil {
			st.pending = append(st.pending, c)
			continue
		}
		st.accept(c)
	}
}

func (st *fileState) accept(c candidate) {
	if len(st.s.rs.rules[c.rule].requires) > 0 {
		st.deferred = append(st.deferred, c)
		return
	}
	st.cands = append(st.cands, c)
}

// finish resolves deferred matches and overlaps: where two matches on a
// line overlap, the earlier rule (the more specific) wins.
func (st *fileState) finish() []Finding {
	rs := st.s.rs
	for _, c := range st.deferred {
		ok := true
		for _, k := range rs.rules[c.rule].requires {
			ok = ok && st.seenReq[k]
		}
		if ok {
			st.cands = append(st.cands, c)
		}
	}
	sort.SliceStable(st.cands, func(i, j int) bool {
		a, b := st.cands[i], st.cands[j]
		if a.line != b.line {
			return a.line < b.line
		}
		return a.rule < b.rule
	})
	var kept []candidate
	for _, c := range st.cands {
		overlap := false
		for k := len(kept) - 1; k >= 0 && kept[k].line == c.line; k-- {
			if c.start < kept[k].end && kept[k].start < c.end {
				overlap = true
				break
			}
		}
		if !overlap {
			kept = append(kept, c)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool {
		if kept[i].line != kept[j].line {
			return kept[i].line < kept[j].line
		}
		return kept[i].start < kept[j].start
	})
	out := make([]Finding, 0, len(kept))
	for _, c := range kept {
		r := rs.rules[c.rule]
		out = append(out, Finding{RuleID: r.ID, Category: r.Category, Title: r.Title, Severity: r.Severity, Path: st.path, Line: c.line, Match: c.match})
	}
	return out
}

// RuleIDs lists the ids of the compiled rules in precedence order.
func (s *Scanner) RuleIDs() []string {
	ids := make([]string, len(s.rs.rules))
	for i, r := range s.rs.rules {
		ids[i] = r.ID
	}
	return ids
}
