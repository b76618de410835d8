package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/moat-dev/moat/internal/wildcard"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// image builds an image named by a letter (its digest is derived from the
// name, so ties in push time break by name) pushed daysAgo days before now.
func image(name string, daysAgo float64, tags ...string) Image {
	return Image{
		Digest:   "sha256:" + strings.ToLower(name),
		Tags:     tags,
		PushedAt: now.Add(-time.Duration(daysAgo * float64(day))),
	}
}

func nameOf(digest string) string { return strings.ToUpper(strings.TrimPrefix(digest, "sha256:")) }

func mustParse(t testing.TB, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

// expired evaluates and returns the names of the expired images, checking
// that verdicts come back one per image, in input order.
func expired(t *testing.T, p *Policy, images []Image) []string {
	t.Helper()
	vs := p.Evaluate(images, now)
	if len(vs) != len(images) {
		t.Fatalf("%d verdicts for %d images", len(vs), len(images))
	}
	var out []string
	for i, v := range vs {
		if v.Digest != images[i].Digest {
			t.Fatalf("verdict %d is for %s, want %s", i, v.Digest, images[i].Digest)
		}
		if v.Reason == "" {
			t.Errorf("%s: empty reason", nameOf(v.Digest))
		}
		if v.Expire {
			out = append(out, nameOf(v.Digest))
		}
	}
	slices.Sort(out)
	return out
}

// The policies below are those of "Examples of lifecycle policies in Amazon
// ECR" (and the earlier edition's tagPrefixList forms of the same
// examples); the repositories are the ones the page describes, or, where it
// describes none, one chosen to exercise the rule's edges.
func TestECRExamples(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		images []Image
		want   []string // expired; every other image is kept
	}{
		{
			// Filtering on image age: tagPatternList prod*, older than 14 days.
			name: "image age, tagged prod*",
			policy: `{"rules": [{"rulePriority": 1, "description": "Expire images older than 14 days",
				"selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"],
					"countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
				"action": {"type": "expire"}}]}`,
			images: []Image{
				image("A", 20, "prod-1"),
				image("B", 10, "prod-2"),
				image("C", 15, "production-team1"),
				image("D", 30, "my-prod"), // prod* anchors at the start
				image("E", 30, "dev-1"),
				image("F", 30),
				image("G", 14, "prod"), // exactly 14 days is not older than 14 days
			},
			want: []string{"A", "C"},
		},
		{
			// The earlier edition's age example: untagged, older than 14 days.
			name: "image age, untagged",
			policy: `{"rules": [{"rulePriority": 1, "description": "Expire images older than 14 days",
				"selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14},
				"action": {"type": "expire"}}]}`,
			images: []Image{image("A", 30), image("B", 10), image("C", 30, "v1")},
			want:   []string{"A"},
		},
		{
			// Filtering on image count: keep only one untagged image.
			name: "image count, untagged",
			policy: `{"rules": [{"rulePriority": 1, "description": "Keep only one untagged image, expire all others",
				"selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1},
				"action": {"type": "expire"}}]}`,
			images: []Image{image("A", 3), image("B", 2), image("C", 1), image("D", 9, "v1")},
			want:   []string{"A", "B"},
		},
		{
			// Filtering on multiple rules, example A: rule 1 keeps image B
			// (prod-2), so rule 2 may not expire it.
			name:   "multiple rules A",
			policy: multipleRules("prod*", "beta*"),
			images: multipleRulesRepo(),
			want:   []string{"A"},
		},
		{
			name:   "multiple rules A, tagPrefixList",
			policy: strings.ReplaceAll(multipleRules("prod", "beta"), "tagPatternList", "tagPrefixList"),
			images: multipleRulesRepo(),
			want:   []string{"A"},
		},
		{
			// Example B: rule 1 sees all three images; rule 2 sees none it may mark.
			name:   "multiple rules B",
			policy: multipleRules("beta*", "prod*"),
			images: multipleRulesRepo(),
			want:   []string{"A", "B"},
		},
		{
			name:   "multiple rules B, tagPrefixList",
			policy: strings.ReplaceAll(multipleRules("beta", "prod"), "tagPatternList", "tagPrefixList"),
			images: multipleRulesRepo(),
			want:   []string{"A", "B"},
		},
		{
			// Multiple tags in a single rule, example A: images must match
			// every pattern; of C and F only C is older than five days.
			name: "multiple tags A",
			policy: `{"rules": [{"rulePriority": 1, "description": "Rule 1",
				"selection": {"tagStatus": "tagged", "tagPatternList": ["alpha*", "beta*"],
					"countType": "sinceImagePushed", "countNumber": 5, "countUnit": "days"},
				"action": {"type": "expire"}}]}`,
			images: multipleTagsRepoA(),
			want:   []string{"C"},
		},
		{
			name: "multiple tags A, tagPrefixList",
			policy: `{"rules": [{"rulePriority": 1, "description": "Rule 1",
				"selection": {"tagStatus": "tagged", "tagPrefixList": ["alpha", "beta"],
					"countType": "sinceImagePushed", "countNumber": 5, "countUnit": "days"},
				"action": {"type": "expire"}}]}`,
			images: multipleTagsRepoA(),
			want:   []string{"C"},
		},
		{
			// Example B: tags are not exclusive; gamma tags do not matter.
			name: "multiple tags B",
			policy: `{"rules": [{"rulePriority": 1, "description": "Rule 1",
				"selection": {"tagStatus": "tagged", "tagPatternList": ["alpha*", "beta*"],
					"countType": "imageCountMoreThan", "countNumber": 1},
				"action": {"type": "expire"}}]}`,
			images: []Image{
				image("A", 10, "alpha-1", "beta-1", "gamma-1"),
				image("B", 9, "alpha-2", "beta-2"),
				image("C", 8, "alpha-3", "beta-3", "gamma-2"),
			},
			want: []string{"A", "B"},
		},
		{
			// Filtering on all images, example A: keep the newest image of any kind.
			name: "all images A",
			policy: `{"rules": [{"rulePriority": 1, "description": "Rule 1",
				"selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
				"action": {"type": "expire"}}]}`,
			images: []Image{
				image("A", 4, "alpha-1"),
				image("B", 3, "beta-1"),
				image("C", 2),
				image("D", 1, "alpha-2"),
			},
			want: []string{"A", "B", "C"},
		},
		{
			// Example B combines all rule types. Rule 3 counts A..E but may
			// mark only D: C and E were identified (and kept) by rules 1
			// and 2. D and E share a push time; the docs keep E, which the
			// digest tie-break (E > D) reproduces.
			name: "all images B",
			policy: `{"rules": [
				{"rulePriority": 1, "description": "Rule 1",
					"selection": {"tagStatus": "tagged", "tagPatternList": ["alpha*"], "countType": "imageCountMoreThan", "countNumber": 1},
					"action": {"type": "expire"}},
				{"rulePriority": 2, "description": "Rule 2",
					"selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
					"action": {"type": "expire"}},
				{"rulePriority": 3, "description": "Rule 3",
					"selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1},
					"action": {"type": "expire"}}]}`,
			images: []Image{
				image("A", 4, "alpha-1", "beta-1"),
				image("B", 3),
				image("C", 2, "alpha-2"),
				image("D", 1, "git hash"),
				image("E", 1),
			},
			want: []string{"A", "B", "D"},
		},
		{
			// The evaluation rules' wildcard sentence: "*prod*" matches tags
			// that contain prod, such as repo-production or prod-team.
			name: "tag pattern *prod*",
			policy: `{"rules": [{"rulePriority": 1,
				"selection": {"tagStatus": "tagged", "tagPatternList": ["*prod*"], "countType": "imageCountMoreThan", "countNumber": 1},
				"action": {"type": "expire"}}]}`,
			images: []Image{
				image("A", 5, "repo-production"),
				image("B", 4, "prod-team"),
				image("C", 3, "prod"),
				image("D", 2, "staging"),
			},
			want: []string{"A", "B"},
		},
		{
			// A prefix is a plain prefix: "prod" selects prod, prod1 and
			// production, and never "preprod".
			name: "tag prefix",
			policy: `{"rules": [{"rulePriority": 1,
				"selection": {"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "imageCountMoreThan", "countNumber": 1},
				"action": {"type": "expire"}}]}`,
			images: []Image{
				image("A", 5, "prod"),
				image("B", 4, "prod1"),
				image("C", 3, "preprod"),
				image("D", 2, "production"),
			},
			want: []string{"A", "B"},
		},
		{
			// The re:Post pattern: one rule per tag to keep, so that each keeps
			// its newest image, then a catch-all.
			name: "keep newest per tag, then cap",
			policy: `{"rules": [
				{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPatternList": ["latest"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}},
				{"rulePriority": 2, "selection": {"tagStatus": "tagged", "tagPatternList": ["main"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}},
				{"rulePriority": 3, "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 60}, "action": {"type": "expire"}}]}`,
			images: []Image{
				image("A", 400, "latest"),
				image("B", 300, "main"),
				image("C", 200, "main-old"),
				image("D", 100),
				image("E", 10, "feature"),
			},
			want: []string{"C", "D"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustParse(t, tc.policy)
			if got := expired(t, p, tc.images); !slices.Equal(got, tc.want) {
				t.Errorf("expired %v, want %v", got, tc.want)
				for _, v := range p.Evaluate(tc.images, now) {
					t.Logf("%s: %s", nameOf(v.Digest), v.Reason)
				}
			}
		})
	}
}

