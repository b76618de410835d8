// Package readme runs the README's examples: every fenced ```sh block of
// README.md that uses a registry client (skopeo, crane, podman, oras,
// curl) or names the registry (localhost:5000) is run with bash, in the
// README's order, against a real `moat serve` started with access control
// on, listening on 127.0.0.1 as `make run` does and reached as
// localhost:PORT as the README writes it. The blocks run exactly as
// written except that localhost:5000 becomes localhost:PORT and PASSWORD
// the admin's password; the files they name (image.tar, app.tar,
// ./layout, the podman image myimage) are made beforehand in the
// directory they run in, and docker.io is a second, anonymous moat
// through a registries.conf of the test's own. Afterwards every
// localhost:5000/REPO:TAG the blocks name must exist in the registry.
//
// A client example outside a ```sh block fails the test, so the README
// cannot drift away from what runs. The clients come from
// scripts/install-deps.sh (./.tools/bin, then PATH); a missing one skips
// the test, or fails it under CI=true.
//
// Limits: the README's first two commands (make run, make test) are not
// run here; the server is the one internal/testutil/moatproc builds.
package readme
