package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Parse reads an ECR lifecycle policy document, as written for ECR, plus
// moat's optional "protect" object, and validates it. JSON is read
// strictly: unknown, duplicate or wrongly cased field names, nulls and
// data after the document are refused, where encoding/json alone would
// ignore them or pick one. Errors are *Error and wrap ErrInvalid.
func Parse(doc []byte) (*Policy, error) {
	if n := utf8.RuneCount(doc); n > MaxDocumentChars {
		return nil, &Error{Msg: fmt.Sprintf("document is %d characters, at most %d are allowed", n, MaxDocumentChars)}
	}
	if !utf8.Valid(doc) {
		return nil, &Error{Msg: "document is not valid UTF-8"}
	}
	if err := checkShape(doc); err != nil {
		return nil, err.withRule(doc)
	}
	var w wireDoc
	if err := json.Unmarshal(doc, &w); err != nil {
		return nil, typeError(err, -1, 0)
	}
	p := &Policy{Rules: make([]Rule, 0, len(w.Rules))}
	for i, raw := range w.Rules {
		r, err := decodeRule(i, raw)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, r)
	}
	if w.Protect != nil {
		var pr Protect
		if err := json.Unmarshal(w.Protect, &pr); err != nil {
			return nil, typeError(err, -1, 0, "protect")
		}
		p.Protect = &pr
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// The wire types mirror the document with pointers where "absent" and
// "zero" must be told apart, and with the archive fields moat refuses.
type wireDoc struct {
	Rules   []json.RawMessage `json:"rules"`
	Protect json.RawMessage   `json:"protect"`
}

type wireRule struct {
	RulePriority *int           `json:"rulePriority"`
	Description  string         `json:"description"`
	Selection    *wireSelection `json:"selection"`
	Action       *wireAction    `json:"action"`
}

type wireSelection struct {
	TagStatus      string    `json:"tagStatus"`
	TagPatternList *[]string `json:"tagPatternList"`
	TagPrefixList  *[]string `json:"tagPrefixList"`
	StorageClass   *string   `json:"storageClass"`
	CountType      string    `json:"countType"`
	CountUnit      string    `json:"countUnit"`
	CountNumber    *int      `json:"countNumber"`
}

type wireAction struct {
	Type               string  `json:"type"`
	TargetStorageClass *string `json:"targetStorageClass"`
}

// decodeRule converts one rule and checks what only the document shows:
// missing required fields, explicitly empty lists and the storage-class
// fields. Validate checks the rest.
func decodeRule(i int, raw json.RawMessage) (Rule, error) {
	var w wireRule
	if err := json.Unmarshal(raw, &w); err != nil {
		return Rule{}, typeError(err, i, peekPriority(raw))
	}
	prio := 0
	if w.RulePriority != nil {
		prio = *w.RulePriority
	}
	fail := func(field, format string, args ...any) (Rule, error) {
		return Rule{}, ruleError(i, prio, field, format, args...)
	}
	switch {
	case w.RulePriority == nil:
		return fail("rulePriority", "is required")
	case w.Selection == nil:
		return fail("selection", "is required")
	case w.Action == nil:
		return fail("action", "is required")
	case w.Selection.CountNumber == nil:
		return fail("selection.countNumber", "is required")
	}
	s, a := w.Selection, w.Action
	if s.TagPatternList != nil && len(*s.TagPatternList) == 0 {
		return fail("selection.tagPatternList", "is empty; list at least one pattern or omit it")
	}
	if s.TagPrefixList != nil && len(*s.TagPrefixList) == 0 {
		return fail("selection.tagPrefixList", "is empty; list at least one prefix or omit it")
	}
	if s.StorageClass != nil {
		switch *s.StorageClass {
		case "standard": // ECR's default: the images moat stores
		case "archive":
			return fail("selection.storageClass", `"archive": moat does not support archive storage`)
		default:
			return fail("selection.storageClass", `must be "standard" (found %q)`, *s.StorageClass)
		}
	}
	if a.TargetStorageClass != nil {
		return fail("action.targetStorageClass", "moat does not support archive storage; remove it and use action \"expire\"")
	}
	return Rule{
		RulePriority: prio,
		Description:  w.Description,
		Selection: Selection{
			TagStatus:      s.TagStatus,
			TagPatternList: deref(s.TagPatternList),
			TagPrefixList:  deref(s.TagPrefixList),
			CountType:      s.CountType,
			CountUnit:      s.CountUnit,
			CountNumber:    *s.CountNumber,
		},
		Action: Action{Type: a.Type},
	}, nil
}

func deref(l *[]string) []string {
	if l == nil {
		return nil
	}
	return *l
}

// peekPriority reads a rule's priority for an error message, 0 if it has
// none usable.
func peekPriority(raw json.RawMessage) int {
	var r struct {
		RulePriority int `json:"rulePriority"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return 0
	}
	return r.RulePriority
}

// typeError turns encoding/json's complaint about a value of the wrong
// type into an *Error naming the field.
func typeError(err error, index, priority int, prefix ...string) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return &Error{Msg: err.Error()}
	}
	field := joinPath(strings.Join(prefix, "."), te.Field)
	msg := fmt.Sprintf("must be %s (found %s)", describeType(te.Type), te.Value)
	if index < 0 {
		return &Error{Field: field, Msg: msg}
	}
	return ruleError(index, priority, field, "%s", msg)
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "an integer"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	default:
		return "a JSON object"
	}
}

// node is a place in the policy document's structure, for checkShape.
type node int

const (
	nodeOther node = iota // inside a value the schema does not describe
	nodeLeaf              // a scalar field, or an array of scalars
	nodeDoc
	nodeRules
	nodeRule
	nodeSelection
	nodeAction
	nodeProtect
)

// fields lists the keys an object node allows; nil for non-objects.
func (n node) fields() []string {
	switch n {
	case nodeDoc:
		return []string{"rules", "protect"}
	case nodeRule:
		return []string{"rulePriority", "description", "selection", "action"}
	case nodeSelection:
		return []string{"tagStatus", "tagPatternList", "tagPrefixList", "storageClass", "countType", "countUnit", "countNumber"}
	case nodeAction:
		return []string{"type", "targetStorageClass"}
	case nodeProtect:
		return []string{"running", "signed", "pulledWithinDays"}
	}
	return nil
}

func (n node) child(key string) node {
	switch {
	case n == nodeDoc && key == "rules":
		return nodeRules
	case n == nodeDoc && key == "protect":
		return nodeProtect
	case n == nodeRule && key == "selection":
		return nodeSelection
	case n == nodeRule && key == "action":
		return nodeAction
	case n == nodeOther || n == nodeLeaf:
		return nodeOther // an object inside a scalar field: a type error Parse reports
	}
	return nodeLeaf
}

func (n node) elem() node {
	switch n {
	case nodeRules:
		return nodeRule
	case nodeLeaf:
		return nodeLeaf
	}
	return nodeOther
}

// maxDepth bounds nesting; a policy needs four levels.
const maxDepth = 32

// shapeError is a checkShape finding, located by rule index (-1: not in a
// rule) until withRule can name the rule by its priority.
type shapeError struct {
	index int
	field string
	msg   string
}

func (e *shapeError) withRule(doc []byte) *Error {
	if e.index < 0 {
		return &Error{Field: e.field, Msg: e.msg}
	}
	prio := 0
	var w wireDoc
	if json.Unmarshal(doc, &w) == nil && e.index < len(w.Rules) {
		prio = peekPriority(w.Rules[e.index])
	}
	return ruleError(e.index, prio, e.field, "%s", e.msg)
}

// checkShape walks the document's tokens and refuses what encoding/json
// would let through: unknown or wrongly cased keys (it matches names
// case-insensitively), duplicate keys (it keeps the last), nulls (it
// ignores them), objects where arrays belong and trailing data.
func checkShape(doc []byte) *shapeError {
	w := &walker{dec: json.NewDecoder(bytes.NewReader(doc)), rule: -1}
	if err := w.value(nodeDoc, 0); err != nil {
		return err
	}
	if _, err := w.dec.Token(); !errors.Is(err, io.EOF) {
		return &shapeError{index: -1, msg: "data after the end of the policy document"}
	}
	return nil
}

type walker struct {
	dec  *json.Decoder
	rule int      // index of the rule being walked, -1 outside rules
	path []string // from the rule when rule >= 0, else from the document
}

func (w *walker) fail(format string, args ...any) *shapeError {
	return &shapeError{index: w.rule, field: pathString(w.path), msg: fmt.Sprintf(format, args...)}
}

// pathString joins keys with dots and appends indexes: "a.b[2]".
func pathString(segs []string) string {
	var b strings.Builder
	for _, s := range segs {
		if b.Len() > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func (w *walker) value(n node, depth int) *shapeError {
	if depth > maxDepth {
		return w.fail("nested more than %d levels deep", maxDepth)
	}
	tok, err := w.dec.Token()
	if err != nil {
		return w.fail("malformed JSON: %v", err)
	}
	if tok == nil && n != nodeOther {
		return w.fail("must not be null")
	}
	d, isDelim := tok.(json.Delim)
	switch {
	case n.fields() != nil && d != '{':
		return w.fail("must be a JSON object")
	case n == nodeRules && d != '[':
		return w.fail("must be a JSON array")
	case !isDelim:
		return nil
	case d == '{':
		return w.object(n, depth)
	default:
		return w.array(n, depth)
	}
}

func (w *walker) object(n node, depth int) *shapeError {
	allowed := n.fields()
	seen := map[string]bool{}
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return w.fail("malformed JSON: %v", err)
		}
		key := tok.(string) // object keys are always strings
		w.path = append(w.path, key)
		if err := w.checkKey(allowed, key, seen); err != nil {
			return err
		}
		seen[key] = true
		if err := w.value(n.child(key), depth+1); err != nil {
			return err
		}
		w.path = w.path[:len(w.path)-1]
	}
	_, err := w.dec.Token() // '}'
	if err != nil {
		return w.fail("malformed JSON: %v", err)
	}
	return nil
}

func (w *walker) checkKey(allowed []string, key string, seen map[string]bool) *shapeError {
	if seen[key] {
		return w.fail("duplicate field")
	}
	if allowed == nil {
		return nil
	}
	for _, a := range allowed {
		if a == key {
			return nil
		}
		if strings.EqualFold(a, key) {
			return w.fail("unknown field; field names are case-sensitive, did you mean %q?", a)
		}
	}
	return w.fail("unknown field; allowed: %s", strings.Join(allowed, ", "))
}

func (w *walker) array(n node, depth int) *shapeError {
	for i := 0; w.dec.More(); i++ {
		if n == nodeRules {
			w.rule, w.path = i, nil
		} else {
			w.path = append(w.path, fmt.Sprintf("[%d]", i))
		}
		if err := w.value(n.elem(), depth+1); err != nil {
			return err
		}
		if n != nodeRules {
			w.path = w.path[:len(w.path)-1]
		}
	}
	if n == nodeRules {
		w.rule, w.path = -1, []string{"rules"}
	}
	if _, err := w.dec.Token(); err != nil { // ']'
		return w.fail("malformed JSON: %v", err)
	}
	return nil
}
