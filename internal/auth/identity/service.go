package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
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
	// Credential names what was presented, for refresh revalidation:
	// "password:NAME:FINGERPRINT", "robot:NAME:ID" or "pat:ID".
	Credential string
	// ExpiresAt is when the credential expires; zero if never.
	ExpiresAt time.Time
}

// Subject is the principal as "type:name", a token's "sub".
func (p Principal) Subject() string { return string(p.Type) + ":" + p.Name }

// Service applies the identity rules over a Store.
type Service struct {
	store    Store
	now      func() time.Time
	argon    Argon2Params
	tokenTTL time.Duration
	hashSem  chan struct{}
	// decoy is a hash to verify against for unknown users, so they cost
	// as much as real ones. It is made on first need, not at start-up.
	decoy func() (string, error)

	cacheKey [32]byte
	cacheTTL time.Duration
	mu       sync.Mutex
	cache    map[[32]byte]cached
}

type cached struct {
	p       Principal
	expires time.Time
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

// WithTokenTTL sets the default personal access token lifetime. Default:
// 12 hours.
func WithTokenTTL(d time.Duration) Option {
	return func(s *Service) error {
		if d < time.Minute || d > 90*24*time.Hour {
			return fmt.Errorf("token lifetime %v outside 1m..90d", d)
		}
		s.tokenTTL = d
		return nil
	}
}

// WithMaxConcurrentHashes bounds password hashes running at once.
// Default: 4.
func WithMaxConcurrentHashes(n int) Option {
	return func(s *Service) error {
		if n < 1 {
			return fmt.Errorf("max concurrent hashes %d < 1", n)
		}
		s.hashSem = make(chan struct{}, n)
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
	s := &Service{store: store, now: time.Now, argon: DefaultArgon2(), tokenTTL: 12 * time.Hour,
		hashSem: make(chan struct{}, 4), cacheTTL: time.Minute, cache: map[[32]byte]cached{}}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
	}
	if _, err := rand.Read(s.cacheKey[:]); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	s.decoy = sync.OnceValues(func() (string, error) { return HashPassword("unused", s.argon) })
	return s, nil
}

// hash runs fn holding a hashing slot; ctx bounds the wait.
func (s *Service) hash(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashSem }()
	fn()
	return nil
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
	s.forget()
	return s.store.UpdateUser(ctx, u)
}

// SetUserDisabled disables or enables a user's logins and tokens.
func (s *Service) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	u, err := s.store.User(ctx, name)
	if err != nil {
		return err
	}
	u.Disabled = disabled
	s.forget()
	return s.store.UpdateUser(ctx, u)
}

// DeleteUser removes a user, its memberships and tokens.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	s.forget()
	return s.store.DeleteUser(ctx, name)
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
	s.forget()
	return s.store.AddMember(ctx, group, user)
}

// RemoveMember takes a user out of a group.
func (s *Service) RemoveMember(ctx context.Context, group, user string) error {
	s.forget()
	return s.store.RemoveMember(ctx, group, user)
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
	return secret, s.store.UpdateRobot(ctx, r)
}

// SetRobotDisabled disables or enables a robot.
func (s *Service) SetRobotDisabled(ctx context.Context, name string, disabled bool) error {
	r, err := s.store.Robot(ctx, name)
	if err != nil {
		return err
	}
	r.Disabled = disabled
	return s.store.UpdateRobot(ctx, r)
}

