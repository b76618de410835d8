package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/moat-dev/moat/internal/auth/policy"
	"github.com/moat-dev/moat/internal/auth/throttle"
)

// Credential prefixes on the wire.
const (
	RobotUserPrefix = "robot+"
	robotSecretPfx  = "moat_rbt_"
	tokenSecretPfx  = "moat_pat_"
	// AdminUser is created on first start; AdminGroup holds it. Wiring
	// attaches an allow-everything policy to AdminGroup.
	AdminUser  = "admin"
	AdminGroup = "admins"
	// EnvAdminPassword names the variable Bootstrap reads.
	EnvAdminPassword = "MOAT_ADMIN_PASSWORD"
)

// Password length bounds.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// Principal is an authenticated caller.
type Principal struct {
	policy.Principal
	// AccountID is the account's id, which no other account ever has:
	// a deleted and re-created account of the same name has another.
	AccountID int64
	// Credential names what was presented, so that tokens issued for it
	// can be checked against it later ([Service.Revalidate]):
	// "password:ACCOUNT:FINGERPRINT", "robot:ACCOUNT:FINGERPRINT" or
	// "pat:ACCOUNT:TOKEN:FINGERPRINT", the fingerprint being of the
	// password's or secret's stored hash. Empty for a principal from
	// Lookup.
	Credential string
	// ExpiresAt is when the credential expires; zero if never.
	ExpiresAt time.Time
}

// Credential kinds, the first field of Principal.Credential.
const (
	CredentialPassword = "password"
	CredentialRobot    = "robot"
	CredentialToken    = "pat"
)

// CredentialKind returns the kind of a credential string
// (CredentialPassword, CredentialRobot, CredentialToken), or "".
func CredentialKind(credential string) string {
	kind, _, _ := strings.Cut(credential, ":")
	switch kind {
	case CredentialPassword, CredentialRobot, CredentialToken:
		return kind
	}
	return ""
}

// Subject is the principal as "type:name", a token's "sub".
func (p Principal) Subject() string { return string(p.Type) + ":" + p.Name }

// Service applies the identity rules over a Store.
type Service struct {
	store       Store
	now         func() time.Time
	argon       Argon2Params
	tokenTTL    time.Duration
	maxTokenTTL time.Duration
	limits      LoginLimits
	hashing     *throttle.Pool
	logins      *loginThrottle
	// checks runs identical password checks in flight at once only once:
	// a client sending the same Basic credentials on parallel requests
	// costs one hash, not one of its source's few hashing slots each.
	checks singleflight.Group
	// decoy is a hash to verify against for unknown users, so they cost
	// as much as real ones. It is made on first need, not at start-up.
	decoy func() (string, error)

	cacheKey [32]byte
	cacheTTL time.Duration
	mu       sync.Mutex
	cache    map[[32]byte]cached

	// epoch changes whenever identity state may have changed: after a
	// change made through this Service, and when Refresh sees a new
	// store generation (a change made by another process). Caches of
	// identity state, here and in callers, keep the epoch they were
	// filled at and are good while it is current.
	epoch atomic.Uint64
	genMu sync.Mutex
	gen   int64
	// genKnown is false until Refresh has read the generation once.
	genKnown bool
}

type cached struct {
	p       Principal
	expires time.Time
	epoch   uint64
}

// maxCache bounds remembered password checks; when full it is cleared.
const maxCache = 10000

// Option configures NewService.
type Option func(*Service) error

// WithClock sets the clock. Default: time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Service) error {
		if now == nil {
			return errors.New("nil clock")
		}
		s.now = now
		return nil
	}
}

// WithArgon2 sets the cost of new password hashes. Default: DefaultArgon2().
func WithArgon2(p Argon2Params) Option {
	return func(s *Service) error {
		if err := p.validate(); err != nil {
			return err
		}
		s.argon = p
		return nil
	}
}

// WithTokenTTL sets the default personal access token lifetime, at most
// the maximum. Default: 12 hours.
func WithTokenTTL(d time.Duration) Option {
	return func(s *Service) error {
		if d < time.Minute || d > maxTokenTTLLimit {
			return fmt.Errorf("token lifetime %v outside 1m..%v", d, maxTokenTTLLimit)
		}
		s.tokenTTL = d
		return nil
	}
}

