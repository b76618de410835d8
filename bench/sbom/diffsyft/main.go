// Command diffsyft compares a syft JSON SBOM with a moat JSON inventory of
// the same image and prints, per ecosystem, the packages one found and
// the other did not. Packages are compared by purl type, namespace, name
// and version (qualifiers ignored), normalised the way each ecosystem
// compares names.
//
//	diffsyft syft.json moat.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/package-url/packageurl-go"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: diffsyft SYFT.json MOAT.json")
		os.Exit(2)
	}
	syft, err := readSyft(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "diffsyft:", err)
		os.Exit(2)
	}
	moat, err := readMoat(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "diffsyft:", err)
		os.Exit(2)
	}
	ecos := map[string]bool{}
	for k := range syft {
		ecos[eco(k)] = true
	}
	for k := range moat {
		ecos[eco(k)] = true
	}
	var names []string
	for e := range ecos {
		names = append(names, e)
	}
	sort.Strings(names)
	fmt.Printf("%-10s %6s %6s %6s %10s %10s\n", "ecosystem", "syft", "moat", "both", "syft-only", "moat-only")
	var detail []string
	for _, e := range names {
		var s, m, both int
		for k := range syft {
			if eco(k) != e {
				continue
			}
			s++
			if moat[k] != "" {
				both++
			} else {
				detail = append(detail, fmt.Sprintf("  syft only  %-8s %s  (%s)", e, rest(k), syft[k]))
			}
		}
		for k := range moat {
			if eco(k) != e {
				continue
			}
			m++
			if syft[k] == "" {
				detail = append(detail, fmt.Sprintf("  moat only  %-8s %s  (%s)", e, rest(k), moat[k]))
			}
		}
		fmt.Printf("%-10s %6d %6d %6d %10d %10d\n", e, s, m, both, s-both, m-both)
	}
	sort.Strings(detail)
	for _, d := range detail {
		fmt.Println(d)
	}
}

func eco(k string) string  { e, _, _ := strings.Cut(k, " "); return e }
func rest(k string) string { _, r, _ := strings.Cut(k, " "); return r }

// key normalises a purl to "type namespace/name@version".
func key(purl string) (string, bool) {
	u, err := packageurl.FromString(purl)
	if err != nil {
		return "", false
	}
	name, ns, ver := u.Name, u.Namespace, u.Version
	switch u.Type {
	case "pypi":
		name = strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
	case "golang":
		ver = strings.TrimPrefix(ver, "go")
		ver = strings.TrimPrefix(ver, "v")
		if ver == "(devel)" {
			ver = "" // a main module built from a checkout has no version
		}
	case "deb", "apk", "rpm":
		ns = "" // distribution names differ in spelling only
	}
	if ns != "" {
		name = ns + "/" + name
	}
	return u.Type + " " + name + "@" + ver, true
}

func readSyft(p string) (map[string]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Artifacts []struct {
			PURL      string `json:"purl"`
			Locations []struct {
				Path string `json:"path"`
			} `json:"locations"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, a := range doc.Artifacts {
		k, ok := key(a.PURL)
		if !ok {
			continue
		}
		where := ""
		if len(a.Locations) > 0 {
			where = a.Locations[0].Path
		}
		out[k] = where
	}
	return out, nil
}

func readMoat(p string) (map[string]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var inv catalog.Inventory
	if err := json.Unmarshal(b, &inv); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, pk := range inv.Packages {
		k, ok := key(pk.PURL)
		if !ok {
			continue
		}
		where := ""
		if len(pk.Paths) > 0 {
			where = pk.Paths[0]
		}
		out[k] = where
	}
	return out, nil
}
