#!/usr/bin/env bash
# Runs every Go fuzz target in cmd/ and internal/ for a short time each, as a
# smoke test: it catches crashes that new random inputs find quickly, and
# keeps the targets compiling. A crasher is written by Go to the package's
# testdata/fuzz/ directory, where `go test` replays it from then on.
#
# Usage: scripts/fuzz-smoke.sh [FUZZTIME]     (default 2s, or $FUZZTIME)
#
# Each package's fuzzing test binary is built once and run per target, which
# saves a link per target compared with `go test -fuzz`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime="${1:-${FUZZTIME:-2s}}"
cache="$(go env GOCACHE)/fuzz"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

declare -A targets=()
while IFS= read -r file; do
	dir="$(dirname "$file")"
	names="$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file" | tr '\n' ' ')"
	targets["$dir"]+="$names"
done < <(grep -rl --include='*_test.go' '^func Fuzz' cmd internal 2>/dev/null | sort)

fail=0
count=0
start=$SECONDS
for dir in $(printf '%s\n' "${!targets[@]}" | sort); do
	pkg="$(go list "./$dir")"
	bin="$work/$(printf '%s' "$dir" | tr '/' '_').test"
	if ! go test -c -fuzz=. -o "$bin" "./$dir" >"$work/log" 2>&1; then
		echo "fuzz $pkg: build failed"
		cat "$work/log"
		fail=1
		continue
	fi
	for name in ${targets[$dir]}; do
		count=$((count + 1))
		echo "fuzz $pkg $name"
		# Run from the package directory so testdata/ seeds are found.
		if ! (cd "$dir" && "$bin" -test.run='^$' -test.fuzz="^${name}\$" \
			-test.fuzztime="$fuzztime" -test.fuzzcachedir="$cache/$pkg") >"$work/log" 2>&1; then
			tail -n 60 "$work/log"
			fail=1
		fi
	done
done
echo "== fuzz smoke: $count targets, ${fuzztime} each, $((SECONDS - start))s =="
exit "$fail"
