// Package auth holds end-to-end tests of moat's access control: the
// moat binary is built, started with --auth on a free port, and driven
// with the real clients (skopeo, crane, oras, podman) through the
// registry token flow, the management API and the administration
// commands. Clients are installed by scripts/install-deps.sh; a missing
// one skips its test, or fails it when CI=true.
package auth
