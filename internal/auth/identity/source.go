package identity

import (
	"context"
	"net/netip"
)

type sourceKey struct{}

// WithSource returns ctx carrying the network address a login comes
// from. Authenticate throttles failed logins per account and source and
// shares password hashing fairly between sources; without an address
// every such login counts as coming from one unknown source.
func WithSource(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, sourceKey{}, addr)
}

// SourceFrom returns the address WithSource put in ctx, or the zero
// Addr.
func SourceFrom(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(sourceKey{}).(netip.Addr)
	return a
}
