// Package tlsconf builds the crypto/tls server configuration of one moat
// listener from PEM files: the certificate chain and key, and optionally
// the CAs whose client certificates are accepted.
//
// The configuration follows current Go practice for servers: TLS 1.2 at
// least (Go's default cipher suites and curves, which only offer AEAD
// suites with forward secrecy), and HTTP/2 offered through ALPN
// ("h2", then "http/1.1").
//
// Certificate rotation needs no restart: on a handshake, at most once per
// check interval, the certificate and key files are looked at (size and
// modification time) and, if they changed, loaded again. A pair that does
// not load (half-written, key not matching) is logged and the previous
// certificate keeps being served, so a botched rotation never takes the
// registry off the air.
//
// Limits: only the server certificate is reloaded; a changed client CA
// file takes effect on restart. Encrypted private keys are not supported.
package tlsconf