func multipleRules(first, second string) string {
	return fmt.Sprintf(`{"rules": [
		{"rulePriority": 1, "description": "Rule 1",
			"selection": {"tagStatus": "tagged", "tagPatternList": [%q], "countType": "imageCountMoreThan", "countNumber": 1},
			"action": {"type": "expire"}},
		{"rulePriority": 2, "description": "Rule 2",
			"selection": {"tagStatus": "tagged", "tagPatternList": [%q], "countType": "imageCountMoreThan", "countNumber": 1},
			"action": {"type": "expire"}}]}`, first, second)
}

func multipleRulesRepo() []Image {
	return []Image{
		image("A", 10, "beta-1", "prod-1"),
		image("B", 9, "beta-2", "prod-2"),
		image("C", 8, "beta-3"),
	}
}

func multipleTagsRepoA() []Image {
	return []Image{
		image("A", 12, "alpha-1"),
		image("B", 11, "beta-1"),
		image("C", 10, "alpha-2", "beta-2"),
		image("D", 4, "alpha-3"),
		image("E", 3, "beta-3"),
		image("F", 2, "alpha-4", "beta-4"),
	}
}

// The examples page's archive policies use what moat refuses; the error
// must say that archive storage is the reason.
func TestECRArchiveExamplesRefused(t *testing.T) {
	for name, doc := range map[string]string{
		"last pulled time": `{"rules": [{"rulePriority": 1, "description": "Archive images not pulled in 90 days",
			"selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 90},
			"action": {"type": "transition", "targetStorageClass": "archive"}}]}`,
		"archive transition time": `{"rules": [{"rulePriority": 1, "description": "Expire images archived for more than 365 days",
			"selection": {"tagStatus": "any", "storageClass": "archive", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 365},
			"action": {"type": "expire"}}]}`,
		"archive older than 30 days": `{"rules": [{"rulePriority": 1, "description": "Archive production images older than 30 days",
			"selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30},
			"action": {"type": "transition", "targetStorageClass": "archive"}}]}`,
		"transition without target": `{"rules": [{"rulePriority": 1,
			"selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30},
			"action": {"type": "transition"}}]}`,
		"sinceImageTransitioned alone": `{"rules": [{"rulePriority": 1,
			"selection": {"tagStatus": "any", "countType": "sinceImageTransitioned", "countUnit": "days", "countNumber": 365},
			"action": {"type": "expire"}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(doc))
			var e *Error
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want an *Error wrapping ErrInvalid", err)
			}
			if e.Rule != 1 || !strings.Contains(e.Msg, "archive storage") {
				t.Errorf("error %q (rule %d): want rule 1 and a mention of archive storage", err, e.Rule)
			}
		})
	}
}

// sinceImagePulled with "expire" is moat's: the reference time is the last
// pull, or the push for an image never pulled.
func TestSinceImagePulled(t *testing.T) {
	p := mustParse(t, `{"rules": [{"rulePriority": 1, "description": "Expire images not pulled in 90 days",
		"selection": {"tagStatus": "any", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 90},
		"action": {"type": "expire"}}]}`)
	pulled := func(img Image, daysAgo float64) Image {
		img.PulledAt = now.Add(-time.Duration(daysAgo * float64(day)))
		return img
	}
	images := []Image{
		pulled(image("A", 200, "v1"), 100), // last pull too old
		pulled(image("B", 200, "v2"), 10),  // pulled recently
		image("C", 100),                    // never pulled: counts from the push
		image("D", 30),                     // never pulled, pushed recently
		pulled(image("E", 20), 300),        // pull before push (bad metadata): the push counts
	}
	if got, want := expired(t, p, images), []string{"A", "C"}; !slices.Equal(got, want) {
		t.Errorf("expired %v, want %v", got, want)
	}
	vs := p.Evaluate(images, now)
	if want := "rule 1 (expire images not pulled for more than 90 days): never pulled, pushed 100 days ago"; vs[2].Reason != want {
		t.Errorf("reason %q, want %q", vs[2].Reason, want)
	}
}

func TestReasons(t *testing.T) {
	p := mustParse(t, `{"rules": [
		{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}},
		{"rulePriority": 2, "selection": {"tagStatus": "tagged", "tagPatternList": ["prod*"], "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}}]}`)
	var images []Image
	for i := range 7 {
		images = append(images, image(fmt.Sprintf("P%d", i+1), float64(10-i), fmt.Sprintf("prod-%d", i)))
	}
	images = append(images, image("U", 3), image("X", 3, "dev"))
	vs := p.Evaluate(images, now)
	for _, tc := range []struct {
		index    int
		expire   bool
		priority int
		reason   string
	}{
		{0, true, 2, "rule 2 (keep 5 newest tagged prod*): 7th newest"},
		{1, true, 2, "rule 2 (keep 5 newest tagged prod*): 6th newest"},
		{6, false, 2, "kept: rule 2 (keep 5 newest tagged prod*): 1st newest"},
		{7, true, 1, "rule 1 (expire untagged pushed more than 1 day ago): pushed 3 days ago"},
		{8, false, 0, "kept: no rule selects it"},
	} {
		v := vs[tc.index]
		if v.Expire != tc.expire || v.RulePriority != tc.priority || v.Reason != tc.reason {
			t.Errorf("%s: got (%v, %d, %q), want (%v, %d, %q)", nameOf(v.Digest),
				v.Expire, v.RulePriority, v.Reason, tc.expire, tc.priority, tc.reason)
		}
	}
	if !reflect.DeepEqual(vs[0].Tags, []string{"prod-0"}) {
		t.Errorf("tags %v", vs[0].Tags)
	}
}

func TestProtect(t *testing.T) {
	const rules = `"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]`
	repo := func() []Image {
		imgs := []Image{
			image("A", 50, "v1"),
			image("B", 40, "v2"),
			image("C", 30, "v3"),
			image("D", 20, "v4"),
			image("E", 10, "v5"),
			image("F", 1, "v6"),
		}
		imgs[0].Running = true
		imgs[1].Signed = true
		imgs[2].PulledAt = now.Add(-5 * day)
		imgs[3].PulledAt = now.Add(-40 * day)
		imgs[4].Running, imgs[4].Signed = true, true
		return imgs
	}
	for _, tc := range []struct {
		name    string
		protect string
		want    []string
		reasons map[string]string
	}{
		{
			name: "off unless written",
			want: []string{"A", "B", "C", "D", "E"},
		},
		{
			name:    "all off",
			protect: `"protect": {"running": false, "signed": false, "pulledWithinDays": 0}`,
			want:    []string{"A", "B", "C", "D", "E"},
		},
		{
			name:    "running",
			protect: `"protect": {"running": true}`,
			want:    []string{"B", "C", "D"},
			reasons: map[string]string{
				"A": "kept: running (rule 1 would expire it)",
				"E": "kept: running (rule 1 would expire it)",
			},
		},
		{
			name:    "signed",
			protect: `"protect": {"signed": true}`,
			want:    []string{"A", "C", "D"},
			reasons: map[string]string{"B": "kept: signed (rule 1 would expire it)"},
		},
		{
			name:    "pulled within 30 days",
			protect: `"protect": {"pulledWithinDays": 30}`,
			want:    []string{"A", "B", "D", "E"},
			reasons: map[string]string{"C": "kept: pulled within 30 days (rule 1 would expire it)"},
		},
		{
			name:    "all",
			protect: `"protect": {"running": true, "signed": true, "pulledWithinDays": 30}`,
			want:    []string{"D"},
			reasons: map[string]string{
				"E": "kept: running, signed (rule 1 would expire it)",
				// Protection vetoes; it does not change what the rule counts.
				"F": "kept: rule 1 (keep 1 newest): 1st newest",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "{" + rules
			if tc.protect != "" {
				doc += ", " + tc.protect
			}
			p := mustParse(t, doc+"}")
			images := repo()
			if got := expired(t, p, images); !slices.Equal(got, tc.want) {
				t.Errorf("expired %v, want %v", got, tc.want)
			}
			for _, v := range p.Evaluate(images, now) {
				if want, ok := tc.reasons[nameOf(v.Digest)]; ok {
					if v.Reason != want || v.Expire || v.RulePriority != 1 {
						t.Errorf("%s: (%v, %d, %q), want kept by rule 1: %q", nameOf(v.Digest), v.Expire, v.RulePriority, v.Reason, want)
					}
				}
			}
		})
	}
}

func TestPulledWithinDaysBoundary(t *testing.T) {
	p := mustParse(t, `{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}],
		"protect": {"pulledWithinDays": 30}}`)
	at := func(name string, pulledDaysAgo float64) Image {
		img := image(name, 100)
		img.PulledAt = now.Add(-time.Duration(pulledDaysAgo * float64(day)))
		return img
	}
	images := []Image{at("A", 30), at("B", 30.01), image("C", 100)}
	if got, want := expired(t, p, images), []string{"B", "C"}; !slices.Equal(got, want) {
		t.Errorf("expired %v, want %v", got, want)
	}
}

func TestUnknownPushTimeIsKept(t *testing.T) {
	p := mustParse(t, `{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}]}`)
	vs := p.Evaluate([]Image{{Digest: "sha256:z"}}, now)
	if vs[0].Expire || vs[0].Reason != "kept: push time unknown (rule 1 would expire it)" {
		t.Errorf("%+v", vs[0])
	}
}

func TestInvalidPolicyExpiresNothing(t *testing.T) {
	p := &Policy{Rules: []Rule{{RulePriority: 1, Selection: Selection{TagStatus: "any", CountType: CountImageCountMoreThan}, Action: Action{Type: ActionExpire}}}}
	for _, v := range p.Evaluate([]Image{image("A", 9), image("B", 8)}, now) {
		if v.Expire || !strings.HasPrefix(v.Reason, "kept: invalid lifecycle policy: rule 1: selection.countNumber") {
			t.Errorf("%+v", v)
		}
	}
	var nilPolicy *Policy
	if vs := nilPolicy.Evaluate([]Image{image("A", 9)}, now); vs[0].Expire {
		t.Errorf("nil policy expired %+v", vs[0])
	}
}

// The outcome for an image does not depend on where it sits in the input,
// even with ties in push time, and the input is left alone.
func TestDeterministic(t *testing.T) {
	p := mustParse(t, `{"rules": [
		{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["v"], "countType": "imageCountMoreThan", "countNumber": 3}, "action": {"type": "expire"}},
		{"rulePriority": 9, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 4}, "action": {"type": "expire"}}]}`)
	var images []Image
	for i := range 20 {
		tags := []string{fmt.Sprintf("v%d", i)}
		if i%3 == 0 {
			tags = nil
		}
		images = append(images, image(fmt.Sprintf("I%02d", i), float64(i/4), tags...)) // groups of four share a push time
	}
	want := map[string]Verdict{}
	for _, v := range p.Evaluate(images, now) {
		want[v.Digest] = v
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := slices.Clone(images)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		before := fmt.Sprint(shuffled)
		for i, v := range p.Evaluate(shuffled, now) {
			if v.Digest != shuffled[i].Digest || !reflect.DeepEqual(v, want[v.Digest]) {
				t.Fatalf("verdict %+v, want %+v", v, want[v.Digest])
			}
		}
		if fmt.Sprint(shuffled) != before {
			t.Fatal("Evaluate changed its input")
		}
	}
}

// reference evaluates the way the ECR documentation tells it, without
// regard for speed: every rule marks images on its own; then, by priority,
// a rule's mark expires an image unless a higher-priority rule identified
// the image.
func reference(p *Policy, images []Image) map[string]int {
	rules := slices.Clone(p.Rules)
	slices.SortFunc(rules, func(a, b Rule) int { return a.RulePriority - b.RulePriority })
	newer := func(a, b Image) bool { // a is newer than b
		if !a.PushedAt.Equal(b.PushedAt) {
			return a.PushedAt.After(b.PushedAt)
		}
		return a.Digest > b.Digest
	}
	identifiedBy := make([][]bool, len(rules))
	expiredBy := map[string]int{}
	for r, rule := range rules {
		s := rule.Selection
		identifiedBy[r] = make([]bool, len(images))
		for i, img := range images {
			identifiedBy[r][i] = referenceIdentifies(s, img.Tags)
		}
		for i, img := range images {
			if !identifiedBy[r][i] {
				continue
			}
			marked := false
			switch s.CountType {
			case CountImageCountMoreThan:
				newerCount := 0
				for j, other := range images {
					if identifiedBy[r][j] && newer(other, img) {
						newerCount++
					}
				}
				marked = newerCount >= s.CountNumber
			case CountSinceImagePushed:
				marked = now.Sub(img.PushedAt) > time.Duration(s.CountNumber)*day
			}
			higher := false
			for h := range r {
				higher = higher || identifiedBy[h][i]
			}
			if marked && !higher {
				expiredBy[img.Digest] = rule.RulePriority
			}
		}
	}
	return expiredBy
}

// referenceIdentifies is the tag matching of the evaluation rules: every
// entry of the list must match one of the image's tags.
func referenceIdentifies(s Selection, tags []string) bool {
	switch s.TagStatus {
	case TagStatusAny:
		return true
	case TagStatusUntagged:
		return len(tags) == 0
	}
	all := func(list []string, match func(entry, tag string) bool) bool {
		for _, entry := range list {
			if !slices.ContainsFunc(tags, func(tag string) bool { return match(entry, tag) }) {
				return false
			}
		}
		return true
	}
	return len(tags) > 0 && all(s.TagPatternList, wildcard.Match) && all(s.TagPrefixList, func(prefix, tag string) bool { return strings.HasPrefix(tag, prefix) })
}

func TestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	tagPool := []string{"prod-1", "prod-2", "production", "beta-1", "beta", "alpha-3", "main", "latest"}
	selections := []Selection{
		{TagStatus: TagStatusTagged, TagPatternList: []string{"prod*"}},
		{TagStatus: TagStatusTagged, TagPatternList: []string{"*a*"}},
		{TagStatus: TagStatusTagged, TagPatternList: []string{"beta*", "prod*"}},
		{TagStatus: TagStatusTagged, TagPrefixList: []string{"al"}},
		{TagStatus: TagStatusTagged, TagPatternList: []string{"main"}},
		{TagStatus: TagStatusUntagged},
	}
	checked := 0
	for trial := 0; checked < 300 && trial < 5000; trial++ {
		p := &Policy{}
		for _, k := range rng.Perm(len(selections))[:1+rng.IntN(4)] {
			s := selections[k]
			s.CountType, s.CountNumber = CountImageCountMoreThan, 1+rng.IntN(4)
			if rng.IntN(2) == 0 {
				s.CountType, s.CountUnit = CountSinceImagePushed, CountUnitDays
			}
			p.Rules = append(p.Rules, Rule{RulePriority: 1 + rng.IntN(20), Selection: s, Action: Action{Type: ActionExpire}})
		}
		if rng.IntN(2) == 0 {
			p.Rules = append(p.Rules, Rule{RulePriority: 50, Selection: Selection{TagStatus: TagStatusAny, CountType: CountImageCountMoreThan, CountNumber: 1 + rng.IntN(6)}, Action: Action{Type: ActionExpire}})
		}
		if p.Validate() != nil {
			continue
		}
		checked++
		var images []Image
		for i := range 1 + rng.IntN(25) {
			var tags []string
			for _, k := range rng.Perm(len(tagPool))[:rng.IntN(3)] {
				tags = append(tags, tagPool[k])
			}
			images = append(images, image(fmt.Sprintf("D%02d", i), float64(rng.IntN(8)), tags...))
		}
		want := reference(p, images)
		for _, v := range p.Evaluate(images, now) {
			if prio, exp := want[v.Digest]; exp != v.Expire || (exp && prio != v.RulePriority) {
				for _, img := range images {
					t.Logf("%s %v %v", img.Digest, img.PushedAt, img.Tags)
				}
				t.Fatalf("policy %+v\nimage %s: got (%v, rule %d, %q), reference (%v, rule %d)",
					p.Rules, nameOf(v.Digest), v.Expire, v.RulePriority, v.Reason, exp, prio)
			}
		}
	}
	if checked < 300 {
		t.Fatalf("only %d valid random policies", checked)
	}
}

func TestValidation(t *testing.T) {
	rule := func(prio int, selection string) string {
		return fmt.Sprintf(`{"rulePriority": %d, "selection": {%s}, "action": {"type": "expire"}}`, prio, selection)
	}
	const count1 = `"countType": "imageCountMoreThan", "countNumber": 1`
	const age = `"countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7`
	untagged := `"tagStatus": "untagged", ` + count1
	anyStatus := `"tagStatus": "any", ` + count1
	policy := func(rules ...string) string { return `{"rules": [` + strings.Join(rules, ", ") + `]}` }

	for _, tc := range []struct {
		name  string
		doc   string
		rule  int    // want Error.Rule
		field string // want Error.Field
		msg   string // Error.Msg contains
	}{
		{"any not last", policy(rule(1, anyStatus), rule(2, untagged)), 1, "selection.tagStatus", `tagStatus "any" must have the highest rulePriority, but rule 2 comes after it`},
		{"two any rules", policy(rule(3, anyStatus), rule(4, anyStatus)), 3, "selection.tagStatus", "highest rulePriority"},
		{"duplicate priority", policy(rule(2, untagged), rule(2, `"tagStatus": "tagged", "tagPatternList": ["v*"], `+count1)), 2, "rulePriority", "unique"},
		{"untagged with pattern list", policy(rule(1, `"tagStatus": "untagged", "tagPatternList": ["v*"], `+count1)), 1, "selection.tagPatternList", `may only be used with tagStatus "tagged"`},
		{"untagged with prefix list", policy(rule(1, `"tagStatus": "untagged", "tagPrefixList": ["v"], `+count1)), 1, "selection.tagPrefixList", `may only be used with tagStatus "tagged"`},
		{"any with prefix list", policy(rule(1, `"tagStatus": "any", "tagPrefixList": ["v"], `+count1)), 1, "selection.tagPrefixList", `may only be used with tagStatus "tagged"`},
		{"tagged without list", policy(rule(1, `"tagStatus": "tagged", `+count1)), 1, "selection", "requires tagPatternList or tagPrefixList"},
		{"both lists", policy(rule(1, `"tagStatus": "tagged", "tagPatternList": ["v*"], "tagPrefixList": ["v"], `+count1)), 1, "selection", "not both"},
		{"more than 4 wildcards", policy(rule(1, `"tagStatus": "tagged", "tagPatternList": ["ok", "test*1*2*3*4*5*6"], `+count1)), 1, "selection.tagPatternList[1]", "6 wildcards, at most 4"},
		{"empty pattern list", policy(rule(1, `"tagStatus": "tagged", "tagPatternList": [], `+count1)), 1, "selection.tagPatternList", "is empty"},
		{"empty pattern", policy(rule(1, `"tagStatus": "tagged", "tagPatternList": [""], `+count1)), 1, "selection.tagPatternList[0]", "empty pattern"},
		{"empty prefix", policy(rule(1, `"tagStatus": "tagged", "tagPrefixList": ["v", ""], `+count1)), 1, "selection.tagPrefixList[1]", "empty prefix"},
		{"wildcard in prefix", policy(rule(1, `"tagStatus": "tagged", "tagPrefixList": ["prod*"], `+count1)), 1, "selection.tagPrefixList[0]", "use tagPatternList"},
		{"same tags twice", policy(rule(1, `"tagStatus": "tagged", "tagPrefixList": ["prod"], `+count1), rule(2, `"tagStatus": "tagged", "tagPatternList": ["prod*"], `+age)), 2, "selection.tagPatternList", "same tags as rule 1"},
		{"same tags in another order", policy(rule(5, `"tagStatus": "tagged", "tagPatternList": ["a*", "b*"], `+count1), rule(1, `"tagStatus": "tagged", "tagPatternList": ["b*", "a*"], `+age)), 5, "selection.tagPatternList", "same tags as rule 1"},
		{"countUnit with imageCountMoreThan", policy(rule(1, `"tagStatus": "untagged", "countType": "imageCountMoreThan", "countUnit": "days", "countNumber": 1`)), 1, "selection.countUnit", `must be omitted with countType "imageCountMoreThan"`},
		{"missing countUnit", policy(rule(1, `"tagStatus": "untagged", "countType": "sinceImagePushed", "countNumber": 14`)), 1, "selection.countUnit", `requires countUnit "days"`},
		{"missing countUnit, pulled", policy(rule(1, `"tagStatus": "untagged", "countType": "sinceImagePulled", "countNumber": 14`)), 1, "selection.countUnit", `requires countUnit "days"`},
		{"countUnit weeks", policy(rule(1, `"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "weeks", "countNumber": 2`)), 1, "selection.countUnit", `must be "days" (found "weeks")`},
		{"countNumber 0", policy(rule(1, `"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 0`)), 1, "selection.countNumber", "positive integer (found 0)"},
		{"countNumber negative", policy(rule(1, `"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": -3`)), 1, "selection.countNumber", "positive integer (found -3)"},
		{"countNumber missing", policy(rule(1, `"tagStatus": "untagged", "countType": "imageCountMoreThan"`)), 1, "selection.countNumber", "is required"},
		{"countNumber string", policy(rule(1, `"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": "5"`)), 1, "selection.countNumber", "must be an integer (found string)"},
		{"countNumber fraction", policy(rule(1, `"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1.5`)), 1, "selection.countNumber", "must be an integer (found number 1.5)"},
		{"countType unknown", policy(rule(1, `"tagStatus": "untagged", "countType": "imageCountLessThan", "countNumber": 1`)), 1, "selection.countType", `(found "imageCountLessThan")`},
		{"countType missing", policy(rule(1, `"tagStatus": "untagged", "countNumber": 1`)), 1, "selection.countType", "is required"},
		{"tagStatus unknown", policy(rule(1, `"tagStatus": "TAGGED", "tagPrefixList": ["v"], `+count1)), 1, "selection.tagStatus", `(found "TAGGED")`},
		{"tagStatus missing", policy(rule(1, count1)), 1, "selection.tagStatus", "is required"},
		{"two untagged rules", policy(rule(1, untagged), rule(2, `"tagStatus": "untagged", `+age)), 2, "selection.tagStatus", "only one rule can select untagged images, and rule 1 already does"},
		{"transition action", policy(`{"rulePriority": 1, "selection": {` + untagged + `}, "action": {"type": "transition"}}`), 1, "action.type", "archive storage"},
		{"target storage class", policy(`{"rulePriority": 1, "selection": {` + untagged + `}, "action": {"type": "transition", "targetStorageClass": "archive"}}`), 1, "action.targetStorageClass", "archive storage"},
		{"storage class archive", policy(rule(1, `"storageClass": "archive", `+untagged)), 1, "selection.storageClass", "archive storage"},
		{"storage class other", policy(rule(1, `"storageClass": "glacier", `+untagged)), 1, "selection.storageClass", `must be "standard"`},
		{"action unknown", policy(`{"rulePriority": 1, "selection": {` + untagged + `}, "action": {"type": "delete"}}`), 1, "action.type", `must be "expire" (found "delete")`},
		{"action type missing", policy(`{"rulePriority": 1, "selection": {` + untagged + `}, "action": {}}`), 1, "action.type", "is required"},
		{"action missing", policy(`{"rulePriority": 4, "selection": {` + untagged + `}}`), 4, "action", "is required"},
		{"selection missing", policy(`{"rulePriority": 4, "action": {"type": "expire"}}`), 4, "selection", "is required"},
		{"priority missing", policy(`{"selection": {`+untagged+`}, "action": {"type": "expire"}}`, rule(1, anyStatus)), 0, "rules[0].rulePriority", "is required"},
		{"priority 0", policy(rule(0, untagged)), 0, "rules[0].rulePriority", "positive integer (found 0)"},
		{"priority string", policy(rule(1, untagged), `{"rulePriority": "2", "selection": {`+anyStatus+`}, "action": {"type": "expire"}}`), 0, "rules[1].rulePriority", "must be an integer (found string)"},
		{"unknown top-level field", `{"rules": [` + rule(1, untagged) + `], "version": 1}`, 0, "version", "unknown field; allowed: rules, protect"},
		{"unknown rule field", policy(`{"rulePriority": 3, "selection": {` + untagged + `}, "action": {"type": "expire"}, "enabled": true}`), 3, "enabled", "unknown field"},
		{"unknown selection field", policy(rule(2, untagged+`, "tagRegex": "v.*"`)), 2, "selection.tagRegex", "unknown field"},
		{"unknown protect field", `{"rules": [` + rule(1, untagged) + `], "protect": {"running": true, "deployed": true}}`, 0, "protect.deployed", "unknown field"},
		{"miscased field", policy(rule(2, `"tagstatus": "untagged", `+count1)), 2, "selection.tagstatus", `did you mean "tagStatus"`},
		{"duplicate field", policy(rule(2, untagged+`, "countNumber": 5`)), 2, "selection.countNumber", "duplicate field"},
		{"null field", policy(rule(2, `"tagStatus": "tagged", "tagPrefixList": null, `+count1)), 2, "selection.tagPrefixList", "must not be null"},
		{"null list entry", policy(rule(2, `"tagStatus": "tagged", "tagPrefixList": ["v", null], `+count1)), 2, "selection.tagPrefixList[1]", "must not be null"},
		{"selection not an object", policy(`{"rulePriority": 2, "selection": [], "action": {"type": "expire"}}`), 2, "selection", "must be a JSON object"},
		{"description not a string", policy(`{"rulePriority": 2, "description": {"a": 1}, "selection": {` + untagged + `}, "action": {"type": "expire"}}`), 2, "description", "must be a string"},
		{"rules not an array", `{"rules": {}}`, 0, "rules", "must be a JSON array"},
		{"rules missing", `{}`, 0, "rules", "at least one rule"},
		{"rules empty", `{"rules": []}`, 0, "rules", "at least one rule"},
		{"too many rules", policy(manyRules(51)...), 0, "rules", "51 rules, at most 50"},
		{"trailing data", policy(rule(1, untagged)) + ` {}`, 0, "", "data after the end"},
		{"not JSON", `{"rules": [`, 0, "rules", "malformed JSON"},
		{"top level array", `[]`, 0, "", "must be a JSON object"},
		{"top level null", `null`, 0, "", "must not be null"},
		{"empty document", ``, 0, "", "malformed JSON"},
		{"too long", policy(rule(1, `"description": "`+strings.Repeat("é", MaxDocumentChars)+`"`)), 0, "", "at most 30720 are allowed"},
		{"invalid UTF-8", policy(`{"rulePriority": 1, "description": "` + "\xff" + `", "selection": {` + untagged + `}, "action": {"type": "expire"}}`), 0, "", "not valid UTF-8"},
		{"negative pulledWithinDays", `{"rules": [` + rule(1, untagged) + `], "protect": {"pulledWithinDays": -1}}`, 0, "protect.pulledWithinDays", "must not be negative"},
		{"pulledWithinDays string", `{"rules": [` + rule(1, untagged) + `], "protect": {"pulledWithinDays": "30"}}`, 0, "protect.pulledWithinDays", "must be an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.doc))
			if p != nil {
				t.Errorf("Parse returned a policy with error %v", err)
			}
			var e *Error
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want an *Error wrapping ErrInvalid", err)
			}
			if e.Rule != tc.rule || e.Field != tc.field || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got rule %d field %q msg %q\nwant rule %d field %q msg containing %q", e.Rule, e.Field, e.Msg, tc.rule, tc.field, tc.msg)
			}
			if tc.rule != 0 && !strings.Contains(err.Error(), fmt.Sprintf("rule %d: ", tc.rule)) {
				t.Errorf("message %q does not name rule %d", err, tc.rule)
			}
		})
	}
}