// WithMaxTokenTTL caps the lifetime a personal access token may be
// given. Default: DefaultMaxTokenTTL.
func WithMaxTokenTTL(d time.Duration) Option {
	return func(s *Service) error {
		if d < time.Minute || d > maxTokenTTLLimit {
			return fmt.Errorf("maximum token lifetime %v outside 1m..%v", d, maxTokenTTLLimit)
		}
		s.maxTokenTTL = d
		return nil
	}
}

// Personal access token lifetimes.
const (
	DefaultTokenTTL    = 12 * time.Hour
	DefaultMaxTokenTTL = 30 * 24 * time.Hour
	// maxTokenTTLLimit bounds what WithMaxTokenTTL accepts.
	maxTokenTTLLimit = 366 * 24 * time.Hour
)

// WithMaxConcurrentHashes bounds password hashes running at once
// (LoginLimits.Hashing.Workers); apply it after WithLoginLimits.
// Default: 4.
func WithMaxConcurrentHashes(n int) Option {
	return func(s *Service) error {
		if n < 1 {
			return fmt.Errorf("max concurrent hashes %d < 1", n)
		}
		s.limits.Hashing.Workers = n
		return nil
	}
}

// WithPasswordCacheTTL sets how long a successful password check is
// remembered; 0 disables the cache. Default: 1 minute.
func WithPasswordCacheTTL(d time.Duration) Option {
	return func(s *Service) error {
		if d < 0 || d > 10*time.Minute {
			return fmt.Errorf("password cache TTL %v outside 0..10m", d)
		}
		s.cacheTTL = d
		return nil
	}
}

// NewService returns a Service over store.
func NewService(store Store, opts ...Option) (*Service, error) {
	if store == nil {
		return nil, errors.New("identity: nil store")
	}
	s := &Service{store: store, now: time.Now, argon: DefaultArgon2(), tokenTTL: DefaultTokenTTL, maxTokenTTL: DefaultMaxTokenTTL,
		limits: DefaultLoginLimits(), cacheTTL: time.Minute, cache: map[[32]byte]cached{}}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
	}
	if s.tokenTTL > s.maxTokenTTL {
		return nil, fmt.Errorf("identity: default token lifetime %v exceeds the maximum %v", s.tokenTTL, s.maxTokenTTL)
	}
	var err error
	if s.hashing, err = throttle.NewPool(s.limits.Hashing); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if s.logins, err = newLoginThrottle(s.limits); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if _, err := rand.Read(s.cacheKey[:]); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	s.decoy = sync.OnceValues(func() (string, error) { return HashPassword("unused", s.argon) })
	return s, nil
}

// hash runs fn on a hashing worker, shared fairly between the sources
// WithSource names; ctx bounds the wait. A source over its share, or a
// full queue, is refused at once with a *ThrottledError.
func (s *Service) hash(ctx context.Context, fn func()) error {
	err := s.hashing.Do(ctx, SourceFrom(ctx), fn)
	if errors.Is(err, throttle.ErrBusy) {
		return &ThrottledError{Wait: time.Second, Reason: "too many password checks pending"}
	}
	return err
}

func checkPassword(pw string) error {
	if len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return fmt.Errorf("password: %w: want %d to %d bytes", ErrInvalid, MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// CreateUser adds a user with a password.
func (s *Service) CreateUser(ctx context.Context, name, password string) (User, error) {
	if err := ValidName("user", name); err != nil {
		return User{}, err
	}
	if err := checkPassword(password); err != nil {
		return User{}, err
	}
	var (
		h   string
		err error
	)
	if herr := s.hash(ctx, func() { h, err = HashPassword(password, s.argon) }); herr != nil {
		return User{}, herr
	}
	if err != nil {
		return User{}, err
	}
	return s.store.CreateUser(ctx, User{Name: name, PasswordHash: h, CreatedAt: s.now().UTC()})
}

// SetPassword replaces a user's password. Refresh tokens obtained with
// the old password stop working.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	u, err := s.store.User(ctx, name)
	if err != nil {
		return err
	}
	if herr := s.hash(ctx, func() { u.PasswordHash, err = HashPassword(password, s.argon) }); herr != nil {
		return herr
	}
	if err != nil {
		return err
	}
	return s.changed(s.store.UpdateUser(ctx, u))
}

// SetUserDisabled disables or enables a user's logins and tokens.
func (s *Service) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	u, err := s.store.User(ctx, name)
	if err != nil {
		return err
	}
	u.Disabled = disabled
	return s.changed(s.store.UpdateUser(ctx, u))
}

