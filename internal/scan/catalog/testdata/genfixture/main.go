// Command genfixture assembles the scanner's fixture image from
// testdata/fixture-src (one directory per layer) into an OCI layout, for
// trying `moat sbom` on it by hand; the tests build it themselves.
//
//	go run ./internal/scan/catalog/testdata/genfixture DIR
package main

import (
	"fmt"
	"os"

	"github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: genfixture OUTPUT-DIR")
		os.Exit(2)
	}
	layers, err := catalogtest.FixtureLayers("internal/scan/catalog/testdata/fixture-src")
	if err == nil {
		_, err = catalogtest.WriteLayout(os.Args[1], "fixture", layers)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genfixture:", err)
		os.Exit(1)
	}
}
