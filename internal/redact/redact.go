// Package redact removes credentials from text that moat puts in its
// output (findings, messages), so a secret a user wrote into an image or
// a Dockerfile is reported without being repeated.
//
// Limits: it works on the text as written, without parsing it as a URL,
// so it also handles strings net/url rejects; it hides what it is told to
// and does not search text for secrets (internal/scan/secrets does).
package redact

import "strings"

// URL returns u without its user information, query and fragment, the
// parts of a URL that carry credentials (https://user:pw@host/path?sig=x
// becomes https://***@host/path). Everything else is kept as written,
// a trailing "/" included. A string without "://" loses only its query
// and fragment.
func URL(u string) string {
	u, _, _ = strings.Cut(u, "?")
	u, _, _ = strings.Cut(u, "#")
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	host, path, hasPath := strings.Cut(rest, "/")
	if i := strings.LastIndex(host, "@"); i >= 0 {
		host = "***@" + host[i+1:]
	}
	if hasPath {
		return scheme + "://" + host + "/" + path
	}
	return scheme + "://" + host
}
