package match

import (
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"

	"github.com/moat-dev/moat/internal/scan/report"
	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

// rating is a severity with where it came from.
type rating struct {
	sev    report.Severity
	score  float64
	vector string
	// rank orders sources: a computed v3 score beats v4 (what most
	// policies are written against), which beats v2, which beats a word.
	rank int
}

func (r rating) better(o rating) bool {
	if r.rank != o.rank {
		return r.rank > o.rank
	}
	if r.score != o.score {
		return r.score > o.score
	}
	return r.sev > o.sev
}

// ScoreVector computes the CVSS base score of a vector (v2, v3.0, v3.1
// or v4.0). ok is false for anything the library rejects.
func ScoreVector(vector string) (score float64, rank int, ok bool) {
	v := strings.TrimSpace(vector)
	switch {
	case strings.HasPrefix(v, "CVSS:3.1/"):
		c, err := gocvss31.ParseVector(v)
		if err != nil {
			return 0, 0, false
		}
		return c.BaseScore(), 4, true
	case strings.HasPrefix(v, "CVSS:3.0/"):
		c, err := gocvss30.ParseVector(v)
		if err != nil {
			return 0, 0, false
		}
		return c.BaseScore(), 4, true
	case strings.HasPrefix(v, "CVSS:4.0/"):
		c, err := gocvss40.ParseVector(v)
		if err != nil {
			return 0, 0, false
		}
		return c.Score(), 3, true
	case strings.HasPrefix(v, "AV:"):
		c, err := gocvss20.ParseVector(v)
		if err != nil {
			return 0, 0, false
		}
		return c.BaseScore(), 2, true
	}
	return 0, 0, false
}

// SeverityOf maps a CVSS score to its qualitative rating.
func SeverityOf(score float64) report.Severity {
	switch {
	case score >= 9:
		return report.Critical
	case score >= 7:
		return report.High
	case score >= 4:
		return report.Medium
	case score > 0:
		return report.Low
	}
	return report.Unknown
}

func ratingFromVector(vec string) (rating, bool) {
	s, rank, ok := ScoreVector(vec)
	if !ok {
		return rating{}, false
	}
	return rating{sev: SeverityOf(s), score: s, vector: strings.TrimSpace(vec), rank: rank}, true
}

func ratingFromWord(w string) (rating, bool) {
	s, err := report.ParseSeverity(w)
	if err != nil || s == report.Unknown {
		return rating{}, false
	}
	return rating{sev: s, rank: 1}, true
}

// rate finds the best rating of an advisory for one affected entry.
func rate(a *osv.Advisory, af *osv.Affected) rating {
	var best rating
	consider := func(r rating, ok bool) {
		if ok && (best.rank == 0 || r.better(best)) {
			best = r
		}
	}
	for _, s := range a.Severity {
		consider(ratingFromVector(s.Score))
	}
	if af != nil {
		for _, s := range af.Severity {
			consider(ratingFromVector(s.Score))
		}
		if af.Rating != "" {
			if r, ok := ratingFromVector(af.Rating); ok {
				consider(r, ok)
			} else {
				consider(ratingFromWord(af.Rating))
			}
		}
	}
	consider(ratingFromWord(a.DatabaseSeverity))
	return best
}
