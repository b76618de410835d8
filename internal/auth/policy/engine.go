package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// PrincipalType says what kind of caller a principal is.
type PrincipalType string

// The principal types. Groups are not callers; they appear in
// Principal.Groups and in attachments.
const (
	User      PrincipalType = "user"
	Robot     PrincipalType = "robot"
	Group     PrincipalType = "group"
	Anonymous PrincipalType = "anonymous"
)

// Principal is the caller of a request.
type Principal struct {
	Type PrincipalType
	Name string
	// Groups the caller belongs to (users only).
	Groups []string
}

// String names the caller as the audit log and pushed-by records do:
// "user:alice", "robot:ci" or "anonymous".
func (p Principal) String() string {
	if p.Type == Anonymous || p.Type == "" {
		return string(Anonymous)
	}
	return string(p.Type) + ":" + p.Name
}

// PrincipalRef names a user, group or robot, as in "group:team-a".
type PrincipalRef struct {
	Type PrincipalType
	Name string
}

func (r PrincipalRef) String() string { return string(r.Type) + ":" + r.Name }

// ParsePrincipalRef parses "user:NAME", "group:NAME" or "robot:NAME".
func ParsePrincipalRef(s string) (PrincipalRef, error) {
	p, err := parsePrincipalRef(s)
	if err != nil {
		return PrincipalRef{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return PrincipalRef(p), nil
}

type principalRef PrincipalRef

func parsePrincipalRef(s string) (principalRef, error) {
	t, name, ok := strings.Cut(s, ":")
	switch PrincipalType(t) {
	case User, Group, Robot:
	default:
		ok = false
	}
	if !ok || name == "" || strings.ContainsAny(name, ": \t\r\n*") {
		return principalRef{}, fmt.Errorf("principal %q: want \"user:NAME\", \"group:NAME\", \"robot:NAME\" or \"*\"", s)
	}
	return principalRef{Type: PrincipalType(t), Name: name}, nil
}

// Context is what conditions look at.
type Context struct {
	SourceIP netip.Addr
	Time     time.Time
	// Listener names the listener the request arrived on; empty if none.
	Listener string
	// ClientCertSubject is the verified TLS client certificate's subject
	// (RFC 2253 form, x509.Certificate.Subject.String()); empty if none.
	ClientCertSubject string
}

// Request is one authorization question.
type Request struct {
	Principal Principal
	Action    Action
	// Resource is RegistryResource or RepositoryResource(name).
	Resource string
	Context  Context
}

func (r *Request) contextString(key string) (string, bool) {
	switch key {
	case KeyListener:
		return r.Context.Listener, r.Context.Listener != ""
	case KeyClientCertSubject:
		return r.Context.ClientCertSubject, r.Context.ClientCertSubject != ""
	case KeyPrincipalType:
		return string(r.Principal.Type), r.Principal.Type != ""
	}
	return "", false
}

// Reason says why a decision was made.
type Reason string

// The reasons.
const (
	Allowed              Reason = "allowed"
	ExplicitDeny         Reason = "explicit deny"
	ImplicitDeny         Reason = "no statement allows"
	ListenerDeny         Reason = "explicit deny in listener policy"
	ListenerImplicitDeny Reason = "listener policy does not allow"
)

// Decision is the answer to a Request. Policy, Kind, Statement and Sid
// name the deciding statement; they are empty (Statement -1) for an
// implicit deny with nothing to point at.
type Decision struct {
	Allowed   bool
	Reason    Reason
	Policy    string
	Kind      Kind
	Statement int
	Sid       string
}

func (d Decision) String() string {
	verdict := "deny"
	if d.Allowed {
		verdict = "allow"
	}
	if d.Policy == "" {
		return verdict + " (" + string(d.Reason) + ")"
	}
	s := fmt.Sprintf("%s (%s: %s policy %q statement %d", verdict, d.Reason, d.Kind, d.Policy, d.Statement)
	if d.Sid != "" {
		s += fmt.Sprintf(" Sid %q", d.Sid)
	}
	return s + ")"
}

// Attachment attaches an identity policy to users, groups and robots.
type Attachment struct {
	Policy *Policy
	To     []PrincipalRef
}

// Set is everything an Engine is compiled from.
type Set struct {
	Identity []Attachment
	// Repositories maps a repository name to its resource policies.
	Repositories map[string][]*Policy
	// Listeners maps a listener name to its policy.
	Listeners map[string]*Policy
}

// Engine is an immutable compiled Set, safe for concurrent use.
type Engine struct {
	identity   map[PrincipalRef]*bucket
	repository map[string]*bucket
	listener   map[string]*bucket
	// listenerPolicy names each listener's policy, for implicit denies.
	listenerPolicy map[string]string
}

// bucket indexes statements by action bit, then by resource.
type bucket [len(knownActions)]resIndex

type resIndex struct {
	any    []*ordered
	exact  map[string][]*ordered
	prefix map[string][]*ordered // key ends in "/"
}

// ordered is a statement with its global rank, so the deciding statement
// is the same whichever index found it first.
type ordered struct {
	*statement
	rank int
}

func (b *bucket) add(o *ordered) {
	for i := range b {
		if o.actions&(1<<i) == 0 {
			continue
		}
		ri := &b[i]
		for _, r := range o.resources {
			switch r.kind {
			case resAny:
				ri.any = appendOnce(ri.any, o)
			case resExact:
				if ri.exact == nil {
					ri.exact = map[string][]*ordered{}
				}
				ri.exact[r.value] = appendOnce(ri.exact[r.value], o)
			case resPrefix:
				if ri.prefix == nil {
					ri.prefix = map[string][]*ordered{}
				}
				ri.prefix[r.value] = appendOnce(ri.prefix[r.value], o)
			}
		}
	}
}

func appendOnce(s []*ordered, o *ordered) []*ordered {
	if n := len(s); n > 0 && s[n-1] == o {
		return s
	}
	return append(s, o)
}

// Compile builds an Engine. Policies must be of the kind their place in
// the Set implies.
func Compile(set Set) (*Engine, error) {
	e := &Engine{
		identity:   map[PrincipalRef]*bucket{},
		repository: map[string]*bucket{},
		listener:   map[string]*bucket{},

		listenerPolicy: map[string]string{},
	}
	rank := 0
	add := func(b *bucket, p *Policy) {
		for _, st := range p.stmts {
			rank++
			b.add(&ordered{statement: st, rank: rank})
		}
	}
	for _, a := range set.Identity {
		if a.Policy == nil || a.Policy.Kind != Identity {
			return nil, fmt.Errorf("attach policy: %w: not an identity policy", ErrInvalid)
		}
		for _, to := range a.To {
			if _, err := parsePrincipalRef(to.String()); err != nil {
				return nil, fmt.Errorf("attach policy %q: %w: %w", a.Policy.Name, ErrInvalid, err)
			}
			b := e.identity[to]
			if b == nil {
				b = new(bucket)
				e.identity[to] = b
			}
			add(b, a.Policy)
		}
	}
	for repo, ps := range set.Repositories {
		b := new(bucket)
		for _, p := range ps {
			if p == nil || p.Kind != Resource {
				return nil, fmt.Errorf("repository %q: %w: not a resource policy", repo, ErrInvalid)
			}
			add(b, p)
		}
		e.repository[repo] = b
	}
	for name, p := range set.Listeners {
		if p == nil || p.Kind != Listener {
			return nil, fmt.Errorf("listener %q: %w: not a listener policy", name, ErrInvalid)
		}
		b := new(bucket)
		add(b, p)
		e.listener[name] = b
		e.listenerPolicy[name] = p.Name
	}
	return e, nil
}

// verdict accumulates the lowest-ranked matching Allow and Deny.
type verdict struct {
	allow, deny *ordered
}

func (v *verdict) note(o *ordered) {
	if o.effect == Deny {
		if v.deny == nil || o.rank < v.deny.rank {
			v.deny = o
		}
	} else if v.allow == nil || o.rank < v.allow.rank {
		v.allow = o
	}
}

// applies reports whether a resource or listener statement names the
// principal, and whether all its conditions hold.
func applies(o *ordered, r *Request, checkPrincipal bool) bool {
	if checkPrincipal && !o.anyone && !namesPrincipal(o.statement, &r.Principal) {
		return false
	}
	for i := range o.conds {
		if !o.conds[i].test(r) {
			return false
		}
	}
	return true
}

func namesPrincipal(st *statement, p *Principal) bool {
	for _, ref := range st.principals {
		if ref.Type == p.Type && ref.Name == p.Name {
			return true
		}
		if ref.Type == Group && p.Type == User {
			for _, g := range p.Groups {
				if g == ref.Name {
					return true
				}
			}
		}
	}
	return false
}

// visit feeds every statement of b indexed for action bit i and matching
// resource into v.
func visit(b *bucket, i int, r *Request, checkPrincipal bool, v *verdict) {
	ri := &b[i]
	for _, o := range ri.any {
		if applies(o, r, checkPrincipal) {
			v.note(o)
		}
	}
	for _, o := range ri.exact[r.Resource] {
		if applies(o, r, checkPrincipal) {
			v.note(o)
		}
	}
	if len(ri.prefix) == 0 {
		return
	}
	// Every "/" in the resource ends a prefix that a "PREFIX/*" pattern
	// may have; a final "/" has nothing after it and matches nothing.
	res := r.Resource
	for j := 0; j < len(res)-1; j++ {
		if res[j] != '/' {
			continue
		}
		for _, o := range ri.prefix[res[:j+1]] {
			if applies(o, r, checkPrincipal) {
				v.note(o)
			}
		}
	}
}

func actionIndex(a Action) int {
	for i, k := range knownActions {
		if k == a {
			return i
		}
	}
	bit, ok := actionBit(a)
	if !ok {
		return -1
	}
	for i := range knownActions {
		if bit == 1<<i {
			return i
		}
	}
	return -1
}

// Decide answers r. Unknown actions and malformed resources are denied.
func (e *Engine) Decide(r Request) Decision {
	i := actionIndex(r.Action)
	if i < 0 {
		return Decision{Reason: ImplicitDeny, Statement: -1}
	}
	var v verdict
	e.visitIdentity(i, &r, &v, visit)
	if repo, ok := strings.CutPrefix(r.Resource, RepositoryPrefix); ok {
		if b := e.repository[repo]; b != nil {
			visit(b, i, &r, true, &v)
		}
	}
	return e.finish(i, &r, &v, visit)
}

type visitor func(b *bucket, i int, r *Request, checkPrincipal bool, v *verdict)

func (e *Engine) visitIdentity(i int, r *Request, v *verdict, fn visitor) {
	if r.Principal.Type == Anonymous || r.Principal.Type == "" {
		return
	}
	if b := e.identity[PrincipalRef{Type: r.Principal.Type, Name: r.Principal.Name}]; b != nil {
		fn(b, i, r, false, v)
	}
	if r.Principal.Type != User {
		return
	}
	for _, g := range r.Principal.Groups {
		if b := e.identity[PrincipalRef{Type: Group, Name: g}]; b != nil {
			fn(b, i, r, false, v)
		}
	}
}

func (e *Engine) finish(i int, r *Request, v *verdict, fn visitor) Decision {
	if v.deny != nil {
		return decided(v.deny, false, ExplicitDeny)
	}
	if v.allow == nil {
		return Decision{Reason: ImplicitDeny, Statement: -1}
	}
	if r.Context.Listener != "" {
		if b := e.listener[r.Context.Listener]; b != nil {
			var lv verdict
			fn(b, i, r, true, &lv)
			switch {
			case lv.deny != nil:
				return decided(lv.deny, false, ListenerDeny)
			case lv.allow == nil:
				return Decision{Reason: ListenerImplicitDeny, Policy: e.listenerPolicy[r.Context.Listener], Kind: Listener, Statement: -1}
			}
		}
	}
	return decided(v.allow, true, Allowed)
}

func decided(o *ordered, allowed bool, reason Reason) Decision {
	return Decision{
		Allowed:   allowed,
		Reason:    reason,
		Policy:    o.policy.Name,
		Kind:      o.policy.Kind,
		Statement: o.index,
		Sid:       o.sid,
	}
}

// DecideAny answers whether r's principal may perform r's action on at
// least one resource; r.Resource is ignored. Token issuance uses it for
// registry-wide scopes such as the catalog, whose entries are then
// filtered one repository at a time with Decide. A Deny counts only when
// it covers every repository ("*" or "repository/*"); an Allow counts on
// any resource.
func (e *Engine) DecideAny(r Request) Decision {
	i := actionIndex(r.Action)
	if i < 0 {
		return Decision{Reason: ImplicitDeny, Statement: -1}
	}
	var v verdict
	e.visitIdentity(i, &r, &v, visitAll)
	for _, b := range e.repository {
		visitAll(b, i, &r, true, &v)
	}
	return e.finish(i, &r, &v, visitAll)
}

func visitAll(b *bucket, i int, r *Request, checkPrincipal bool, v *verdict) {
	ri := &b[i]
	note := func(o *ordered, coversAll bool) {
		if (coversAll || o.effect == Allow) && applies(o, r, checkPrincipal) {
			v.note(o)
		}
	}
	for _, o := range ri.any {
		note(o, true)
	}
	for _, os := range ri.exact {
		for _, o := range os {
			note(o, false)
		}
	}
	for p, os := range ri.prefix {
		for _, o := range os {
			note(o, p == RepositoryPrefix)
		}
	}
}
