package lifecycle

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// maxDays is the largest day count a time.Duration can hold; a longer
// period reaches back before any image was pushed.
const maxDays = math.MaxInt64 / int64(day)

// Evaluate decides, for each image of one repository, whether the policy
// expires it at time now. It returns one verdict per image, in the order
// of images. Ties in push time are broken by digest (the larger digest
// counts as newer), so the outcome does not depend on the input order.
//
// An invalid policy expires nothing: every verdict says kept and why.
// Images with a zero PushedAt are never expired, since their age is
// unknown.
func (p *Policy) Evaluate(images []Image, now time.Time) []Verdict {
	out := make([]Verdict, len(images))
	for i, img := range images {
		out[i] = Verdict{Digest: img.Digest, Tags: slices.Clone(img.Tags)}
	}
	if err := p.Validate(); err != nil {
		for i := range out {
			out[i].Reason = "kept: " + err.Error()
		}
		return out
	}
	e := newEvaluation(p, images, now)
	owner, identified := e.identify()
	rank := e.ranks(owner, identified)
	for i := range images {
		e.decide(&out[i], i, owner[i], rank[i])
	}
	return out
}

type evaluation struct {
	images    []Image
	now       time.Time
	rules     []Rule     // in evaluation order: lowest rulePriority first
	selectors []selector // per rule
	labels    []string   // per rule: "rule 2 (keep 5 newest tagged prod*)"
	protect   Protect
}

func newEvaluation(p *Policy, images []Image, now time.Time) *evaluation {
	e := &evaluation{images: images, now: now, rules: sortedRules(p.Rules)}
	for _, r := range e.rules {
		e.selectors = append(e.selectors, newSelector(r.Selection))
		e.labels = append(e.labels, fmt.Sprintf("rule %d (%s)", r.RulePriority, describe(r.Selection)))
	}
	if p.Protect != nil {
		e.protect = *p.Protect
	}
	return e
}

// identify matches every rule against every image. It returns, per
// image, the index in e.rules of the first rule that identifies it, or -1
// (that rule alone decides the image), and, per rule, which images it
// identifies.
func (e *evaluation) identify() (owner []int, identified [][]bool) {
	owner = make([]int, len(e.images))
	identified = make([][]bool, len(e.rules))
	for r := range identified {
		identified[r] = make([]bool, len(e.images))
	}
	for i := range e.images {
		owner[i] = -1
		for r := range e.selectors {
			if e.selectors[r].identifies(e.images[i].Tags) {
				identified[r][i] = true
				if owner[i] < 0 {
					owner[i] = r
				}
			}
		}
	}
	return owner, identified
}

// ranks returns, per image owned by an imageCountMoreThan rule, its
// position (1 = newest) among all images that rule identifies, including
// images that higher-priority rules own: ECR counts those too. Other
// images get 0.
func (e *evaluation) ranks(owner []int, identified [][]bool) []int {
	rank := make([]int, len(e.images))
	var order []int // image indexes, newest first; built on first need
	for r, rule := range e.rules {
		if rule.Selection.CountType != CountImageCountMoreThan {
			continue
		}
		if order == nil {
			order = e.newestFirst()
		}
		k := 0
		for _, i := range order {
			if identified[r][i] {
				k++
				if owner[i] == r {
					rank[i] = k
				}
			}
		}
	}
	return rank
}

// newestFirst returns the image indexes, newest push first. It sorts
// small pointer-free keys rather than the images, which are large and
// would be compared through random memory accesses; digests are read only
// to break ties.
func (e *evaluation) newestFirst() []int {
	type key struct {
		sec   int64
		nsec  int32
		index int32 // images are bounded by memory long before 2^31
	}
	keys := make([]key, len(e.images))
	for i := range e.images {
		at := e.images[i].PushedAt
		keys[i] = key{at.Unix(), int32(at.Nanosecond()), int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.sec != b.sec {
			return cmp.Compare(b.sec, a.sec)
		}
		if a.nsec != b.nsec {
			return cmp.Compare(b.nsec, a.nsec)
		}
		if c := strings.Compare(e.images[b.index].Digest, e.images[a.index].Digest); c != 0 {
			return c
		}
		return cmp.Compare(a.index, b.index) // duplicate digests: input order
	})
	order := make([]int, len(keys))
	for k, key := range keys {
		order[k] = int(key.index)
	}
	return order
}

