// Command hello links debug/buildinfo, so its binary holds the build info
// magic as a string constant before the real header.
package main

import (
	"debug/buildinfo"
	"fmt"
	"os"

	"example.com/dep"
)

func main() {
	bi, err := buildinfo.ReadFile(os.Args[0])
	fmt.Println(dep.Greeting, bi, err)
}
