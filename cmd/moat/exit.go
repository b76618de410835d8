package main

import "errors"

// exitError asks main to exit with this status without printing an error,
// e.g. `moat scan --fail-on high` exits 1 when findings remain.
type exitError int

func (e exitError) Error() string { return "exit status" }

func asExit(err error, target *exitError) bool { return errors.As(err, target) }
