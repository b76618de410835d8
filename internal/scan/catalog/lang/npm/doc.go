// Package npm finds JavaScript packages: installed ones from
// node_modules/**/package.json, and declared ones from package-lock.json
// (lockfileVersion 1–3) and npm-shrinkwrap.json, yarn.lock (classic v1 and
// berry) and pnpm-lock.yaml (v5, v6 and v9).
//
// Installed packages are the truth for an image; lockfiles describe a
// project that may not be installed. Both are reported here, each with the
// file it came from, and lang.Reconcile drops a lockfile's packages when the
// installed tree beside it was found, so nothing is counted twice.
//
// Limits: package.json files are read up to 4 MiB, lockfiles up to 64 MiB;
// a package-lock v1 dependency tree deeper than 256 levels is rejected.
// Hidden lockfiles inside node_modules (node_modules/.package-lock.json) and
// lockfiles shipped inside installed packages are ignored.
package npm
