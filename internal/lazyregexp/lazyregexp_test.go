package lazyregexp_test

import (
	"testing"

	"github.com/moat-dev/moat/internal/lazyregexp"
)

func TestCompilesOnceOnFirstUse(t *testing.T) {
	re := lazyregexp.New(`^a+$`)
	if !re().MatchString("aaa") || re().MatchString("ab") {
		t.Fatal("pattern does not match as compiled")
	}
	if re() != re() {
		t.Error("compiled more than once")
	}
}

func TestInvalidPanicsOnFirstUse(t *testing.T) {
	re := lazyregexp.New(`(`) // must not panic here
	defer func() {
		if recover() == nil {
			t.Error("invalid pattern did not panic on use")
		}
	}()
	re()
}
