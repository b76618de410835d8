// Package lang lists the analyzers that find language packages and
// language runtimes in an image, one sub-package per ecosystem (golang,
// rust, npm, python, java, ruby, php, dotnet, runtime), and reconciles what
// they find once an image's layers are squashed.
//
// Wiring, in the one place that knows every analyzer:
//
//	cat, err := catalog.New(append(osAnalyzers, lang.Analyzers()...),
//		catalog.WithPostProcess(lang.ReconcileInventory))
//
// Analyzers never want the same file twice, so the catalog can stream each
// file to its analyzer instead of buffering it: the analyzers that look
// inside executables share one pass through Executables.
//
// Every analyzer reads one file at a time, statelessly, so a project that
// ships both a lockfile and its installed tree (package-lock.json beside
// node_modules) is seen twice. Reconcile settles that: installed packages
// are what an image runs, so a lockfile's packages are dropped when the
// installed tree of the same project was found, and otherwise only those
// an installed package already reports.
//
// Limits are per analyzer and documented in each sub-package; all input is
// read with hard caps, never evaluated, and malformed files yield errors.
package lang
