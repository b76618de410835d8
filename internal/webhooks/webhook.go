package webhooks

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Errors, classified with errors.Is.
var (
	// ErrInvalid: a webhook or argument is malformed; nothing was stored.
	ErrInvalid = errors.New("webhooks: invalid")
	// ErrNotFound: no webhook has the name.
	ErrNotFound = errors.New("webhooks: not found")
	// ErrExists: a webhook of that name exists already.
	ErrExists = errors.New("webhooks: already exists")
	// ErrManaged: the webhook is declared in the configuration file, which
	// is its only source of truth; the API may not change or delete it.
	ErrManaged = errors.New("webhooks: managed by the configuration file")
)

// Source says where a webhook is defined.
type Source string

// The sources.
const (
	SourceAPI    Source = "api"
	SourceConfig Source = "config"
)

// TestEvent is the type of the ping SendTest delivers.
const TestEvent = "dev.moat.webhook.test"

// Webhook is an HTTP receiver of events.
type Webhook struct {
	// Name identifies the webhook: lowercase letters, digits, '.', '_'
	// and '-', at most 64, starting and ending with a letter or digit.
	Name string
	// URL receives a POST per event: http or https, without user
	// information (credentials belong in the path, query or the secret).
	URL string
	// Secret is the HMAC-SHA256 key signing each body, 16 to 1024 bytes.
	// It is write-only: the service never returns it.
	Secret string
	// Events filters by event type: exact types or prefixes ending in
	// ".*" ("dev.moat.finding.*"), or "*". Empty means all.
	Events []string
	// Repositories filters by the event's repository with wildcards, as
	// ECR's repository filters: "*" matches any run of characters, '/'
	// included ("team-a/*"). Empty means all; an event without a
	// repository then matches only a webhook without this filter.
	Repositories []string
	// Enabled webhooks get events; a disabled one gets none, and its
	// pending deliveries end as failed.
	Enabled bool
	// Source is set by the service.
	Source               Source
	CreatedAt, UpdatedAt time.Time
}

// Change is an update of a webhook; a nil field keeps its value.
type Change struct {
	URL          *string
	Secret       *string
	Events       *[]string
	Repositories *[]string
	Enabled      *bool
}

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)
	// An event type filter: dot-separated words, optionally ending ".*".
	eventRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?$`)
	repoRE  = regexp.MustCompile(`^[a-z0-9._/*-]+$`)
)

// Bounds on what a webhook may hold.
const (
	maxURL       = 2048
	minSecret    = 16
	maxSecret    = 1024
	maxFilters   = 100
	maxFilterLen = 256
)

// validate checks every field of w and reports each problem at once.
func (w *Webhook) validate() error {
	var errs []error
	if !nameRE.MatchString(w.Name) {
		errs = append(errs, fmt.Errorf("%w: name %q: use lowercase letters, digits, '.', '_' and '-' (at most 64, starting and ending with a letter or digit)", ErrInvalid, w.Name))
	}
	if err := checkURL(w.URL); err != nil {
		errs = append(errs, err)
	}
	if err := checkSecret(w.Secret); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, checkFilters("events", w.Events, func(f string) bool { return f == "*" || eventRE.MatchString(f) },
		`an event type such as "dev.moat.image.pushed", a prefix such as "dev.moat.finding.*", or "*"`))
	errs = append(errs, checkFilters("repositories", w.Repositories, repoRE.MatchString,
		`a repository name with "*" wildcards, such as "team-a/*"`))
	return errors.Join(errs...)
}

// checkURL admits absolute http and https URLs without user information.
// Operators configure webhook URLs, so internal addresses are allowed on
// purpose (a receiver next to the registry is the common case); what is
// refused are schemes the delivery client must never speak and
// credentials that would be logged and shown with the URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fmt.Errorf("%w: url is required", ErrInvalid)
	case len(raw) > maxURL:
		return fmt.Errorf("%w: url longer than %d bytes", ErrInvalid, maxURL)
	case err != nil:
		return fmt.Errorf("%w: url: %v", ErrInvalid, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: url scheme %q: only http and https are allowed", ErrInvalid, u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%w: url %q has no host", ErrInvalid, raw)
	case u.User != nil:
		return fmt.Errorf("%w: url must not contain user information; put credentials in the secret or the receiver's path", ErrInvalid)
	}
	return nil
}

func checkSecret(s string) error {
	if len(s) < minSecret || len(s) > maxSecret {
		return fmt.Errorf("%w: secret must be %d to %d bytes (got %d)", ErrInvalid, minSecret, maxSecret, len(s))
	}
	return nil
}

func checkFilters(key string, fs []string, ok func(string) bool, want string) error {
	if len(fs) > maxFilters {
		return fmt.Errorf("%w: %s: at most %d filters", ErrInvalid, key, maxFilters)
	}
	for _, f := range fs {
		if len(f) > maxFilterLen || !ok(f) {
			return fmt.Errorf("%w: %s filter %q: want %s", ErrInvalid, key, f, want)
		}
	}
	return nil
}

// apply returns w changed by c.
func (c Change) apply(w Webhook) Webhook {
	if c.URL != nil {
		w.URL = *c.URL
	}
	if c.Secret != nil {
		w.Secret = *c.Secret
	}
	if c.Events != nil {
		w.Events = *c.Events
	}
	if c.Repositories != nil {
		w.Repositories = *c.Repositories
	}
	if c.Enabled != nil {
		w.Enabled = *c.Enabled
	}
	return w
}

// wantsType reports whether an event of type typ passes the filters.
func wantsType(filters []string, typ string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if f == "*" || f == typ {
			return true
		}
		if prefix, ok := strings.CutSuffix(f, "*"); ok && strings.HasPrefix(typ, prefix) {
			return true
		}
	}
	return false
}

// wantsRepository reports whether an event about repo ("" when it names
// none) passes the filters.
func wantsRepository(filters []string, repo string) bool {
	if len(filters) == 0 {
		return true
	}
	if repo == "" {
		return false
	}
	for _, f := range filters {
		if wildcard(f, repo) {
			return true
		}
	}
	return false
}

// wildcard matches s against pattern p, where '*' stands for any run of
// characters. On a mismatch it backtracks only to the last star, so the
// cost is O(len(p)·len(s)) at worst.
func wildcard(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
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
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