// decide fills in the verdict for image i, owned by rule r (-1: none).
func (e *evaluation) decide(v *Verdict, i, r, rank int) {
	if r < 0 {
		v.Reason = "kept: no rule selects it"
		return
	}
	rule, img := e.rules[r], &e.images[i]
	v.RulePriority = rule.RulePriority
	expire, detail := e.criterion(rule.Selection, img, rank)
	if !expire {
		v.Reason = "kept: " + e.labels[r] + ": " + detail
		return
	}
	if why := e.protections(img); len(why) > 0 {
		v.Reason = fmt.Sprintf("kept: %s (rule %d would expire it)", strings.Join(why, ", "), rule.RulePriority)
		return
	}
	v.Expire = true
	v.Reason = e.labels[r] + ": " + detail
}

// criterion applies a rule's count to an image the rule owns.
func (e *evaluation) criterion(s Selection, img *Image, rank int) (expire bool, detail string) {
	switch s.CountType {
	case CountImageCountMoreThan:
		return rank > s.CountNumber, ordinal(rank) + " newest"
	case CountSinceImagePushed:
		return e.olderThan(img.PushedAt, s.CountNumber), "pushed " + e.ago(img.PushedAt)
	default: // CountSinceImagePulled
		// ECR: "If an image was never pulled, the image's pushed_at_time
		// is used". Taking the later of the two also covers a pull time
		// older than the push, which consistent metadata never has.
		if img.PulledAt.IsZero() {
			return e.olderThan(img.PushedAt, s.CountNumber), "never pulled, pushed " + e.ago(img.PushedAt)
		}
		last := img.PulledAt
		if img.PushedAt.After(last) {
			last = img.PushedAt
		}
		return e.olderThan(last, s.CountNumber), "last pulled " + e.ago(img.PulledAt)
	}
}

// protections lists why an image must be kept whatever the rules say.
func (e *evaluation) protections(img *Image) []string {
	var why []string
	if img.PushedAt.IsZero() {
		why = append(why, "push time unknown")
	}
	if e.protect.Running && img.Running {
		why = append(why, "running")
	}
	if e.protect.Signed && img.Signed {
		why = append(why, "signed")
	}
	if n := e.protect.PulledWithinDays; n > 0 && !img.PulledAt.IsZero() && !e.olderThan(img.PulledAt, n) {
		why = append(why, fmt.Sprintf("pulled within %s", plural(n, "day")))
	}
	return why
}

// olderThan is ECR's "older than the specified number of days": strictly
// more than days*24h before now.
func (e *evaluation) olderThan(t time.Time, days int) bool {
	if int64(days) > maxDays {
		return false
	}
	return e.now.Sub(t) > time.Duration(days)*day
}

func (e *evaluation) ago(t time.Time) string {
	d := e.now.Sub(t)
	switch {
	case d < 0:
		return "after the evaluation time"
	case d < day:
		return "less than a day ago"
	}
	return plural(int(d/day), "day") + " ago"
}

// describe summarises a selection for verdict reasons.
func describe(s Selection) string {
	var which string
	switch {
	case s.TagStatus == TagStatusUntagged:
		which = "untagged"
	case len(s.TagPatternList) > 0:
		which = "tagged " + strings.Join(s.TagPatternList, " and ")
	case len(s.TagPrefixList) > 0:
		which = "tagged with prefix " + strings.Join(s.TagPrefixList, " and ")
	}
	if s.CountType == CountImageCountMoreThan {
		return strings.TrimSpace(fmt.Sprintf("keep %d newest %s", s.CountNumber, which))
	}
	if which == "" {
		which = "images"
	}
	if s.CountType == CountSinceImagePushed {
		return fmt.Sprintf("expire %s pushed more than %s ago", which, plural(s.CountNumber, "day"))
	}
	return fmt.Sprintf("expire %s not pulled for more than %s", which, plural(s.CountNumber, "day"))
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// ordinal spells 1 as "1st", 12 as "12th", 22 as "22nd".
func ordinal(n int) string {
	suffix := "th"
	switch n % 10 {
	case 1:
		suffix = "st"
	case 2:
		suffix = "nd"
	case 3:
		suffix = "rd"
	}
	if n%100 >= 11 && n%100 <= 13 {
		suffix = "th"
	}
	return strconv.Itoa(n) + suffix
}