// DeleteUser removes a user, its memberships, tokens and policy
// attachments.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	return s.changed(s.store.DeleteUser(ctx, name))
}

// CreateGroup adds an empty group.
func (s *Service) CreateGroup(ctx context.Context, name string) (Group, error) {
	if err := ValidName("group", name); err != nil {
		return Group{}, err
	}
	return s.store.CreateGroup(ctx, name)
}

// AddMember puts a user in a group.
func (s *Service) AddMember(ctx context.Context, group, user string) error {
	return s.changed(s.store.AddMember(ctx, group, user))
}

// RemoveMember takes a user out of a group.
func (s *Service) RemoveMember(ctx context.Context, group, user string) error {
	return s.changed(s.store.RemoveMember(ctx, group, user))
}

// RobotOptions describe a new robot.
type RobotOptions struct {
	Description string
	ExpiresAt   time.Time // zero: never
}

// CreateRobot adds a robot and returns its secret, which is not stored
// and cannot be shown again.
func (s *Service) CreateRobot(ctx context.Context, name string, o RobotOptions) (Robot, string, error) {
	if err := ValidName("robot", name); err != nil {
		return Robot{}, "", err
	}
	now := s.now().UTC()
	if !o.ExpiresAt.IsZero() && !o.ExpiresAt.After(now) {
		return Robot{}, "", fmt.Errorf("robot %q: %w: expiry %v is in the past", name, ErrInvalid, o.ExpiresAt)
	}
	secret, sum, err := newSecret(robotSecretPfx)
	if err != nil {
		return Robot{}, "", err
	}
	r, err := s.store.CreateRobot(ctx, Robot{Name: name, Description: o.Description, SecretHash: sum, ExpiresAt: o.ExpiresAt.UTC(), CreatedAt: now})
	if err != nil {
		return Robot{}, "", err
	}
	return r, secret, nil
}

// RotateRobotSecret replaces a robot's secret and returns the new one.
func (s *Service) RotateRobotSecret(ctx context.Context, name string) (string, error) {
	r, err := s.store.Robot(ctx, name)
	if err != nil {
		return "", err
	}
	secret, sum, err := newSecret(robotSecretPfx)
	if err != nil {
		return "", err
	}
	r.SecretHash = sum
	return secret, s.changed(s.store.UpdateRobot(ctx, r))
}

// SetRobotDisabled disables or enables a robot.
func (s *Service) SetRobotDisabled(ctx context.Context, name string, disabled bool) error {
	r, err := s.store.Robot(ctx, name)
	if err != nil {
		return err
	}
	r.Disabled = disabled
	return s.changed(s.store.UpdateRobot(ctx, r))
}

// TokenOptions describe a new personal access token.
type TokenOptions struct {
	Description string
	// TTL is the token's lifetime; 0 means the default (WithTokenTTL).
	// Beyond the maximum (WithMaxTokenTTL) it is ErrInvalid.
	TTL time.Duration
	// NotAfter, unless zero, bounds the expiry: a token minted with a
	// credential that expires (another personal access token, a robot
	// with an expiry) never outlives it. An explicit TTL reaching past
	// NotAfter is ErrInvalid; the default one is shortened to end there.
	NotAfter time.Time
}

