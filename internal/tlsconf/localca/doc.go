// Package localca makes a private certificate authority and a server
// certificate signed by it, for trying moat over HTTPS without a
// certificate from a public or company CA ("moat serve --tls-self-signed").
//
// Layout of the directory it manages (by default <data-dir>/tls):
//
//	ca.pem          the CA certificate: what clients are told to trust
//	ca-key.pem      the CA's ECDSA P-256 private key, mode 0600
//	server.pem      the server certificate followed by the CA certificate
//	server-key.pem  the server's ECDSA P-256 private key, mode 0600
//
// [Ensure] creates the CA once and reuses it on every later start, so a
// client that trusts ca.pem keeps trusting the registry. The server
// certificate is issued again when it is missing, was not signed by the
// current CA, expires within the renewal window, or does not cover every
// requested host name and address. Files are written to a temporary file
// in the same directory and renamed, so a crash never leaves half a key.
//
// Limits: this is for local and test use. The CA key sits unencrypted
// next to the data; there is no revocation, and the CA itself is not
// renewed (it lasts ten years).
package localca