// CreateAccessToken mints a personal access token for user, valid for
// ttl (0: the default, 12 hours), and returns it with its secret, which
// is shown once.
func (s *Service) CreateAccessToken(ctx context.Context, user, description string, ttl time.Duration) (AccessToken, string, error) {
	if ttl == 0 {
		ttl = s.tokenTTL
	}
	if ttl < time.Minute || ttl > 90*24*time.Hour {
		return AccessToken{}, "", fmt.Errorf("token lifetime %v: %w: want 1m..90d", ttl, ErrInvalid)
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
	now := s.now().UTC()
	t, err := s.store.CreateToken(ctx, AccessToken{User: user, Description: description, SecretHash: sum, CreatedAt: now, ExpiresAt: now.Add(ttl)})
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
	return s.store.RevokeToken(ctx, id, s.now().UTC())
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

// unauthenticated wraps ErrUnauthenticated with a reason for logs; the
// HTTP edge shows clients only "authentication failed".
func unauthenticated(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, fmt.Sprintf(format, args...))
}

// Authenticate checks a username and password (a user password, a
// personal access token or a robot secret) and returns the principal.
// Failures wrap ErrUnauthenticated; store failures are returned as they
// are, so an outage is not reported as bad credentials.
func (s *Service) Authenticate(ctx context.Context, username, password string) (Principal, error) {
	now := s.now()
	switch {
	case strings.HasPrefix(username, RobotUserPrefix):
		return s.authRobot(ctx, strings.TrimPrefix(username, RobotUserPrefix), password, now)
	case strings.HasPrefix(password, tokenSecretPfx):
		return s.authToken(ctx, username, password, now)
	}
	key := s.cacheKeyFor(username, password)
	if p, ok := s.cached(key, now); ok {
		return p, nil
	}
	u, err := s.store.User(ctx, username)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		// Spend the same time as for a real user. The first such login
		// also makes the decoy: slower, never faster, so it reveals nothing.
		var derr error
		if herr := s.hash(ctx, func() {
			var decoy string
			if decoy, derr = s.decoy(); derr == nil {
				_, _ = VerifyPassword(password, decoy)
			}
		}); herr != nil {
			return Principal{}, herr
		}
		if derr != nil {
			return Principal{}, fmt.Errorf("identity: decoy hash: %w", derr)
		}
		return Principal{}, unauthenticated("no user %q", username)
	}
	if err != nil {
		return Principal{}, err
	}
	var ok bool
	if herr := s.hash(ctx, func() { ok, err = VerifyPassword(password, u.PasswordHash) }); herr != nil {
		return Principal{}, herr
	}
	if err != nil {
		return Principal{}, fmt.Errorf("user %q: stored hash: %w", username, err)
	}
	if !ok {
		return Principal{}, unauthenticated("wrong password for %q", username)
	}
	if u.Disabled {
		return Principal{}, unauthenticated("user %q is disabled", username)
	}
	p, err := s.userPrincipal(ctx, u, "password:"+u.Name+":"+fingerprint(u.PasswordHash), time.Time{})
	if err != nil {
		return Principal{}, err
	}
	s.remember(key, p, now)
	return p, nil
}

func (s *Service) userPrincipal(ctx context.Context, u User, cred string, exp time.Time) (Principal, error) {
	groups, err := s.store.GroupsOf(ctx, u.Name)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Principal: policy.Principal{Type: policy.User, Name: u.Name, Groups: groups}, Credential: cred, ExpiresAt: exp}, nil
}

func (s *Service) authRobot(ctx context.Context, name, secret string, now time.Time) (Principal, error) {
	random, ok := strings.CutPrefix(secret, robotSecretPfx)
	if !ok {
		return Principal{}, unauthenticated("robot %q: not a robot secret", name)
	}
	r, err := s.store.Robot(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, unauthenticated("no robot %q", name)
	}
	if err != nil {
		return Principal{}, err
	}
	if err := robotUsable(r, now); err != nil {
		return Principal{}, err
	}
	if !secretMatches(random, r.SecretHash) {
		return Principal{}, unauthenticated("wrong secret for robot %q", name)
	}
	return Principal{Principal: policy.Principal{Type: policy.Robot, Name: r.Name},
		Credential: "robot:" + r.Name + ":" + fingerprint(string(r.SecretHash)), ExpiresAt: r.ExpiresAt}, nil
}

func robotUsable(r Robot, now time.Time) error {
	if r.Disabled {
		return unauthenticated("robot %q is disabled", r.Name)
	}
	if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
		return unauthenticated("robot %q expired at %v", r.Name, r.ExpiresAt)
	}
	return nil
}

func (s *Service) authToken(ctx context.Context, username, secret string, now time.Time) (Principal, error) {
	rest := strings.TrimPrefix(secret, tokenSecretPfx)
	idStr, random, ok := strings.Cut(rest, "_")
	id, err := strconv.ParseInt(idStr, 10, 64)
	if !ok || err != nil || id <= 0 {
		return Principal{}, unauthenticated("malformed access token")
	}
	t, err := s.store.Token(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, unauthenticated("no access token %d", id)
	}
	if err != nil {
		return Principal{}, err
	}
	if !secretMatches(random, t.SecretHash) || t.User != username {
		return Principal{}, unauthenticated("wrong access token for %q", username)
	}
	return s.tokenPrincipal(ctx, t, now)
}

func (s *Service) tokenPrincipal(ctx context.Context, t AccessToken, now time.Time) (Principal, error) {
	if !t.RevokedAt.IsZero() {
		return Principal{}, unauthenticated("access token %d was revoked", t.ID)
	}
	if !now.Before(t.ExpiresAt) {
		return Principal{}, unauthenticated("access token %d expired", t.ID)
	}
	u, err := s.store.User(ctx, t.User)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, unauthenticated("access token %d: user gone", t.ID)
	}
	if err != nil {
		return Principal{}, err
	}
	if u.Disabled {
		return Principal{}, unauthenticated("user %q is disabled", u.Name)
	}
	return s.userPrincipal(ctx, u, "pat:"+strconv.FormatInt(t.ID, 10), t.ExpiresAt)
}