// CreateAccessToken mints a personal access token for user and returns it
// with its secret, which is shown once.
func (s *Service) CreateAccessToken(ctx context.Context, user string, o TokenOptions) (AccessToken, string, error) {
	ttl := o.TTL
	if ttl == 0 {
		ttl = s.tokenTTL
	}
	if ttl < time.Minute || ttl > s.maxTokenTTL {
		return AccessToken{}, "", fmt.Errorf("token lifetime %v: %w: want 1m to %v (the configured maximum)", ttl, ErrInvalid, s.maxTokenTTL)
	}
	now := s.now().UTC()
	expires := now.Add(ttl)
	if !o.NotAfter.IsZero() && expires.After(o.NotAfter) {
		if o.TTL != 0 {
			return AccessToken{}, "", fmt.Errorf("token lifetime %v: %w: it would outlive the credential it is made with, which expires at %s",
				ttl, ErrInvalid, o.NotAfter.UTC().Format(time.RFC3339))
		}
		expires = o.NotAfter.UTC()
		if expires.Sub(now) < time.Minute {
			return AccessToken{}, "", fmt.Errorf("%w: the credential this token would be made with expires at %s",
				ErrInvalid, o.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	u, err := s.store.User(ctx, user)
	if err != nil {
		return AccessToken{}, "", err
	}
	if u.Disabled {
		return AccessToken{}, "", fmt.Errorf("user %q is disabled: %w", user, ErrInvalid)
	}
	random, sum, err := newSecret("")
	if err != nil {
		return AccessToken{}, "", err
	}
	t, err := s.store.CreateToken(ctx, AccessToken{User: user, Description: o.Description, SecretHash: sum, CreatedAt: now, ExpiresAt: expires})
	if err != nil {
		return AccessToken{}, "", err
	}
	// The id rides in the secret so a login finds its row directly; the
	// hash covers the random part only.
	return t, tokenSecretPfx + strconv.FormatInt(t.ID, 10) + "_" + random, nil
}

// RevokeAccessToken revokes one of user's tokens.
func (s *Service) RevokeAccessToken(ctx context.Context, user string, id int64) error {
	t, err := s.store.Token(ctx, id)
	if err != nil {
		return err
	}
	if t.User != user {
		return fmt.Errorf("token %d of user %q: %w", id, user, ErrNotFound)
	}
	return s.changed(s.store.RevokeToken(ctx, id, s.now().UTC()))
}

// newSecret returns prefix+random (256 bits, base64url) and the SHA-256 of
// the random part.
func newSecret(prefix string) (string, []byte, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	random := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(random))
	return prefix + random, sum[:], nil
}

func secretMatches(random string, want []byte) bool {
	sum := sha256.Sum256([]byte(random))
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

// Bootstrap creates the admin user and the admins group on first start.
// The password comes from password (the caller passes
// os.Getenv(EnvAdminPassword)) or is generated and written to out once.
// It does nothing if the admin user exists; created reports whether it
// made one. Concurrent first starts create exactly one admin.
func (s *Service) Bootstrap(ctx context.Context, password string, out io.Writer) (created bool, err error) {
	if _, err := s.store.User(ctx, AdminUser); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return false, err
	}
	generated := password == ""
	if generated {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return false, err
		}
		password = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if _, err := s.CreateUser(ctx, AdminUser, password); errors.Is(err, ErrExists) {
		return false, nil // another replica won
	} else if err != nil {
		return false, fmt.Errorf("create admin user: %w", err)
	}
	if _, err := s.store.CreateGroup(ctx, AdminGroup); err != nil && !errors.Is(err, ErrExists) {
		return true, fmt.Errorf("create admins group: %w", err)
	}
	if err := s.changed(s.store.AddMember(ctx, AdminGroup, AdminUser)); err != nil {
		return true, fmt.Errorf("add admin to admins: %w", err)
	}
	if generated {
		_, err = fmt.Fprintf(out, "moat: created user %q with password %s\n"+
			"moat: this password is shown only once; set %s to choose it instead\n", AdminUser, password, EnvAdminPassword)
	}
	return true, err
}

// Users lists users by name.
func (s *Service) Users(ctx context.Context) ([]User, error) { return s.store.Users(ctx) }

// Groups lists groups by name.
func (s *Service) Groups(ctx context.Context) ([]Group, error) { return s.store.Groups(ctx) }

// Members lists a group's users.
func (s *Service) Members(ctx context.Context, group string) ([]string, error) {
	return s.store.Members(ctx, group)
}

// DeleteGroup removes a group and its memberships.
func (s *Service) DeleteGroup(ctx context.Context, name string) error {
	return s.changed(s.store.DeleteGroup(ctx, name))
}

// Robots lists robots by name.
func (s *Service) Robots(ctx context.Context) ([]Robot, error) { return s.store.Robots(ctx) }

// DeleteRobot removes a robot and its policy attachments.
func (s *Service) DeleteRobot(ctx context.Context, name string) error {
	return s.changed(s.store.DeleteRobot(ctx, name))
}

// AccessTokens lists a user's tokens, newest first (hashes only).
func (s *Service) AccessTokens(ctx context.Context, user string) ([]AccessToken, error) {
	return s.store.Tokens(ctx, user)
}

// PurgeExpiredTokens deletes tokens that expired more than a day ago
// (kept that long so a user can still see why a login failed).
func (s *Service) PurgeExpiredTokens(ctx context.Context) (int, error) {
	return s.store.DeleteExpiredTokens(ctx, s.now().Add(-24*time.Hour))
}
