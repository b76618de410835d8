#!/usr/bin/env bash
# Compare `moat sbom` with syft 1.57 on an image archive: packages syft
# finds that moat does not (per ecosystem), wall-clock time and peak RSS
# side by side (median of RUNS), and moat's run with a warm layer cache.
#
#   bench/sbom/compare.sh [ARCHIVE]      (default ../shared/data/images/app-oci.tar)
#   RUNS=5 WORK=/tmp/moat-sbom-bench bench/sbom/compare.sh
#
# syft is built from a copy of its module directory: a plain `go install`
# fails on two modules the proxy refuses, which are replaced by versions
# it serves.
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCHIVE=$(realpath "${1:-../shared/data/images/app-oci.tar}")
WORK=${WORK:-${TMPDIR:-/tmp}/moat-sbom-bench}
RUNS=${RUNS:-3}
mkdir -p "$WORK"

if [ ! -x "$WORK/syft" ]; then
	echo "building syft v1.57.0 ..." >&2
	dir=$(go mod download -json github.com/anchore/syft@v1.57.0 | jq -r .Dir)
	rm -rf "$WORK/syft-src"
	cp -r "$dir" "$WORK/syft-src"
	chmod -R u+w "$WORK/syft-src"
	(
		cd "$WORK/syft-src"
		go mod edit -replace github.com/docker/cli=github.com/docker/cli@v29.9.3+incompatible \
			-replace github.com/github/go-spdx/v2=github.com/github/go-spdx/v2@v2.7.0
		GOFLAGS=-mod=mod go build -o "$WORK/syft" ./cmd/syft
	)
fi
CGO_ENABLED=0 go build -o "$WORK/moat" ./cmd/moat

# measure LABEL CMD...: runs CMD under /usr/bin/time -v, appends
# "wall_seconds peak_kib" to $WORK/LABEL.runs.
measure() {
	local label=$1
	shift
	/usr/bin/time -v "$@" >/dev/null 2>"$WORK/$label.time" || {
		cat "$WORK/$label.time" >&2
		return 1
	}
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
		/Maximum resident set size/ { rss = $2 }
		END { printf "%.3f %d\n", s, rss }' "$WORK/$label.time" >>"$WORK/$label.runs"
}

median() { sort -n -k"$2" "$WORK/$1.runs" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'; }

rm -f "$WORK"/*.runs
export SYFT_CHECK_FOR_APP_UPDATE=false
for _ in $(seq "$RUNS"); do
	measure syft "$WORK/syft" scan "oci-archive:$ARCHIVE" -q -o "syft-json=$WORK/syft.json"
	rm -rf "$WORK/cache"
	measure moat-cold "$WORK/moat" sbom --cache-dir "$WORK/cache" -f json -o "$WORK/moat.json" "$ARCHIVE"
	measure moat-warm "$WORK/moat" sbom --cache-dir "$WORK/cache" -f json -o "$WORK/moat-warm.json" "$ARCHIVE"
done
cmp -s <(jq -S . "$WORK/moat.json") <(jq -S . "$WORK/moat-warm.json") || echo "WARNING: warm-cache inventory differs from the cold one" >&2

echo "== packages (syft-only rows are what moat misses)"
go run ./bench/sbom/diffsyft "$WORK/syft.json" "$WORK/moat.json"
echo
echo "== $RUNS runs each, median; /usr/bin/time -v, whole process"
printf '%-22s %10s %14s\n' tool wall_s peak_rss_MiB
for l in syft moat-cold moat-warm; do
	printf '%-22s %10s %14d\n' "$l" "$(median $l 1)" $(($(median $l 2) / 1024))
done
awk -v sw="$(median syft 1)" -v mw="$(median moat-cold 1)" -v sr="$(median syft 2)" -v mr="$(median moat-cold 2)" \
	'BEGIN { printf "moat (cold) is %.1fx faster and uses %.2f of syft'"'"'s peak RSS\n", sw / mw, mr / sr }'
