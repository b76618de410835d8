package audit

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// Op is one audited operation as the code that performed it (or refused
// it) saw it. [Op.Entry] turns it into the Entry the log stores: every
// part of moat — the registry, the token endpoint, the guard, the
// management API, the command line, and later the events outbox — builds
// its entries this one way.
type Op struct {
	// Actor is who acted: "user:alice", "robot:ci", "local:root", the name
	// a refused caller presented ("login:bob"), "invalid-token". Empty is
	// recorded as "anonymous".
	Actor    string
	Action   string // "registry:Push", "auth:IssueToken", "admin:CreateUser"...
	Resource string // "repository/team-a/app", "user/bob", "registry"...
	SourceIP string
	// Details are kept as a JSON object. Entry adds "error" (a failure's
	// text) or "reason" (a refusal's class) from Err.
	Details map[string]any
	// Err is the outcome. nil is a success. A Refusal (found with
	// errors.As) is recorded with its result and reason class and without
	// its text, which may carry what the caller presented. Any other
	// error is a failure, recorded with its text.
	Err error
}

// Refusal is an error that refuses a caller: bad credentials, an invalid
// token, a policy denial. [Op.Entry] records it with the result and
// reason it names, and [Log.Record] aggregates identical ones.
type Refusal interface {
	error
	// AuditRefusal returns ResultDenied or ResultFailure and a short,
	// fixed reason class such as "invalid-token" or "policy-denied" —
	// never anything the caller sent.
	AuditRefusal() (result, reason string)
}

// Reason classes of refusals recorded by moat.
const (
	// ReasonAuthRequired: no credentials where they are needed.
	ReasonAuthRequired = "authentication-required"
	// ReasonBadCredentials: a wrong, unknown, disabled or expired user
	// name, password, robot secret or access token.
	ReasonBadCredentials = "bad-credentials"
	// ReasonMalformedCredentials: an Authorization header that does not
	// parse, or a scheme this endpoint does not take.
	ReasonMalformedCredentials = "malformed-credentials"
	// ReasonInvalidToken: a bearer token that is forged, expired, for
	// another service, or otherwise does not verify.
	ReasonInvalidToken = "invalid-token"
	// ReasonAccountUnusable: a valid token whose account or credential
	// is gone, disabled or revoked.
	ReasonAccountUnusable = "account-unusable"
	// ReasonInsufficientScope: a bearer token that does not grant the
	// action.
	ReasonInsufficientScope = "insufficient-scope"
	// ReasonPolicyDenied: the policies do not allow the action.
	ReasonPolicyDenied = "policy-denied"
	// ReasonInvalidRequest: a request the endpoint cannot take.
	ReasonInvalidRequest = "invalid-request"
	// ReasonThrottled: too many failed logins from the source or for the
	// account; refused before the credentials were checked.
	ReasonThrottled = "throttled"
)

// RefusalError is the Refusal that Refuse returns.
type RefusalError struct {
	Result, Reason string
	Err            error
}

// Refuse wraps err as a refusal with result (ResultDenied or
// ResultFailure) and reason class.
func Refuse(result, reason string, err error) error {
	return &RefusalError{Result: result, Reason: reason, Err: err}
}

func (e *RefusalError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *RefusalError) Unwrap() error { return e.Err }

// AuditRefusal implements Refusal.
func (e *RefusalError) AuditRefusal() (result, reason string) { return e.Result, e.Reason }

// refusalOf finds the Refusal in err's chain.
func refusalOf(err error) (result, reason string, ok bool) {
	var r Refusal
	if err == nil || !errors.As(err, &r) {
		return "", "", false
	}
	result, reason = r.AuditRefusal()
	return result, reason, true
}

// Entry builds the entry to store. Text fields are made storable rather
// than rejected — invalid UTF-8 and NUL bytes replaced, anything longer
// than the field limit cut with a trailing "…" — because refusals carry
// what callers presented, and a refusal must never go unrecorded for
// being odd. Details that cannot be encoded are replaced by a note
// saying so.
func (o Op) Entry() Entry {
	actor := o.Actor
	if actor == "" {
		actor = "anonymous"
	}
	e := Entry{Actor: field(actor), Action: field(o.Action), Resource: field(o.Resource), SourceIP: field(o.SourceIP), Result: ResultSuccess}
	details := o.Details
	if o.Err != nil {
		details = make(map[string]any, len(o.Details)+1)
		for k, v := range o.Details {
			details[k] = v
		}
		if result, reason, ok := refusalOf(o.Err); ok {
			e.Result = result
			details["reason"] = reason
		} else {
			e.Result = ResultFailure
			details["error"] = o.Err.Error()
		}
	}
	if len(details) > 0 {
		b, err := json.Marshal(details)
		if err != nil {
			b, _ = json.Marshal(map[string]string{"details_unencodable": err.Error()})
		}
		e.Details = b
	}
	return e
}

// field makes s storable in a text field of at most maxField bytes.
func field(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= maxField {
		return s
	}
	const mark = "…"
	return cutUTF8(s, maxField-len(mark)) + mark
}

// cutUTF8 returns the longest prefix of s of at most n bytes that ends
// on a rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
