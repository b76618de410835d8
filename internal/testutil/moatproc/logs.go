package moatproc

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// readFrom returns a file's contents from byte offset on.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return string(b)
}

// findTrouble returns the part of a log from the first data race report or
// panic on (at most 120 lines), or "" when there is none.
func findTrouble(log string) string {
	at := -1
	for _, marker := range []string{"WARNING: DATA RACE", "panic:"} {
		if i := strings.Index(log, marker); i >= 0 && (at < 0 || i < at) {
			at = i
		}
	}
	if at < 0 {
		return ""
	}
	lines := strings.SplitN(log[at:], "\n", 121)
	return strings.Join(lines[:min(len(lines), 120)], "\n")
}

// TailFile returns the last n lines of a file, for showing a log.
func TailFile(path string, n int) string { return tail(readFrom(path, 0), n) }

// tail returns the last n lines of text.
func tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Clip keeps long output readable in a test log: its start and its end.
func Clip(s string) string {
	const limit = 4000
	if len(s) <= limit {
		return s
	}
	return s[:limit/2] + "\n...\n" + s[len(s)-limit/2:]
}
