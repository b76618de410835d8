package admission

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"

	"github.com/moat-dev/moat/internal/config"
	"github.com/moat-dev/moat/internal/imagefacts"
)

// Image is what a rule's expression sees as `image`. Field names are
// checked when the rule is compiled, so a typo is a configuration error,
// not a denial at run time.
type Image struct {
	Digest      string   `cel:"digest"`
	Repository  string   `cel:"repository"`
	Host        string   `cel:"host"`
	Tags        []string `cel:"tags"`
	Signed      bool     `cel:"signed"`
	Signers     []string `cel:"signers"`
	TrustPolicy string   `cel:"trustPolicy"`
	Scan        Scan     `cel:"scan"`
	Findings    Findings `cel:"findings"`
	EOL         bool     `cel:"eol"`
	AgeDays     int64    `cel:"ageDays"`
	PushedBy    string   `cel:"pushedBy"`
	InUseCount  int64    `cel:"inUseCount"`
}

// Scan is image.scan.
type Scan struct {
	Status string `cel:"status"`
	Reason string `cel:"reason"`
}

// Findings is image.findings: open findings by severity, known exploited
// (kev), with a fix (fixable), and the vulnerability IDs.
type Findings struct {
	Critical int64    `cel:"critical"`
	High     int64    `cel:"high"`
	Medium   int64    `cel:"medium"`
	Low      int64    `cel:"low"`
	Unknown  int64    `cel:"unknown"`
	KEV      int64    `cel:"kev"`
	Fixable  int64    `cel:"fixable"`
	IDs      []string `cel:"ids"`
}

// ImageOf turns facts into what rules see.
func ImageOf(f imagefacts.Facts, now time.Time) *Image {
	return &Image{
		Digest: f.Digest, Repository: f.Repository, Host: f.Host, Tags: nonNil(f.Tags),
		Signed: f.Signed, Signers: nonNil(f.Signers), TrustPolicy: f.TrustPolicy,
		Scan: Scan{Status: string(f.Scan), Reason: f.ScanReason},
		Findings: Findings{Critical: int64(f.Findings.Critical), High: int64(f.Findings.High),
			Medium: int64(f.Findings.Medium), Low: int64(f.Findings.Low), Unknown: int64(f.Findings.Unknown),
			KEV: int64(f.Findings.KEV), Fixable: int64(f.Findings.Fixable), IDs: nonNil(f.Findings.IDs)},
		EOL: f.EOL, AgeDays: f.AgeDays(now), PushedBy: f.PushedBy, InUseCount: int64(f.InUse),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Rule is a compiled rule.
type Rule struct {
	config.AdmissionRule
	prg cel.Program
	// id tells compilations apart, for cached verdicts.
	id *ruleID
}

type ruleID struct{ _ byte }

// costLimit bounds one evaluation, so no expression can stall admission.
const costLimit = 1_000_000

func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[Image](), reflect.TypeFor[Scan](), reflect.TypeFor[Findings](), ext.ParseStructTags(true)),
		cel.Variable("image", cel.ObjectType("admission.Image")),
		ext.Strings(), ext.Lists(), ext.Sets(),
	)
}

// Compile checks and compiles rules; errors name the rule by key and
// name and say what is wrong with the expression.
func Compile(key string, rules []config.AdmissionRule) ([]Rule, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("admission: CEL environment: %w", err)
	}
	var errs []error
	names := map[string]bool{}
	out := make([]Rule, 0, len(rules))
	for i, r := range rules {
		rk := fmt.Sprintf("%s[%d]", key, i)
		if es := config.ValidateRule(rk, r); len(es) > 0 {
			errs = append(errs, es...)
			continue
		}
		if names[r.Name] {
			errs = append(errs, fmt.Errorf("%w: %s: rule name %q is used twice", config.ErrInvalid, rk, r.Name))
			continue
		}
		names[r.Name] = true
		ast, iss := env.Compile(r.Expression)
		if iss.Err() != nil {
			errs = append(errs, fmt.Errorf("%w: %s (%s): %v", config.ErrInvalid, rk, r.Name, iss.Err()))
			continue
		}
		if ast.OutputType() != cel.BoolType {
			errs = append(errs, fmt.Errorf("%w: %s (%s): the expression is %s, want bool", config.ErrInvalid, rk, r.Name, ast.OutputType()))
			continue
		}
		prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s (%s): %v", config.ErrInvalid, rk, r.Name, err))
			continue
		}
		out = append(out, Rule{AdmissionRule: r, prg: prg, id: new(ruleID)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Eval reports whether img passes the rule.
func (r Rule) Eval(img *Image) (bool, error) {
	v, _, err := r.prg.Eval(map[string]any{"image": img})
	if err != nil {
		return false, err
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the expression gave %v, not a bool", v)
	}
	return b, nil
}