// Revalidate checks that a credential recorded at login is still good for
// subject and returns the principal as it is now (groups may have
// changed). A changed password, a rotated robot secret, a revoked or
// expired token, a disabled or deleted account all fail with
// ErrUnauthenticated.
func (s *Service) Revalidate(ctx context.Context, subject, credential string) (Principal, error) {
	now := s.now()
	kind, rest, _ := strings.Cut(credential, ":")
	switch kind {
	case "password":
		name, fp, _ := strings.Cut(rest, ":")
		u, err := s.store.User(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return Principal{}, unauthenticated("user %q is gone", name)
		}
		if err != nil {
			return Principal{}, err
		}
		if subtle.ConstantTimeCompare([]byte(fp), []byte(fingerprint(u.PasswordHash))) != 1 {
			return Principal{}, unauthenticated("password of %q changed", name)
		}
		if u.Disabled {
			return Principal{}, unauthenticated("user %q is disabled", name)
		}
		p, err := s.userPrincipal(ctx, u, credential, time.Time{})
		return checkSubject(p, subject, err)
	case "robot":
		name, fp, _ := strings.Cut(rest, ":")
		r, err := s.store.Robot(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return Principal{}, unauthenticated("robot %q is gone", name)
		}
		if err != nil {
			return Principal{}, err
		}
		if err := robotUsable(r, now); err != nil {
			return Principal{}, err
		}
		if subtle.ConstantTimeCompare([]byte(fp), []byte(fingerprint(string(r.SecretHash)))) != 1 {
			return Principal{}, unauthenticated("secret of robot %q was rotated", name)
		}
		p := Principal{Principal: policy.Principal{Type: policy.Robot, Name: r.Name}, Credential: credential, ExpiresAt: r.ExpiresAt}
		return checkSubject(p, subject, nil)
	case "pat":
		id, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return Principal{}, unauthenticated("malformed credential")
		}
		t, err := s.store.Token(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return Principal{}, unauthenticated("access token %d is gone", id)
		}
		if err != nil {
			return Principal{}, err
		}
		p, err := s.tokenPrincipal(ctx, t, now)
		return checkSubject(p, subject, err)
	}
	return Principal{}, unauthenticated("unknown credential kind %q", kind)
}

func checkSubject(p Principal, subject string, err error) (Principal, error) {
	if err != nil {
		return Principal{}, err
	}
	if p.Subject() != subject {
		return Principal{}, unauthenticated("credential belongs to %s, not %s", p.Subject(), subject)
	}
	return p, nil
}

// Lookup resolves a token subject ("user:alice", "robot:ci") to a current
// principal, for requests carrying a bearer token: it fails if the account
// is gone or disabled, and fills in groups.
func (s *Service) Lookup(ctx context.Context, subject string) (Principal, error) {
	typ, name, _ := strings.Cut(subject, ":")
	switch policy.PrincipalType(typ) {
	case policy.User:
		u, err := s.store.User(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return Principal{}, unauthenticated("user %q is gone", name)
		}
		if err != nil {
			return Principal{}, err
		}
		if u.Disabled {
			return Principal{}, unauthenticated("user %q is disabled", name)
		}
		return s.userPrincipal(ctx, u, "", time.Time{})
	case policy.Robot:
		r, err := s.store.Robot(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return Principal{}, unauthenticated("robot %q is gone", name)
		}
		if err != nil {
			return Principal{}, err
		}
		if err := robotUsable(r, s.now()); err != nil {
			return Principal{}, err
		}
		return Principal{Principal: policy.Principal{Type: policy.Robot, Name: r.Name}, ExpiresAt: r.ExpiresAt}, nil
	}
	return Principal{}, unauthenticated("unknown subject %q", subject)
}

// fingerprint identifies a secret's hash without revealing it.
func fingerprint(h string) string {
	sum := sha256.Sum256([]byte(h))
	return hex.EncodeToString(sum[:8])
}

func (s *Service) cacheKeyFor(user, password string) [32]byte {
	m := hmac.New(sha256.New, s.cacheKey[:])
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (s *Service) cached(k [32]byte, now time.Time) (Principal, bool) {
	if s.cacheTTL == 0 {
		return Principal{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[k]
	if !ok || !now.Before(c.expires) {
		return Principal{}, false
	}
	return c.p, true
}

func (s *Service) remember(k [32]byte, p Principal, now time.Time) {
	if s.cacheTTL == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCache {
		clear(s.cache)
	}
	s.cache[k] = cached{p: p, expires: now.Add(s.cacheTTL)}
}

// forget drops remembered password checks after any change that could
// affect them. Changes made by other replicas are seen when entries
// expire.
func (s *Service) forget() {
	s.mu.Lock()
	clear(s.cache)
	s.mu.Unlock()
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
	if err := s.store.AddMember(ctx, AdminGroup, AdminUser); err != nil {
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
	s.forget()
	return s.store.DeleteGroup(ctx, name)
}

// Robots lists robots by name.
func (s *Service) Robots(ctx context.Context) ([]Robot, error) { return s.store.Robots(ctx) }

// DeleteRobot removes a robot.
func (s *Service) DeleteRobot(ctx context.Context, name string) error {
	return s.store.DeleteRobot(ctx, name)
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
