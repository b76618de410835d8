package bounded

import (
	"errors"
	"strings"
	"testing"
)

func TestReadAll(t *testing.T) {
	b, err := ReadAll(strings.NewReader("hello"), 5)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadAll at limit = %q, %v", b, err)
	}
	if _, err := ReadAll(strings.NewReader("hello!"), 5); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("ReadAll over limit: err = %v, want ErrTooLarge", err)
	}
}
