#!/usr/bin/env bash
# Benchmark moat (without and with access control) against CNCF
# Distribution on this machine, in one run, and print the results side by
# side:
#
#   bench/registry/run.sh            # 1 GiB in 64 MiB blobs, 32 clients, 10 s
#
# Both servers use local-disk storage under a fresh temporary directory and
# listen on loopback only. moat runs on its embedded default (fs + SQLite).
# Distribution v3.1.2 is installed into ./.tools/bin with `go install`.
# Environment: BENCH_ARGS adds flags to the load tool (see
# `go run ./bench/registry -h`), BENCH_DIR keeps the data somewhere else.
# Run by hand; not part of `make test`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
DIST_VERSION=v3.1.2
tools="$root/.tools/bin"
work="${BENCH_DIR:-$(mktemp -d /tmp/moat-bench.XXXXXX)}"
mkdir -p "$tools" "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n "${BENCH_DIR:-}" ]] || rm -rf "$work"
}
trap cleanup EXIT

log() { printf 'bench: %s\n' "$*" >&2; }

log "building moat and the load tool"
go build -o "$work/moat" ./cmd/moat
go build -o "$work/registry-bench" ./bench/registry
if ! "$tools/registry" --version 2>/dev/null | grep -q "$DIST_VERSION"; then
	log "installing CNCF Distribution $DIST_VERSION"
	GOBIN="$tools" go install "github.com/distribution/distribution/v3/cmd/registry@$DIST_VERSION"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_up() {
	local url=$1 pid=$2
	for _ in $(seq 1 200); do
		kill -0 "$pid" 2>/dev/null || { log "server exited; see $work"; return 1; }
		# 200, or 401 from a registry that wants a login: up either way.
		case "$(curl -sS -o /dev/null -w '%{http_code}' "$url/v2/" 2>/dev/null)" in 200 | 401) return 0 ;; esac
		sleep 0.05
	done
	log "server at $url did not come up"
	return 1
}

# run NAME PORT CMD... starts a server, benchmarks it, stops it.
run() {
	local name=$1 port=$2 login=${LOGIN:-}
	shift 2
	"$@" >"$work/$name.log" 2>&1 &
	local pid=$!
	pids+=("$pid")
	wait_up "http://127.0.0.1:$port" "$pid"
	log "benchmarking $name (pid $pid)"
	# shellcheck disable=SC2086
	"$work/registry-bench" -url "http://127.0.0.1:$port" -name "$name" -pid "$pid" \
		-out "$work/$name.json" $login ${BENCH_ARGS:-}
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}

moat_port=$(free_port)
# Both registries run without access control: this measures the core.
run moat "$moat_port" "$work/moat" serve --auth=false --addr "127.0.0.1:$moat_port" --data-dir "$work/moat-data"

# moat as it starts by default, with access control: the load tool logs in
# through the token endpoint, and every pull is authorized and audited.
auth_port=$(free_port)
LOGIN="-user admin -pass bench-admin-password" \
	run moat-auth "$auth_port" env MOAT_ADMIN_PASSWORD=bench-admin-password \
	"$work/moat" serve --addr "127.0.0.1:$auth_port" --data-dir "$work/moat-auth-data"

dist_port=$(free_port)
mkdir -p "$work/dist-data"
cat >"$work/distribution.yml" <<YAML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $work/dist-data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$dist_port
YAML
run distribution "$dist_port" env OTEL_TRACES_EXPORTER=none "$tools/registry" serve "$work/distribution.yml"

echo
"$work/registry-bench" -table "$work/moat.json" "$work/moat-auth.json" "$work/distribution.json"
