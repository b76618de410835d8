// Package misconfig checks an image for hardening problems: its
// configuration (runs as root, sensitive ports, no healthcheck, remote ADD
// and secrets visible in the build history or environment) and its files'
// metadata (setuid/setgid files, world-writable files in system
// directories, and the shells, package managers and network tools an
// attacker would use).
//
// CheckConfig is a pure function over the image configuration (the OCI
// config with Docker's healthcheck extension). Collector is a pure
// collector of tar header facts: it takes one entry at a time, layer by
// layer, applies whiteouts and opaque directories as it goes, and so holds
// exactly the facts of the squashed filesystem. It keeps only the few
// entries it reports on, never a full file list. Relevant picks the entries
// a per-layer cache must keep so the collector can be replayed on a warm
// cache without reading layers again.
//
// Limits: the collector judges modes as tar headers state them (the
// filesystem an extraction creates), not capabilities in xattrs; a hard
// link counts as setuid when its target is. Secrets in history are
// recognised by the variable's name (PASSWORD, TOKEN, SECRET, API_KEY …),
// value patterns are the secrets package's job. Messages never contain
// values.
package misconfig
