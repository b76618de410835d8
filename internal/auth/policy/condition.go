package policy

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Condition keys.
const (
	KeySourceIP          = "moat:SourceIp"
	KeyCurrentTime       = "moat:CurrentTime"
	KeyListener          = "moat:Listener"
	KeyClientCertSubject = "moat:ClientCertSubject"
	KeyPrincipalType     = "moat:PrincipalType"
)

// condCheck is one compiled operator-key pair; it holds when test does.
type condCheck struct {
	op, key string
	test    func(*Request) bool
}

// compileConditions validates a Condition element and compiles it into
// checks that must all hold. Operators and keys are visited in sorted
// order so errors are deterministic.
func compileConditions(c map[string]map[string]stringList) ([]condCheck, error) {
	ops := make([]string, 0, len(c))
	for op := range c {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var out []condCheck
	for _, op := range ops {
		keys := make([]string, 0, len(c[op]))
		for k := range c[op] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			return nil, fmt.Errorf("condition %s: no keys", op)
		}
		for _, k := range keys {
			vals := c[op][k]
			if len(vals) == 0 {
				return nil, fmt.Errorf("condition %s: key %q has no values", op, k)
			}
			test, err := compileCheck(op, canonicalKey(k), vals)
			if err != nil {
				return nil, fmt.Errorf("condition %s %q: %w", op, k, err)
			}
			out = append(out, condCheck{op: op, key: canonicalKey(k), test: test})
		}
	}
	return out, nil
}

// canonicalKey spells a key as documented; keys match case-insensitively.
func canonicalKey(k string) string {
	for _, known := range []string{KeySourceIP, KeyCurrentTime, KeyListener, KeyClientCertSubject, KeyPrincipalType} {
		if strings.EqualFold(k, known) {
			return known
		}
	}
	return k
}

func compileCheck(op, key string, vals []string) (func(*Request) bool, error) {
	wantKey := func(allowed ...string) error {
		for _, a := range allowed {
			if key == a {
				return nil
			}
		}
		return fmt.Errorf("operator %s does not apply to key %q (use %s)", op, key, strings.Join(allowed, ", "))
	}
	switch op {
	case "IpAddress", "NotIpAddress":
		if err := wantKey(KeySourceIP); err != nil {
			return nil, err
		}
		prefixes := make([]netip.Prefix, len(vals))
		for i, v := range vals {
			p, err := parseCIDR(v)
			if err != nil {
				return nil, err
			}
			prefixes[i] = p
		}
		neg := op == "NotIpAddress"
		return func(r *Request) bool {
			ip := r.Context.SourceIP.Unmap()
			if !ip.IsValid() {
				return neg
			}
			for _, p := range prefixes {
				if p.Contains(ip) {
					return !neg
				}
			}
			return neg
		}, nil
	case "DateGreaterThan", "DateLessThan":
		if err := wantKey(KeyCurrentTime); err != nil {
			return nil, err
		}
		times := make([]time.Time, len(vals))
		for i, v := range vals {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return nil, fmt.Errorf("value %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", v)
			}
			times[i] = t
		}
		after := op == "DateGreaterThan"
		return func(r *Request) bool {
			if r.Context.Time.IsZero() {
				return false
			}
			for _, t := range times {
				if after && r.Context.Time.After(t) || !after && r.Context.Time.Before(t) {
					return true
				}
			}
			return false
		}, nil
	case "TimeOfDay":
		if err := wantKey(KeyCurrentTime); err != nil {
			return nil, err
		}
		windows := make([][2]int, len(vals))
		for i, v := range vals {
			w, err := parseWindow(v)
			if err != nil {
				return nil, err
			}
			windows[i] = w
		}
		return func(r *Request) bool {
			if r.Context.Time.IsZero() {
				return false
			}
			t := r.Context.Time.UTC()
			m := t.Hour()*60 + t.Minute()
			for _, w := range windows {
				if w[0] <= w[1] && m >= w[0] && m < w[1] || w[0] > w[1] && (m >= w[0] || m < w[1]) {
					return true
				}
			}
			return false
		}, nil
	case "StringEquals", "StringNotEquals", "StringLike", "StringNotLike":
		if err := wantKey(KeyListener, KeyClientCertSubject, KeyPrincipalType); err != nil {
			return nil, err
		}
		like := strings.HasPrefix(op, "StringLike") || op == "StringNotLike"
		neg := strings.Contains(op, "Not")
		vs := append([]string(nil), vals...)
		return func(r *Request) bool {
			got, ok := r.contextString(key)
			if !ok {
				return neg
			}
			for _, v := range vs {
				if like && glob(v, got) || !like && v == got {
					return !neg
				}
			}
			return neg
		}, nil
	}
	return nil, fmt.Errorf("unknown condition operator %q (known: IpAddress, NotIpAddress, DateGreaterThan, DateLessThan, TimeOfDay, StringEquals, StringNotEquals, StringLike, StringNotLike)", op)
}

// parseCIDR accepts a CIDR or a single address (a /32 or /128).
func parseCIDR(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("value %q is not a CIDR such as 10.0.0.0/8: %v", v, err)
		}
		if p != p.Masked() {
			return netip.Prefix{}, fmt.Errorf("value %q has host bits set; did you mean %s?", v, p.Masked())
		}
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p.Addr())), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("value %q is not an IP address or CIDR: %v", v, err)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("value %q: zoned addresses are not allowed", v)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 address loses when
// unmapped.
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// parseWindow parses "HH:MM-HH:MM" into minutes since midnight.
func parseWindow(v string) ([2]int, error) {
	from, to, ok := strings.Cut(v, "-")
	if !ok {
		return [2]int{}, fmt.Errorf("value %q: want a UTC window \"HH:MM-HH:MM\"", v)
	}
	var w [2]int
	for i, s := range []string{from, to} {
		t, err := time.Parse("15:04", strings.TrimSpace(s))
		if err != nil {
			return [2]int{}, fmt.Errorf("value %q: %q is not HH:MM", v, s)
		}
		w[i] = t.Hour()*60 + t.Minute()
	}
	if w[0] == w[1] {
		return [2]int{}, fmt.Errorf("value %q: empty window", v)
	}
	return w, nil
}

// glob matches s against a pattern where "*" is any run of characters and
// "?" one character. It runs in O(len(p)*len(s)) at worst, never
// exponentially.
func glob(p, s string) bool {
	pr, sr := []rune(p), []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(sr) {
		switch {
		case pi < len(pr) && pr[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(pr) && (pr[pi] == '?' || pr[pi] == sr[si]):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pr) && pr[pi] == '*' {
		pi++
	}
	return pi == len(pr)
}
