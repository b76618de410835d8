package identity

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors, classified with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrInvalid  = errors.New("invalid")
	// ErrUnauthenticated: wrong, disabled, expired or revoked credentials.
	// Its message never says which.
	ErrUnauthenticated = errors.New("authentication failed")
)

// User is a person who logs in with a password.
type User struct {
	ID           int64
	Name         string
	PasswordHash string // PHC string; never logged
	Disabled     bool
	CreatedAt    time.Time
}

// Group is a named set of users.
type Group struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// Robot is a non-human account for automation.
type Robot struct {
	ID          int64
	Name        string
	Description string
	SecretHash  []byte    // SHA-256 of the secret
	ExpiresAt   time.Time // zero: never
	Disabled    bool
	CreatedAt   time.Time
}

// AccessToken is a personal access token: a short-lived password a user
// mints for a command-line login.
type AccessToken struct {
	ID          int64
	User        string
	Description string
	SecretHash  []byte // SHA-256 of the secret
	CreatedAt   time.Time
	ExpiresAt   time.Time
	RevokedAt   time.Time // zero: not revoked
}

// UserStore persists users.
type UserStore interface {
	// CreateUser stores u (ID and CreatedAt are assigned) and returns it;
	// ErrExists if the name is taken.
	CreateUser(ctx context.Context, u User) (User, error)
	// User returns the named user; ErrNotFound if none.
	User(ctx context.Context, name string) (User, error)
	// UpdateUser replaces the password hash and disabled flag of u.Name.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes a user with its memberships and tokens.
	DeleteUser(ctx context.Context, name string) error
	Users(ctx context.Context) ([]User, error)
}

// GroupStore persists groups and membership.
type GroupStore interface {
	CreateGroup(ctx context.Context, name string) (Group, error)
	// DeleteGroup removes a group and its memberships.
	DeleteGroup(ctx context.Context, name string) error
	Groups(ctx context.Context) ([]Group, error)
	// AddMember is idempotent; ErrNotFound if the user or group is missing.
	AddMember(ctx context.Context, group, user string) error
	// RemoveMember is idempotent.
	RemoveMember(ctx context.Context, group, user string) error
	// GroupsOf returns the names of a user's groups, sorted.
	GroupsOf(ctx context.Context, user string) ([]string, error)
	// Members returns the names of a group's users, sorted.
	Members(ctx context.Context, group string) ([]string, error)
}

// RobotStore persists robot accounts.
type RobotStore interface {
	CreateRobot(ctx context.Context, r Robot) (Robot, error)
	Robot(ctx context.Context, name string) (Robot, error)
	// UpdateRobot replaces description, secret hash, expiry and disabled
	// flag of r.Name.
	UpdateRobot(ctx context.Context, r Robot) error
	DeleteRobot(ctx context.Context, name string) error
	Robots(ctx context.Context) ([]Robot, error)
}

// TokenStore persists personal access tokens.
type TokenStore interface {
	// CreateToken stores t for an existing user (ErrNotFound otherwise).
	CreateToken(ctx context.Context, t AccessToken) (AccessToken, error)
	Token(ctx context.Context, id int64) (AccessToken, error)
	// RevokeToken sets RevokedAt if unset; ErrNotFound if no such token.
	RevokeToken(ctx context.Context, id int64, at time.Time) error
	// Tokens lists a user's tokens, newest first.
	Tokens(ctx context.Context, user string) ([]AccessToken, error)
	// DeleteExpiredTokens removes tokens that expired before t.
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error)
}

// Store is everything the Service persists. Ids of users, groups, robots
// and tokens are never reused, also after a deletion, so an id names one
// account for good.
type Store interface {
	UserStore
	GroupStore
	RobotStore
	TokenStore
	// Generation rises with every change the store makes (by any process
	// sharing it), in the same transaction; reads leave it alone. Caches of
	// identity state are good while it stays the same.
	Generation(ctx context.Context) (int64, error)
}

// ValidName checks a user, group or robot name: 1 to 64 lower-case
// letters, digits, '.', '_' or '-', starting and ending alphanumeric.
func ValidName(kind, name string) error {
	if !validName(name) {
		return fmt.Errorf("%s name %q: %w: want 1-64 of a-z 0-9 . _ -, starting and ending with a letter or digit", kind, name, ErrInvalid)
	}
	return nil
}

// validName is a plain scan rather than a regexp: the bounded repetition
// would compile into 62 copies at every start of the binary.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !alnum(c) && (c != '.' && c != '_' && c != '-' || i == 0 || i == len(name)-1) {
			return false
		}
	}
	return true
}
