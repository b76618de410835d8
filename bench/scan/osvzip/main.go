// Command osvzip packs a tree of OSV JSON records into the layout
// osv-scanner reads offline: DST/osv-scalibr/<Ecosystem>/all.zip, one zip
// per base ecosystem ("Debian:12" records go to Debian/all.zip). A record
// affecting several ecosystems goes into each of their zips.
//
//	go run ./bench/scan/osvzip [-strip-private] SRC DST
//
// -strip-private drops top-level keys outside the OSV schema that start
// with "_" (the GitHub subset carries "_source"): osv-scanner's strict
// protobuf decoding silently skips records that have them.
package main

import (
	"archive/zip"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	strip := flag.Bool("strip-private", false, `drop top-level keys starting with "_"`)
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: osvzip [-strip-private] SRC DST")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *strip); err != nil {
		fmt.Fprintln(os.Stderr, "osvzip:", err)
		os.Exit(1)
	}
}

func run(src, dst string, strip bool) error {
	byEco := map[string]map[string][]byte{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var rec struct {
			ID       string `json:"id"`
			Affected []struct {
				Package struct {
					Ecosystem string `json:"ecosystem"`
				} `json:"package"`
			} `json:"affected"`
		}
		if json.Unmarshal(b, &rec) != nil || rec.ID == "" {
			return nil // not an OSV record
		}
		if strip {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				return err
			}
			for k := range m {
				if strings.HasPrefix(k, "_") {
					delete(m, k)
				}
			}
			if b, err = json.Marshal(m); err != nil {
				return err
			}
		}
		for _, a := range rec.Affected {
			eco, _, _ := strings.Cut(a.Package.Ecosystem, ":")
			if eco == "" {
				continue
			}
			if byEco[eco] == nil {
				byEco[eco] = map[string][]byte{}
			}
			byEco[eco][rec.ID+".json"] = b
		}
		return nil
	})
	if err != nil {
		return err
	}
	ecos := make([]string, 0, len(byEco))
	for e := range byEco {
		ecos = append(ecos, e)
	}
	sort.Strings(ecos)
	for _, eco := range ecos {
		dir := filepath.Join(dst, "osv-scalibr", eco)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(dir, "all.zip"))
		if err != nil {
			return err
		}
		zw := zip.NewWriter(f)
		names := make([]string, 0, len(byEco[eco]))
		for n := range byEco[eco] {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			w, err := zw.Create(n)
			if err != nil {
				return err
			}
			if _, err := w.Write(byEco[eco][n]); err != nil {
				return err
			}
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Printf("%-10s %6d records\n", eco, len(names))
	}
	return nil
}
