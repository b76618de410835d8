package identitytest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/moat-dev/moat/internal/auth/identity"
)

// MemStore is an in-memory identity.Store for unit tests.
type MemStore struct {
	mu      sync.Mutex
	nextID  int64
	gen     int64
	users   map[string]identity.User
	groups  map[string]identity.Group
	members map[string]map[string]bool // group -> users
	robots  map[string]identity.Robot
	tokens  map[int64]identity.AccessToken
}

var _ identity.Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{users: map[string]identity.User{}, groups: map[string]identity.Group{},
		members: map[string]map[string]bool{}, robots: map[string]identity.Robot{}, tokens: map[int64]identity.AccessToken{}}
}

func (m *MemStore) id() int64 { m.nextID++; m.gen++; return m.nextID }

// changed records a change; callers hold mu.
func (m *MemStore) changed() { m.gen++ }

// Generation counts changes.
func (m *MemStore) Generation(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen, nil
}

func notFound(kind, name string) error {
	return fmt.Errorf("%s %q: %w", kind, name, identity.ErrNotFound)
}

func (m *MemStore) CreateUser(_ context.Context, u identity.User) (identity.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.Name]; ok {
		return identity.User{}, fmt.Errorf("user %q: %w", u.Name, identity.ErrExists)
	}
	u.ID = m.id()
	m.users[u.Name] = u
	return u, nil
}

func (m *MemStore) User(_ context.Context, name string) (identity.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[name]
	if !ok {
		return identity.User{}, notFound("user", name)
	}
	return u, nil
}

func (m *MemStore) UpdateUser(_ context.Context, u identity.User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.users[u.Name]
	if !ok {
		return notFound("user", u.Name)
	}
	old.PasswordHash, old.Disabled = u.PasswordHash, u.Disabled
	m.changed()
	m.users[u.Name] = old
	return nil
}

func (m *MemStore) DeleteUser(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[name]; !ok {
		return notFound("user", name)
	}
	m.changed()
	delete(m.users, name)
	for _, ms := range m.members {
		delete(ms, name)
	}
	for id, t := range m.tokens {
		if t.User == name {
			delete(m.tokens, id)
		}
	}
	return nil
}

func (m *MemStore) Users(context.Context) ([]identity.User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]identity.User, 0, len(m.users))
	for _, u := range m.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *MemStore) CreateGroup(_ context.Context, name string) (identity.Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.groups[name]; ok {
		return identity.Group{}, fmt.Errorf("group %q: %w", name, identity.ErrExists)
	}
	g := identity.Group{ID: m.id(), Name: name, CreatedAt: time.Now().UTC()}
	m.groups[name] = g
	m.members[name] = map[string]bool{}
	return g, nil
}

func (m *MemStore) DeleteGroup(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.groups[name]; !ok {
		return notFound("group", name)
	}
	m.changed()
	delete(m.groups, name)
	delete(m.members, name)
	return nil
}

func (m *MemStore) Groups(context.Context) ([]identity.Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]identity.Group, 0, len(m.groups))
	for _, g := range m.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *MemStore) AddMember(_ context.Context, group, user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.groups[group]; !ok {
		return notFound("group", group)
	}
	if _, ok := m.users[user]; !ok {
		return notFound("user", user)
	}
	m.changed()
	m.members[group][user] = true
	return nil
}

func (m *MemStore) RemoveMember(_ context.Context, group, user string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.changed()
	delete(m.members[group], user)
	return nil
}

func (m *MemStore) GroupsOf(_ context.Context, user string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for g, ms := range m.members {
		if ms[user] {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (m *MemStore) Members(_ context.Context, group string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ms, ok := m.members[group]
	if !ok {
		return nil, notFound("group", group)
	}
	var out []string
	for u := range ms {
		out = append(out, u)
	}
	slices.Sort(out)
	return out, nil
}

func (m *MemStore) CreateRobot(_ context.Context, r identity.Robot) (identity.Robot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.robots[r.Name]; ok {
		return identity.Robot{}, fmt.Errorf("robot %q: %w", r.Name, identity.ErrExists)
	}
	r.ID = m.id()
	r.SecretHash = slices.Clone(r.SecretHash)
	m.robots[r.Name] = r
	return r, nil
}

func (m *MemStore) Robot(_ context.Context, name string) (identity.Robot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.robots[name]
	if !ok {
		return identity.Robot{}, notFound("robot", name)
	}
	r.SecretHash = slices.Clone(r.SecretHash)
	return r, nil
}

func (m *MemStore) UpdateRobot(_ context.Context, r identity.Robot) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.robots[r.Name]
	if !ok {
		return notFound("robot", r.Name)
	}
	old.Description, old.SecretHash, old.ExpiresAt, old.Disabled = r.Description, slices.Clone(r.SecretHash), r.ExpiresAt, r.Disabled
	m.changed()
	m.robots[r.Name] = old
	return nil
}

func (m *MemStore) DeleteRobot(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.robots[name]; !ok {
		return notFound("robot", name)
	}
	m.changed()
	delete(m.robots, name)
	return nil
}

func (m *MemStore) Robots(context.Context) ([]identity.Robot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]identity.Robot, 0, len(m.robots))
	for _, r := range m.robots {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *MemStore) CreateToken(_ context.Context, t identity.AccessToken) (identity.AccessToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[t.User]; !ok {
		return identity.AccessToken{}, notFound("user", t.User)
	}
	t.ID = m.id()
	m.tokens[t.ID] = t
	return t, nil
}

func (m *MemStore) Token(_ context.Context, id int64) (identity.AccessToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[id]
	if !ok {
		return identity.AccessToken{}, notFound("token", fmt.Sprint(id))
	}
	return t, nil
}

func (m *MemStore) RevokeToken(_ context.Context, id int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[id]
	if !ok {
		return notFound("token", fmt.Sprint(id))
	}
	m.changed()
	if t.RevokedAt.IsZero() {
		t.RevokedAt = at
		m.tokens[id] = t
	}
	return nil
}

func (m *MemStore) Tokens(_ context.Context, user string) ([]identity.AccessToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []identity.AccessToken
	for _, t := range m.tokens {
		if t.User == user {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

func (m *MemStore) DeleteExpiredTokens(_ context.Context, before time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, t := range m.tokens {
		if t.ExpiresAt.Before(before) {
			delete(m.tokens, id)
			m.changed()
			n++
		}
	}
	return n, nil
}
