// Package lifecycle evaluates Amazon ECR lifecycle policies against a
// repository's images, with moat's protections on top. It is pure: the
// caller supplies the images (from the registry's metadata) and the clock,
// and gets back one verdict per image; nothing is deleted here.
//
// Policies use ECR's JSON grammar verbatim, and evaluation follows ECR's
// documented rules ("Lifecycle policy evaluation rules" in the ECR user
// guide):
//
//   - Rules are applied by rulePriority, lowest first.
//   - A rule identifies the images its tag selection matches (tagStatus,
//     tagPatternList, tagPrefixList) and, among those, marks the ones its
//     count criterion selects. Counting sees every identified image,
//     including ones a higher-priority rule already decided ("can still
//     identify them as if they haven't been expired").
//   - An image's fate belongs to the highest-priority rule that identifies
//     it: expired if that rule marks it, kept otherwise. A lower-priority
//     rule never expires it ("An image that matches the tagging
//     requirements of a rule cannot be expired by a rule with a lower
//     priority").
//
// Each image is judged on its own. ECR also holds back an image that a
// manifest list references until the list itself goes, and removes
// referrers (signatures, SBOMs) after their subject; Image carries no
// references, so the caller applies both.
//
// moat additions: the top-level "protect" object keeps images that are
// running, signed or recently pulled even when a rule would expire them;
// countType "sinceImagePulled" may be used with action "expire" (ECR allows
// it only with "transition"); and archive storage ("transition",
// "storageClass": "archive", "sinceImageTransitioned") is refused.
package lifecycle

import (
	"errors"
	"time"
)

// ErrInvalid is wrapped by every error Parse and Validate return.
var ErrInvalid = errors.New("invalid lifecycle policy")

// Values of Selection.TagStatus.
const (
	TagStatusTagged   = "tagged"
	TagStatusUntagged = "untagged"
	TagStatusAny      = "any"
)

// Values of Selection.CountType.
const (
	CountImageCountMoreThan = "imageCountMoreThan"
	CountSinceImagePushed   = "sinceImagePushed"
	CountSinceImagePulled   = "sinceImagePulled"
)

// CountUnitDays is the only countUnit ECR defines.
const CountUnitDays = "days"

// ActionExpire is the only action moat performs.
const ActionExpire = "expire"

// ECR's limits (service quotas and the tagPatternList property).
const (
	MaxRules           = 50     // "Rules per lifecycle policy"
	MaxDocumentChars   = 30_720 // "Lifecycle policy length"
	MaxWildcardsPerTag = 4      // '*' per tagPatternList entry
)

// Policy is an ECR lifecycle policy document plus moat's protections.
type Policy struct {
	Rules   []Rule   `json:"rules"`
	Protect *Protect `json:"protect,omitempty"` // moat's addition
}

// Rule is one ECR lifecycle rule.
type Rule struct {
	RulePriority int       `json:"rulePriority"`
	Description  string    `json:"description,omitempty"`
	Selection    Selection `json:"selection"`
	Action       Action    `json:"action"`
}

// Selection says which images a rule identifies and which of those it
// marks for expiry.
type Selection struct {
	TagStatus      string   `json:"tagStatus"`
	TagPatternList []string `json:"tagPatternList,omitempty"`
	TagPrefixList  []string `json:"tagPrefixList,omitempty"`
	CountType      string   `json:"countType"`
	CountUnit      string   `json:"countUnit,omitempty"`
	CountNumber    int      `json:"countNumber"` // at least 1
}

// Action is what a rule does to the images it marks.
type Action struct {
	Type string `json:"type"`
}

// Protect lists moat's protections; each is off unless written. A
// protected image is never expired: its verdict says kept and why.
// Protection only vetoes: it never makes a rule expire a different image
// in its place, so moat expires a subset of what ECR would.
type Protect struct {
	Running          bool `json:"running"`          // running per the inventory
	Signed           bool `json:"signed"`           // signed by a trusted identity
	PulledWithinDays int  `json:"pulledWithinDays"` // pulled within this many days; 0 is off
}

// Image is what evaluation needs to know about one image (manifest) of
// the repository.
type Image struct {
	Digest   string
	Tags     []string
	PushedAt time.Time
	PulledAt time.Time // zero: never pulled
	Running  bool
	Signed   bool
}

// Verdict is the outcome for one image.
type Verdict struct {
	Digest string
	Tags   []string
	Expire bool
	// RulePriority is the rule that decided the image: the
	// highest-priority rule whose tag selection matched it, whether it
	// marked the image or not. 0 when no rule selected it.
	RulePriority int
	Reason       string // for people, e.g. "rule 2 (keep 5 newest tagged prod*): 7th newest"
}
