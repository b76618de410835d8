package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Version is the only policy language version this package accepts.
const Version = "2026-01-01"

// Limits on untrusted documents.
const (
	MaxDocumentBytes = 128 << 10
	MaxStatements    = 200
	maxDepth         = 16
)

// ErrInvalid classifies every parse error.
var ErrInvalid = errors.New("invalid policy")

// ParseError reports where a document is wrong. Statement is the
// statement's index from 0, or -1 for the document as a whole.
type ParseError struct {
	Policy    string
	Statement int
	Sid       string
	Err       error
}

func (e *ParseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %q", e.Policy)
	if e.Statement >= 0 {
		fmt.Fprintf(&b, " statement %d", e.Statement)
		if e.Sid != "" {
			fmt.Fprintf(&b, " (Sid %q)", e.Sid)
		}
	}
	return b.String() + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() []error { return []error{ErrInvalid, e.Err} }

// Kind says what a policy is attached to, which decides whether its
// statements carry a Principal element.
type Kind uint8

const (
	// Identity policies attach to users, groups and robots; no Principal.
	Identity Kind = iota + 1
	// Resource policies attach to one repository; Principal required.
	Resource
	// Listener policies bound a listener; Principal optional (default "*").
	Listener
)

func (k Kind) String() string {
	switch k {
	case Identity:
		return "identity"
	case Resource:
		return "resource"
	case Listener:
		return "listener"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Document is the JSON form of a policy.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one rule of a document.
type Statement struct {
	Sid       string                           `json:"Sid,omitempty"`
	Effect    Effect                           `json:"Effect"`
	Principal stringList                       `json:"Principal,omitempty"`
	Action    stringList                       `json:"Action"`
	Resource  stringList                       `json:"Resource,omitempty"`
	Condition map[string]map[string]stringList `json:"Condition,omitempty"`
}

// Effect is Allow or Deny.
type Effect string

// The two effects.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// stringList is a JSON string or array of strings.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		var s []string
		if err := json.Unmarshal(b, &s); err != nil {
			return errors.New("want a string or a list of strings")
		}
		*l = s
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*l = stringList{s}
	return nil
}

func (l stringList) MarshalJSON() ([]byte, error) {
	if len(l) == 1 {
		return json.Marshal(l[0])
	}
	return json.Marshal([]string(l))
}

// Policy is a parsed, validated and compiled document.
type Policy struct {
	Name     string
	Kind     Kind
	Document Document
	stmts    []*statement
}

// statement is a compiled Statement.
type statement struct {
	policy     *Policy
	index      int
	sid        string
	effect     Effect
	principals []principalRef // resource and listener policies only
	anyone     bool           // Principal "*"
	actions    actionSet
	resources  []resourcePattern
	conds      []condCheck
}

// Parse reads, validates and compiles a policy document of the given kind.
// Unknown or duplicate fields, unknown actions, malformed resources,
// principals, CIDRs and times are errors wrapping ErrInvalid.
func Parse(kind Kind, name string, data []byte) (*Policy, error) {
	docErr := func(err error) error { return &ParseError{Policy: name, Statement: -1, Err: err} }
	if kind < Identity || kind > Listener {
		return nil, docErr(fmt.Errorf("unknown policy kind %d", kind))
	}
	if name == "" {
		return nil, docErr(errors.New("empty policy name"))
	}
	if len(data) > MaxDocumentBytes {
		return nil, docErr(fmt.Errorf("document is %d bytes, limit %d", len(data), MaxDocumentBytes))
	}
	if err := checkKeys(data); err != nil {
		return nil, docErr(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var doc Document
	if err := dec.Decode(&doc); err != nil {
		return nil, docErr(fmt.Errorf("decode JSON: %w", err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, docErr(errors.New("trailing data after the JSON document"))
	}
	if doc.Version != Version {
		return nil, docErr(fmt.Errorf("Version %q: want %q", doc.Version, Version))
	}
	if len(doc.Statement) == 0 {
		return nil, docErr(errors.New("no statements"))
	}
	if len(doc.Statement) > MaxStatements {
		return nil, docErr(fmt.Errorf("%d statements, limit %d", len(doc.Statement), MaxStatements))
	}
	p := &Policy{Name: name, Kind: kind, Document: doc}
	sids := map[string]bool{}
	for i, st := range doc.Statement {
		cs, err := compileStatement(kind, st)
		if err == nil && st.Sid != "" {
			if sids[st.Sid] {
				err = fmt.Errorf("duplicate Sid")
			}
			sids[st.Sid] = true
		}
		if err != nil {
			return nil, &ParseError{Policy: name, Statement: i, Sid: st.Sid, Err: err}
		}
		cs.policy, cs.index = p, i
		p.stmts = append(p.stmts, cs)
	}
	return p, nil
}

func compileStatement(kind Kind, st Statement) (*statement, error) {
	cs := &statement{sid: st.Sid, effect: st.Effect}
	for _, r := range st.Sid {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') || len(st.Sid) > 128 {
			return nil, fmt.Errorf("Sid %q: up to 128 letters, digits, '-', '_' or '.'", st.Sid)
		}
	}
	if st.Effect != Allow && st.Effect != Deny {
		return nil, fmt.Errorf("Effect %q: want \"Allow\" or \"Deny\"", st.Effect)
	}
	if len(st.Action) == 0 {
		return nil, errors.New("no Action")
	}
	for _, a := range st.Action {
		set, err := compileAction(a)
		if err != nil {
			return nil, err
		}
		cs.actions |= set
	}
	if len(st.Resource) == 0 {
		return nil, errors.New("no Resource")
	}
	for _, r := range st.Resource {
		rp, err := compileResource(r)
		if err != nil {
			return nil, err
		}
		cs.resources = append(cs.resources, rp)
	}
	switch {
	case kind == Identity && len(st.Principal) > 0:
		return nil, errors.New("identity policies apply to what they are attached to and take no Principal")
	case kind == Resource && len(st.Principal) == 0:
		return nil, errors.New("resource policies need a Principal (\"user:NAME\", \"group:NAME\", \"robot:NAME\" or \"*\")")
	case kind == Listener && len(st.Principal) == 0:
		cs.anyone = true
	}
	for _, s := range st.Principal {
		if s == "*" {
			cs.anyone = true
			continue
		}
		pr, err := parsePrincipalRef(s)
		if err != nil {
			return nil, err
		}
		cs.principals = append(cs.principals, pr)
	}
	conds, err := compileConditions(st.Condition)
	if err != nil {
		return nil, err
	}
	cs.conds = conds
	return cs, nil
}

// checkKeys rejects objects with keys equal under case folding:
// encoding/json matches field names case-insensitively and keeps the last
// duplicate, so {"Effect":"Deny","effect":"Allow"} would silently allow.
func checkKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return walkJSON(dec, 0)
}

func walkJSON(dec *json.Decoder, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("JSON nested deeper than %d levels", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	seen := map[string]string{}
	for dec.More() {
		if d == '{' {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("decode JSON: %w", err)
			}
			k, _ := kt.(string)
			if prev, dup := seen[strings.ToLower(k)]; dup {
				return fmt.Errorf("duplicate key %q (also %q)", k, prev)
			}
			seen[strings.ToLower(k)] = k
		}
		if err := walkJSON(dec, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	return nil
}
