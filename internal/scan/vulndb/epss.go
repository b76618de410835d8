package vulndb

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// EPSS is the exploit prediction score of one CVE.
type EPSS struct {
	Score      float32 `json:"score"`
	Percentile float32 `json:"percentile"`
}

// epssTable is sorted by CVE for binary search and compact gob storage.
type epssTable struct {
	CVEs        []string
	Scores      []float32
	Percentiles []float32
}

func (t *epssTable) lookup(cve string) (EPSS, bool) {
	i := sort.SearchStrings(t.CVEs, cve)
	if i < len(t.CVEs) && t.CVEs[i] == cve {
		return EPSS{Score: t.Scores[i], Percentile: t.Percentiles[i]}, true
	}
	return EPSS{}, false
}

// ParseEPSS reads EPSS scores into dst. It accepts both the per-year files
// (`CVE;epss;percentile`, no header) and FIRST's daily CSV (comma
// separated, a `#model_version` comment and a `cve,epss,percentile`
// header). Malformed rows are counted in the returned warning count.
func ParseEPSS(r io.Reader, dst map[string]EPSS) (warnings int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		sep := ";"
		if !strings.Contains(line, ";") {
			sep = ","
		}
		f := strings.Split(line, sep)
		if len(f) < 3 {
			warnings++
			continue
		}
		cve := strings.TrimSpace(f[0])
		if strings.EqualFold(cve, "cve") {
			continue // header
		}
		s, err1 := strconv.ParseFloat(strings.TrimSpace(f[1]), 32)
		p, err2 := strconv.ParseFloat(strings.TrimSpace(f[2]), 32)
		if !strings.HasPrefix(cve, "CVE-") || err1 != nil || err2 != nil {
			warnings++
			continue
		}
		dst[cve] = EPSS{Score: float32(s), Percentile: float32(p)}
	}
	if err := sc.Err(); err != nil {
		return warnings, fmt.Errorf("%w: EPSS: %w", ErrFormat, err)
	}
	return warnings, nil
}

func newEPSSTable(m map[string]EPSS) *epssTable {
	t := &epssTable{CVEs: make([]string, 0, len(m))}
	for k := range m {
		t.CVEs = append(t.CVEs, k)
	}
	sort.Strings(t.CVEs)
	t.Scores = make([]float32, len(t.CVEs))
	t.Percentiles = make([]float32, len(t.CVEs))
	for i, k := range t.CVEs {
		t.Scores[i], t.Percentiles[i] = m[k].Score, m[k].Percentile
	}
	return t
}
