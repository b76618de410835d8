// Package lang lists the analyzers that find language packages and
// language runtimes in an image, one sub-package per ecosystem, and
// reconciles what they find once an image's layers are squashed.
//
// Every analyzer reads one file at a time, statelessly, so a project that
// ships both a lockfile and its installed tree (package-lock.json beside
// node_modules) is seen twice. Reconcile settles that: installed packages
// are what an image runs, so a lockfile's packages are dropped when the
// installed tree of the same project was found, and otherwise only those
// an installed package already reports.
package lang
