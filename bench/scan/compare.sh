#!/usr/bin/env bash
# Compare `moat scan` with osv-scanner v2, both fully offline on the same
# OSV data and the same image: both finding sets, their differences, and
# wall-clock time and peak RSS side by side (median of RUNS, cold caches).
#
#   bench/scan/compare.sh [OCI_ARCHIVE]   (default ../shared/data/images/app-oci.tar)
#   RUNS=5 DATA=../shared/data WORK=/tmp/moat-scan-bench bench/scan/compare.sh
#
# Needs skopeo (scripts/install-deps.sh installs it). osv-scanner is built
# into ./.tools/bin; it needs a newer Go, which GOTOOLCHAIN=auto fetches.
# osv-scanner reads DB/osv-scalibr/<Ecosystem>/all.zip; those zips are made
# from the same records moat imports. osv-scanner silently skips records
# with keys outside the OSV schema (the GitHub subset's "_source"), so the
# script also shows, once, what it finds when those keys are stripped.
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCHIVE=$(realpath "${1:-../shared/data/images/app-oci.tar}")
DATA=$(realpath "${DATA:-../shared/data}")
WORK=${WORK:-${TMPDIR:-/tmp}/moat-scan-bench}
RUNS=${RUNS:-3}
TOOLS=$PWD/.tools/bin
mkdir -p "$WORK" "$TOOLS"

if [ ! -x "$TOOLS/osv-scanner" ]; then
	echo "building osv-scanner ..." >&2
	GOTOOLCHAIN=auto GOBIN="$TOOLS" go install github.com/google/osv-scanner/v2/cmd/osv-scanner@latest
fi
command -v skopeo >/dev/null || { echo "skopeo missing: run scripts/install-deps.sh" >&2; exit 1; }
go build -o "$WORK/moat" ./cmd/moat

# The same image as a docker-archive, which osv-scanner reads.
rm -f "$WORK/app.tar"
skopeo copy --quiet "oci-archive:$ARCHIVE:app" "docker-archive:$WORK/app.tar:local/app:1"

# The same OSV records for both: zips for osv-scanner, an import for moat.
rm -rf "$WORK/osvdb" "$WORK/moatdb"
go run ./bench/scan/osvzip "$DATA/advisories" "$WORK/osvdb" >/dev/null
"$WORK/moat" db import --db "$WORK/moatdb" "$DATA/advisories" >/dev/null

# measure LABEL CMD...: runs CMD under /usr/bin/time -v and appends
# "wall_seconds peak_kib cpu_seconds" to $WORK/LABEL.runs. CPU time (user +
# system) is printed too: on a busy machine wall time also measures the
# neighbours. Exit status 1 (findings)
# is success for both tools.
measure() {
	local label=$1
	shift
	local rc=0
	/usr/bin/time -v "$@" >/dev/null 2>"$WORK/$label.time" || rc=$?
	if [ "$rc" -gt 1 ]; then
		cat "$WORK/$label.time" >&2
		return 1
	fi
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
		/Maximum resident set size/ { rss = $2 }
		/User time \(seconds\)/ { cpu += $2 }
		/System time \(seconds\)/ { cpu += $2 }
		END { print s, rss, cpu }' "$WORK/$label.time" >>"$WORK/$label.runs"
}

median() { sort -n -k"$2" "$WORK/$1.runs" | awk -v k="$2" '{ v[NR] = $k } END { print v[int((NR + 1) / 2)] }'; }

rm -f "$WORK"/*.runs
for _ in $(seq "$RUNS"); do
	measure osv "$TOOLS/osv-scanner" scan image --offline --local-db-path "$WORK/osvdb" \
		--archive "$WORK/app.tar" --format json --output-file "$WORK/osv.json"
	measure moat "$WORK/moat" scan --scanners vuln --no-cache --db "$WORK/moatdb" -f json -o "$WORK/moat.json" \
		"docker-archive:$WORK/app.tar"
done

go run ./bench/scan/diffscan "$WORK/moat.json" "$WORK/osv.json"

echo
echo "== osv-scanner on the same records with non-schema \"_\" keys stripped"
rm -rf "$WORK/osvdb-strict"
go run ./bench/scan/osvzip -strip-private "$DATA/advisories" "$WORK/osvdb-strict" >/dev/null
"$TOOLS/osv-scanner" scan image --offline --local-db-path "$WORK/osvdb-strict" --archive "$WORK/app.tar" \
	--format json --output-file "$WORK/osv-strict.json" >/dev/null 2>&1 || [ $? -eq 1 ]
go run ./bench/scan/diffscan "$WORK/moat.json" "$WORK/osv-strict.json" | sed -n '1,/^moat:/p'

osv_t=$(median osv 1) moat_t=$(median moat 1)
osv_m=$(median osv 2) moat_m=$(median moat 2)
osv_c=$(median osv 3) moat_c=$(median moat 3)
echo
printf '%-12s %10s %10s %15s\n' TOOL "WALL (s)" "CPU (s)" "PEAK RSS (MiB)"
printf '%-12s %10s %10s %15d\n' osv-scanner "$osv_t" "$osv_c" $((osv_m / 1024))
printf '%-12s %10s %10s %15d\n' moat "$moat_t" "$moat_c" $((moat_m / 1024))
awk -v o="$osv_t" -v m="$moat_t" -v oc="$osv_c" -v mc="$moat_c" -v n="$RUNS" \
	'BEGIN { printf "moat is %.1fx faster wall-clock, %.1fx in CPU time (medians of %d runs, cold caches)\n", o / m, oc / mc, n }'
