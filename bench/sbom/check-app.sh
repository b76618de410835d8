#!/usr/bin/env bash
# Check moat's inventory of the full app image (88 dpkg packages with
# sources, the Go module graph and toolchain, 65 npm packages, the jars'
# Maven coordinates, 4 Python packages, each in its layer) against the
# image's own records. Exit status 1 when a check fails.
#
#   bench/sbom/check-app.sh [ARCHIVE]    (default ../shared/data/images/app-oci.tar)
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCHIVE=$(realpath "${1:-../shared/data/images/app-oci.tar}")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/moat" ./cmd/moat
"$out/moat" sbom --no-cache -f json -o "$out/inventory.json" "$ARCHIVE"
go run ./bench/sbom/checkapp "$ARCHIVE" "$out/inventory.json"
