// Package dockerfile lints Dockerfiles before an image is built.
//
// Parsing is BuildKit's own (frontend/dockerfile/parser and instructions),
// so heredocs, line continuations, parser directives (`# escape=`) and
// comments are read exactly as `docker build` reads them. The rules then run
// over the parsed stages; each has an id (ML001…), a severity, a rationale
// and a documented fix (see Rules).
//
// Suppression: a comment directly above an instruction,
//
//	# moat-ignore ML003 ML004
//	ADD app.tar.gz /srv/
//
// (ids separated by spaces or commas; `# moat-ignore` alone silences every
// rule for that instruction) and, per project, a YAML Config that disables
// rule ids. A finding reported on a FROM line (missing USER, missing
// HEALTHCHECK, build tools in the final stage) is suppressed by a comment
// above that FROM.
//
// Limits: input is rejected with a typed error when it is larger than the
// size limit (1 MiB by default), contains NUL bytes, is not valid UTF-8, or
// has a line longer than BuildKit's 64 KiB line limit; the work per file is
// therefore bounded. Shell commands in RUN are inspected as text split on
// shell operators, not by a full shell parser, so commands hidden behind
// variables or scripts are not seen. Values in ENV/ARG never appear in
// messages.
package dockerfile
