package token

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidChallenge classifies malformed WWW-Authenticate values.
var ErrInvalidChallenge = errors.New("invalid WWW-Authenticate challenge")

// Challenge is one authentication challenge. Scheme is as sent; Params
// keys are lower-cased (RFC 7235 makes them case-insensitive).
type Challenge struct {
	Scheme string
	Params map[string]string
}

// BearerChallenge builds the WWW-Authenticate value a registry sends with
// a 401: realm and service always, scope when the request needs one, and
// an RFC 6750 error code ("invalid_token", "insufficient_scope") if set.
func BearerChallenge(realm, service string, scopes []Scope, errCode string) string {
	var b strings.Builder
	b.WriteString("Bearer ")
	writeParam(&b, "realm", realm)
	b.WriteByte(',')
	writeParam(&b, "service", service)
	if len(scopes) > 0 {
		b.WriteByte(',')
		writeParam(&b, "scope", FormatScopes(scopes))
	}
	if errCode != "" {
		b.WriteByte(',')
		writeParam(&b, "error", errCode)
	}
	return b.String()
}

// BasicChallenge builds a Basic challenge for clients that send
// credentials directly to /v2/.
func BasicChallenge(realm string) string {
	var b strings.Builder
	b.WriteString("Basic ")
	writeParam(&b, "realm", realm)
	return b.String()
}

func writeParam(b *strings.Builder, k, v string) {
	b.WriteString(k)
	b.WriteString(`="`)
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}

// maxChallengeLen bounds the header value parsed.
const maxChallengeLen = 16 << 10

// ParseChallenges parses a WWW-Authenticate value holding one or more
// challenges, each a scheme followed by comma-separated auth-params
// (token or quoted-string values). token68 credentials are not supported.
func ParseChallenges(h string) ([]Challenge, error) {
	if len(h) > maxChallengeLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidChallenge, maxChallengeLen)
	}
	p := &challengeParser{s: h}
	var out []Challenge
	for {
		p.skipSpaceAndCommas()
		if p.done() {
			break
		}
		scheme := p.token()
		if scheme == "" {
			return nil, p.errorf("expected an auth scheme")
		}
		c := Challenge{Scheme: scheme, Params: map[string]string{}}
		for {
			// A param is "name=value"; a token not followed by "=" starts
			// the next challenge.
			p.skipSpaceAndCommas()
			save := p.i
			name := p.token()
			if name == "" {
				break
			}
			p.skipSpace()
			if p.done() || p.s[p.i] != '=' {
				p.i = save
				break
			}
			p.i++
			p.skipSpace()
			val, err := p.value()
			if err != nil {
				return nil, err
			}
			key := strings.ToLower(name)
			if _, dup := c.Params[key]; dup {
				return nil, p.errorf("duplicate parameter %q", name)
			}
			c.Params[key] = val
			p.skipSpace()
			if !p.done() && p.s[p.i] != ',' {
				return nil, p.errorf("expected ',' after parameter %q", name)
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrInvalidChallenge)
	}
	return out, nil
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) done() bool { return p.i >= len(p.s) }

func (p *challengeParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrInvalidChallenge, p.i, fmt.Sprintf(format, args...))
}

func (p *challengeParser) skipSpace() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *challengeParser) skipSpaceAndCommas() {
	for !p.done() && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

// isTchar reports an RFC 7230 token character.
func isTchar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *challengeParser) token() string {
	start := p.i
	for !p.done() && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *challengeParser) value() (string, error) {
	if p.done() {
		return "", p.errorf("missing value")
	}
	if p.s[p.i] != '"' {
		v := p.token()
		if v == "" {
			return "", p.errorf("expected a token or quoted string")
		}
		return v, nil
	}
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			p.i++
			if p.done() {
				return "", p.errorf("unterminated escape")
			}
			b.WriteByte(p.s[p.i])
		case c < 0x20 && c != '\t' || c == 0x7f:
			return "", p.errorf("control character in quoted string")
		default:
			b.WriteByte(c)
		}
		p.i++
	}
	return "", p.errorf("unterminated quoted string")
}
