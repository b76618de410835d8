#!/usr/bin/env bash
# Throwaway PostgreSQL server for the test suite.
#
#   scripts/postgres.sh start   # install if needed, init, start; prints the admin URL
#   scripts/postgres.sh url     # prints the admin URL
#   scripts/postgres.sh status  # exit 0 if running, non-zero otherwise
#   scripts/postgres.sh stop    # stops the server (data stays for the next start)
#   scripts/postgres.sh dir     # prints the cluster directory
#
# Typical use:
#   export MOAT_TEST_POSTGRES_URL="$(scripts/postgres.sh start)"
#
# The cluster lives in ./.tmp/pg (MOAT_PG_DIR overrides; as root, in
# /tmp/moat-pg-<checksum of the checkout path> when the postgres user cannot
# reach ./.tmp), listens on 127.0.0.1 port 55432 (MOAT_PG_PORT overrides)
# and trusts every local connection: it
# holds nothing but test databases and is tuned for speed (fsync off), never
# for durability. PostgreSQL refuses to run as root, so when started by root
# the server runs as the "postgres" system user.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${MOAT_PG_PORT:-55432}"
url="postgres://postgres@127.0.0.1:${port}/postgres?sslmode=disable"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# pgbin prints the newest installed PostgreSQL server bin directory.
pgbin() {
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
	if [[ -n "$d" && -x "$d/initdb" ]]; then
		printf '%s\n' "$d"
		return 0
	fi
	local initdb
	initdb="$(command -v initdb || true)"
	if [[ -n "$initdb" ]]; then
		dirname "$(readlink -f "$initdb")"
		return 0
	fi
	return 1
}

install_postgres() {
	command -v apt-get >/dev/null || die "initdb not found and apt-get unavailable: install PostgreSQL server binaries"
	local sudo=()
	if [[ "$(id -u)" != 0 ]]; then
		command -v sudo >/dev/null || die "initdb not found: run as root or install the postgresql package"
		sudo=(sudo)
	fi
	log "installing postgresql with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! "${sudo[@]}" apt-get install -y --no-install-recommends postgresql >&2; then
		"${sudo[@]}" apt-get update >&2
		"${sudo[@]}" apt-get install -y --no-install-recommends postgresql >&2
	fi
}

# as_owner runs a command as the user that owns the cluster.
as_owner() {
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# datadir prints the cluster directory. As root the server runs as
# "postgres", which must be able to reach it: a checkout under a private home
# directory, or a ./.tmp that another tool made private, is not reachable, so
# the cluster moves to /tmp then. What counts is the deepest directory of the
# path that exists already; start creates the rest world-searchable.
datadir() {
	if [[ -n "${MOAT_PG_DIR:-}" ]]; then
		printf '%s\n' "$MOAT_PG_DIR"
		return
	fi
	local d="$root/.tmp/pg"
	if [[ "$(id -u)" == 0 ]] && ! postgres_reaches "$d"; then
		d="/tmp/moat-pg-$(printf '%s' "$root" | cksum | cut -d' ' -f1)"
	fi
	printf '%s\n' "$d"
}

# postgres_reaches says whether the postgres user can search the deepest
# existing directory on the way to $1 (and so every directory above it).
postgres_reaches() {
	local p="$1"
	while [[ ! -e "$p" ]]; do
		p="$(dirname "$p")"
	done
	id postgres >/dev/null 2>&1 || return 0 # no server without the user (start creates it first)
	runuser -u postgres -- test -x "$p" 2>/dev/null
}

running() {
	local bin="$1" dir="$2"
	[[ -f "$dir/PG_VERSION" ]] && as_owner "$bin/pg_ctl" status -D "$dir" >/dev/null 2>&1
}

start() {
	local bin dir
	if ! bin="$(pgbin)"; then
		install_postgres
		bin="$(pgbin)" || die "PostgreSQL installed but no initdb found under /usr/lib/postgresql/*/bin"
	fi
	if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
		log "creating system user postgres to run the server"
		useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/sh postgres
	fi
	dir="$(datadir)"
	if running "$bin" "$dir"; then
		printf '%s\n' "$url"
		return 0
	fi
	# Parents made here must stay searchable by postgres whatever the umask.
	local parent
	parent="$(dirname "$dir")"
	if [[ ! -d "$parent" ]]; then
		mkdir -p "$parent"
		chmod 755 "$parent"
	fi
	mkdir -p "$dir"
	chmod 700 "$dir"
	if [[ "$(id -u)" == 0 && "$(stat -c %U "$dir")" != postgres ]]; then
		chown -R postgres: "$dir"
	fi
	if [[ ! -f "$dir/PG_VERSION" ]]; then
		log "initialising cluster in $dir"
		as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 ||
			{ cat "$dir.initdb.log" >&2; die "initdb failed"; }
	fi
	# Unix socket paths are limited to ~107 bytes; use the cluster directory
	# when it fits, otherwise listen on TCP only.
	local sockdir="$dir"
	if (( ${#dir} > 90 )); then
		sockdir=""
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die "port $port is in use by another server; set MOAT_PG_PORT"
	fi
	log "starting PostgreSQL on 127.0.0.1:$port"
	as_owner "$bin/pg_ctl" start -D "$dir" -w -t 60 -l "$dir/server.log" \
		-o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$sockdir' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >&2 ||
		{ tail -n 30 "$dir/server.log" >&2 || true; die "pg_ctl start failed"; }
	printf '%s\n' "$url"
}

stop() {
	local bin dir
	bin="$(pgbin)" || return 0
	dir="$(datadir)"
	if running "$bin" "$dir"; then
		as_owner "$bin/pg_ctl" stop -D "$dir" -m fast -w >&2
	fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
url) printf '%s\n' "$url" ;;
dir) datadir ;;
status)
	bin="$(pgbin)" || exit 1
	running "$bin" "$(datadir)"
	;;
*) die "usage: $0 start|stop|url|status|dir" ;;
esac