func manyRules(n int) []string {
	var rules []string
	for i := range n {
		rules = append(rules, fmt.Sprintf(`{"rulePriority": %d, "selection": {"tagStatus": "tagged", "tagPatternList": ["v%d*"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}`, i+1, i))
	}
	return rules
}

// Valid corner cases ECR documents, kept valid.
func TestValidCorners(t *testing.T) {
	for name, doc := range map[string]string{
		// The properties page's valid wildcard example.
		"four wildcards": `{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPatternList": ["*test*1*2*3", "test*1*2*3*"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
		// storageClass "standard" is ECR's default for these count types.
		"standard storage class": `{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "storageClass": "standard", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30}, "action": {"type": "expire"}}]}`,
		// Priorities need not be sequential; document order does not matter.
		"sparse priorities": `{"rules": [
			{"rulePriority": 100, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10}, "action": {"type": "expire"}},
			{"rulePriority": 7, "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]}`,
		// Overlapping but different tag sets are allowed.
		"overlapping tag sets": `{"rules": [
			{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["prod", "release"], "countType": "imageCountMoreThan", "countNumber": 5}, "action": {"type": "expire"}},
			{"rulePriority": 2, "selection": {"tagStatus": "tagged", "tagPrefixList": ["prod"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 30}, "action": {"type": "expire"}}]}`,
		"huge countNumber": `{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 9000000000000000000}, "action": {"type": "expire"}}], "protect": {"pulledWithinDays": 9000000000000000000}}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := mustParse(t, doc)
			old := image("A", 365*200, "prod-1")
			old.PulledAt = now.Add(-365 * 100 * day)
			for _, v := range p.Evaluate([]Image{old}, now) {
				if name == "huge countNumber" && v.Expire {
					t.Errorf("expired with a limit beyond time.Duration: %+v", v)
				}
			}
		})
	}
}

// A parsed policy marshals back to a document that parses to the same
// policy: Policy's JSON names are ECR's.
func TestRoundTrip(t *testing.T) {
	doc := `{"rules": [
		{"rulePriority": 1, "description": "Rule 1", "selection": {"tagStatus": "tagged", "tagPatternList": ["alpha*"], "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}},
		{"rulePriority": 2, "selection": {"tagStatus": "tagged", "tagPrefixList": ["beta"], "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 90}, "action": {"type": "expire"}},
		{"rulePriority": 3, "selection": {"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}],
		"protect": {"running": true, "signed": true, "pulledWithinDays": 14}}`
	p := mustParse(t, doc)
	out, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if q := mustParse(t, string(out)); !reflect.DeepEqual(p, q) {
		t.Errorf("round trip:\n%+v\n%+v", p, q)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(multipleRules("prod*", "beta*")))
	f.Add([]byte(`{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePulled", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}], "protect": {"running": true}}`))
	f.Add([]byte(`{"rules": [{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPrefixList": ["a", "b"], "countType": "imageCountMoreThan", "countNumber": 3}, "action": {"type": "expire"}}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if utf8.RuneCount(out) > MaxDocumentChars {
			return // escaping can lengthen a document that was just under the limit
		}
		q, err := Parse(out)
		if err != nil || !reflect.DeepEqual(p, q) {
			t.Fatalf("round trip of %s: %v", out, err)
		}
		p.Evaluate([]Image{image("A", 3, "a"), image("B", 2), image("C", 1, "b", "a")}, now)
	})
}

// BenchmarkEvaluate100k evaluates a three-rule policy over one repository
// of 100,000 images.
func BenchmarkEvaluate100k(b *testing.B) {
	p := mustParse(b, `{"rules": [
		{"rulePriority": 1, "selection": {"tagStatus": "tagged", "tagPatternList": ["prod-*"], "countType": "imageCountMoreThan", "countNumber": 50}, "action": {"type": "expire"}},
		{"rulePriority": 2, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}, "action": {"type": "expire"}},
		{"rulePriority": 3, "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1000}, "action": {"type": "expire"}}],
		"protect": {"running": true, "signed": true, "pulledWithinDays": 30}}`)
	rng := rand.New(rand.NewPCG(3, 5))
	images := make([]Image, 100_000)
	for i := range images {
		var tags []string
		switch i % 10 {
		case 0, 1, 2:
			tags = []string{fmt.Sprintf("prod-%d", i), fmt.Sprintf("sha-%x", i)}
		case 3, 4, 5:
		default:
			tags = []string{fmt.Sprintf("feature-%d", i%500)}
		}
		images[i] = Image{
			Digest:   fmt.Sprintf("sha256:%016x%016x%016x%016x", rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()),
			Tags:     tags,
			PushedAt: now.Add(-time.Duration(rng.Int64N(400*24*3600)) * time.Second),
			Running:  i%97 == 0,
			Signed:   i%13 == 0,
		}
		if i%5 == 0 {
			images[i].PulledAt = now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		p.Evaluate(images, now)
	}
}
