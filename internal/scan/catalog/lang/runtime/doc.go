// Package runtime finds language runtimes installed outside a package
// manager — the official node, python and JDK images build them from
// source — and reports each as a package of type "runtime" so that end of
// life and runtime advisories can be judged. The Go toolchain is found by
// package golang.
//
// Signals, chosen because they carry the full version and sit at fixed
// places:
//
//   - node: include/node/node_version.h (NODE_*_VERSION), or the node
//     binary itself, streamed until its "node.js/vX.Y.Z" release string;
//   - python: include/pythonX.Y/patchlevel.h (PY_VERSION);
//   - java: the "release" file at the root of a JDK or JRE (JAVA_VERSION).
//
// A runtime found through two signals is reported twice, once per file;
// lang.Reconcile merges them. Header and release files are read up to
// 64 KiB; the node binary is never buffered beyond a 256 KiB window.
package runtime
