package identity

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/auth/policy"
)

// unauthenticated wraps ErrUnauthenticated with a reason for logs; the
// HTTP edge shows clients only "authentication failed".
func unauthenticated(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, fmt.Sprintf(format, args...))
}

// Authenticate checks a username and password (a user password, a
// personal access token or a robot secret) and returns the principal.
// Failures wrap ErrUnauthenticated; store failures are returned as they
// are, so an outage is not reported as bad credentials. A login held
// back by the LoginLimits, or refused a hashing worker, is a
// *ThrottledError (ErrThrottled), returned before any hashing; the
// source is the address WithSource put in ctx.
func (s *Service) Authenticate(ctx context.Context, username, password string) (Principal, error) {
	now := s.now()
	// The epoch is read before anything is looked up, so a change made
	// meanwhile leaves what this call remembers already stale.
	epoch := s.Epoch()
	robot := strings.HasPrefix(username, RobotUserPrefix)
	pat := !robot && strings.HasPrefix(password, tokenSecretPfx)
	// Throttling comes first, before even the cache of good passwords: a
	// held-back guesser must learn nothing, and a cache hit would tell
	// it that a guess was right.
	src := SourceFrom(ctx)
	if err := s.logins.check(username, src, now); err != nil {
		return Principal{}, err
	}
	var key [32]byte
	if !robot && !pat {
		key = s.cacheKeyFor(username, password)
		if p, ok := s.cached(key, now); ok {
			return p, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return Principal{}, err
	}
	var (
		p   Principal
		err error
	)
	switch {
	case robot:
		p, err = s.authRobot(ctx, strings.TrimPrefix(username, RobotUserPrefix), password, now)
	case pat:
		p, err = s.authToken(ctx, username, password, now)
	default:
		p, err = s.checkPassword(ctx, key, username, password, now, epoch)
	}
	switch {
	case err == nil:
		s.logins.succeeded(username, src, now)
	case errors.Is(err, ErrUnauthenticated):
		s.logins.failed(username, src, now)
	}
	return p, err
}

// checkPassword verifies a user's password, once for all identical
// checks in flight. The shared check does not end when the caller that
// started it leaves (the others may still want it); each caller stops
// waiting when its own ctx ends.
func (s *Service) checkPassword(ctx context.Context, key [32]byte, username, password string, now time.Time, epoch uint64) (Principal, error) {
	shared := context.WithoutCancel(ctx)
	ch := s.checks.DoChan(string(key[:]), func() (any, error) {
		return s.verifyPassword(shared, key, username, password, now, epoch)
	})
	select {
	case r := <-ch:
		p, _ := r.Val.(Principal)
		return p, r.Err
	case <-ctx.Done():
		return Principal{}, ctx.Err()
	}
}

func (s *Service) verifyPassword(ctx context.Context, key [32]byte, username, password string, now time.Time, epoch uint64) (Principal, error) {
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
	p, err := s.userPrincipal(ctx, u, passwordCredential(u), time.Time{})
	if err != nil {
		return Principal{}, err
	}
	s.remember(key, p, now, epoch)
	return p, nil
}

// The credential strings; see Principal.Credential.
func passwordCredential(u User) string {
	return CredentialPassword + ":" + strconv.FormatInt(u.ID, 10) + ":" + fingerprint(u.PasswordHash)
}

func robotCredential(r Robot) string {
	return CredentialRobot + ":" + strconv.FormatInt(r.ID, 10) + ":" + fingerprint(string(r.SecretHash))
}

func tokenCredential(u User, t AccessToken) string {
	return CredentialToken + ":" + strconv.FormatInt(u.ID, 10) + ":" + strconv.FormatInt(t.ID, 10) + ":" + fingerprint(string(t.SecretHash))
}

func (s *Service) userPrincipal(ctx context.Context, u User, cred string, exp time.Time) (Principal, error) {
	groups, err := s.store.GroupsOf(ctx, u.Name)
	if err != nil {
		return Principal{}, err
	}
	return Principal{Principal: policy.Principal{Type: policy.User, Name: u.Name, Groups: groups}, AccountID: u.ID, Credential: cred, ExpiresAt: exp}, nil
}

func robotPrincipal(r Robot, cred string) Principal {
	return Principal{Principal: policy.Principal{Type: policy.Robot, Name: r.Name}, AccountID: r.ID, Credential: cred, ExpiresAt: r.ExpiresAt}
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
	return robotPrincipal(r, robotCredential(r)), nil
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
	return s.userPrincipal(ctx, u, tokenCredential(u, t), t.ExpiresAt)
}

// Revalidate checks that a credential recorded at login (a token's
// "moat_cred" and "moat_aid" claims) is still good for subject and
// returns the principal as it is now (groups may have changed). A changed
// password, a rotated robot secret, a revoked or expired token, a
// disabled or deleted account, and an account re-created under the same
// name (whose id differs) all fail with ErrUnauthenticated, as do
// credentials in a format this version does not issue.
func (s *Service) Revalidate(ctx context.Context, subject string, accountID int64, credential string) (Principal, error) {
	now := s.now()
	typ, name, _ := strings.Cut(subject, ":")
	parts := strings.Split(credential, ":")
	if len(parts) < 3 {
		return Principal{}, unauthenticated("malformed credential of kind %q", CredentialKind(credential))
	}
	account, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || account <= 0 || account != accountID {
		return Principal{}, unauthenticated("credential %q does not name account %d", CredentialKind(credential), accountID)
	}
	var p Principal
	switch {
	case parts[0] == CredentialPassword && len(parts) == 3 && typ == string(policy.User):
		u, err := s.accountUser(ctx, name, account)
		if err != nil {
			return Principal{}, err
		}
		if !sameFingerprint(parts[2], u.PasswordHash) {
			return Principal{}, unauthenticated("password of %q changed", name)
		}
		if u.Disabled {
			return Principal{}, unauthenticated("user %q is disabled", name)
		}
		if p, err = s.userPrincipal(ctx, u, credential, time.Time{}); err != nil {
			return Principal{}, err
		}
	case parts[0] == CredentialRobot && len(parts) == 3 && typ == string(policy.Robot):
		r, err := s.store.Robot(ctx, name)
		if errors.Is(err, ErrNotFound) {
			return Principal{}, unauthenticated("robot %q is gone", name)
		}
		if err != nil {
			return Principal{}, err
		}
		if r.ID != account {
			return Principal{}, unauthenticated("robot %q was re-created", name)
		}
		if err := robotUsable(r, now); err != nil {
			return Principal{}, err
		}
		if !sameFingerprint(parts[2], string(r.SecretHash)) {
			return Principal{}, unauthenticated("secret of robot %q was rotated", name)
		}
		p = robotPrincipal(r, credential)
	case parts[0] == CredentialToken && len(parts) == 4 && typ == string(policy.User):
		id, err := strconv.ParseInt(parts[2], 10, 64)
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
		if t.User != name || !sameFingerprint(parts[3], string(t.SecretHash)) {
			return Principal{}, unauthenticated("access token %d is not the one %s logged in with", id, subject)
		}
		if p, err = s.tokenPrincipal(ctx, t, now); err != nil {
			return Principal{}, err
		}
		if p.AccountID != account {
			return Principal{}, unauthenticated("user %q was re-created", name)
		}
	default:
		return Principal{}, unauthenticated("credential of kind %q does not fit subject %q", CredentialKind(credential), subject)
	}
	if p.Subject() != subject {
		return Principal{}, unauthenticated("credential belongs to %s, not %s", p.Subject(), subject)
	}
	return p, nil
}

// accountUser reads the user name whose id is account.
func (s *Service) accountUser(ctx context.Context, name string, account int64) (User, error) {
	u, err := s.store.User(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return User{}, unauthenticated("user %q is gone", name)
	}
	if err != nil {
		return User{}, err
	}
	if u.ID != account {
		return User{}, unauthenticated("user %q was re-created", name)
	}
	return u, nil
}

// Lookup resolves a token subject ("user:alice", "robot:ci") to a current
// principal, without a credential: for a client certificate naming the
// account, and for deciding what a just-authenticated caller is granted.
// It fails if the account is gone or disabled, and fills in groups.
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
		return robotPrincipal(r, ""), nil
	}
	return Principal{}, unauthenticated("unknown subject %q", subject)
}

// fingerprint identifies a secret's hash without revealing it.
func fingerprint(h string) string {
	sum := sha256.Sum256([]byte(h))
	return hex.EncodeToString(sum[:8])
}

func sameFingerprint(fp, hash string) bool {
	return subtle.ConstantTimeCompare([]byte(fp), []byte(fingerprint(hash))) == 1
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

// cached returns a remembered password check made at the current epoch:
// any identity change since (a password set, the user disabled or
// deleted, by this process or, once Refresh sees it, another) drops it.
func (s *Service) cached(k [32]byte, now time.Time) (Principal, bool) {
	if s.cacheTTL == 0 {
		return Principal{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[k]
	if !ok || !now.Before(c.expires) || c.epoch != s.Epoch() {
		return Principal{}, false
	}
	return c.p, true
}

func (s *Service) remember(k [32]byte, p Principal, now time.Time, epoch uint64) {
	if s.cacheTTL == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCache {
		clear(s.cache)
	}
	s.cache[k] = cached{p: p, expires: now.Add(s.cacheTTL), epoch: epoch}
}
