// Package policy parses and evaluates moat's IAM-style access policies.
//
// A policy is a JSON document:
//
//	{
//	  "Version": "2026-01-01",
//	  "Statement": [{
//	    "Sid": "TeamAPush",
//	    "Effect": "Allow",
//	    "Action": ["registry:Pull", "registry:Push"],
//	    "Resource": "repository/team-a/*",
//	    "Condition": {"IpAddress": {"moat:SourceIp": "10.0.0.0/8"}}
//	  }]
//	}
//
// Actions are "service:Name" (see [Actions]); "*", "service:*" and a
// trailing "*" after a name prefix ("registry:List*") are wildcards, and
// matching is case-insensitive. Every action pattern must name at least one
// known action, so a typo is a parse error rather than a silent no-op.
//
// Resources are "*", "registry" (registry-wide operations: the catalog as a
// whole and administration), "repository/NAME" for one repository, and
// "repository/PREFIX/*" or "repository/*" for every repository below a
// prefix. A wildcard is allowed only as a whole final path segment, so
// "repository/team-a/*" matches "repository/team-a/app" and
// "repository/team-a/app/dev" but never "repository/team-ab/app", and it
// does NOT match the repository "team-a" itself: a repository named like the
// prefix is a different repository and must be listed on its own.
//
// Conditions (all operators AND, all keys within an operator AND, the
// values of one key OR) use these operators and keys:
//
//	IpAddress, NotIpAddress          moat:SourceIp        CIDR or address
//	DateGreaterThan, DateLessThan    moat:CurrentTime     RFC 3339 instant
//	TimeOfDay                        moat:CurrentTime     "HH:MM-HH:MM" in UTC; a
//	                                                      window may wrap midnight
//	StringEquals, StringNotEquals,   moat:Listener,       exact or glob ("*" any run,
//	StringLike, StringNotLike        moat:ClientCertSubject, "?" one character)
//	                                 moat:PrincipalType
//
// A key missing from the request (no client certificate, no listener)
// makes a positive operator false and a negated one true, as in IAM.
//
// Evaluation ([Engine.Decide]) is default deny. Identity policies are
// attached to users, groups and robots; resource policies are attached to
// one repository and name who they apply to in a Principal element
// ("user:NAME", "group:NAME", "robot:NAME" or "*" for everyone, anonymous
// included). A request is allowed when an identity or resource statement
// allows it and no applicable statement denies it; an explicit Deny always
// wins. A listener may carry its own policy bounding everything reachable
// through it, like a cloud private-endpoint policy: the request must also
// be allowed by that policy and not denied by it. Every decision names the
// policy and statement that decided it, for "moat policy simulate".
//
// Policies are compiled once into an immutable [Engine]; callers swap in a
// new engine when policies change. Statements are indexed by principal, by
// action (a bit set over the known actions) and by resource (exact name or
// path prefix), so a decision costs a few map lookups per path segment of
// the repository name regardless of how many policies are loaded.
//
// Limits: no NotAction/NotResource/NotPrincipal, no policy variables, time
// windows only in UTC.
package policy
