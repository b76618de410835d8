#!/usr/bin/env bash
# Installs everything `make test` needs on a Debian machine, idempotently:
#   - apt: skopeo, podman, containerd, umoci, curl, etcd and sqlite3 (the real clients of
#     the e2e and README tests) and PostgreSQL when no initdb is found;
#   - go install: crane and oras at pinned versions into ./.tools/bin;
#   - cosign, which takes minutes to build, built once per version into a
#     cache outside the checkout ($MOAT_TOOLS_CACHE, default
#     ~/.cache/moat/tools/cosign@VERSION) and linked from ./.tools/bin;
#   - the OCI distribution-spec conformance suite, built once per version
#     into ./.tools/conformance/<version>/conformance;
#   - kube-apiserver and kubectl (etcd comes from apt), built from the
#     Kubernetes source modules once per version into the same cache
#     (~20 minutes) and linked from ./.tools/bin.
# Run it again at will: finished steps are skipped. apt-get update runs only
# when a package is missing. Installing apt packages needs root (or sudo).
#
# Usage: scripts/install-deps.sh [--no-apt]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
TOOLS="$ROOT/.tools"

# Pinned versions; bump deliberately.
CRANE_VERSION=v0.22.1
ORAS_VERSION=v1.3.6
COSIGN_VERSION=v2.6.5
CONFORMANCE_MODULE=github.com/opencontainers/distribution-spec/conformance
CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111
KUBERNETES_VERSION=v1.34.2

APT_PACKAGES=(skopeo podman containerd umoci curl etcd-server sqlite3)

log() { printf 'install-deps: %s\n' "$*" >&2; }

want_apt=1
for arg in "$@"; do
	case "$arg" in
	--no-apt) want_apt=0 ;;
	-h | --help)
		sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		log "unknown argument: $arg"
		exit 2
		;;
	esac
done

have_initdb() {
	command -v initdb >/dev/null 2>&1 && return 0
	compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_apt() {
	local missing=() pkg
	for pkg in "${APT_PACKAGES[@]}"; do
		pkg_installed "$pkg" || missing+=("$pkg")
	done
	if ! have_initdb; then
		missing+=(postgresql)
	fi
	if ((${#missing[@]} == 0)); then
		log "apt packages present"
		return
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		log "missing ${missing[*]} and no apt-get here: install them by hand"
		exit 1
	fi
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || {
			log "missing ${missing[*]}: run as root or install sudo"
			exit 1
		}
		sudo=(sudo)
	fi
	log "installing ${missing[*]}"
	local apt_env=(env DEBIAN_FRONTEND=noninteractive)
	# Package lists are only fetched when installing from them fails, which
	# is the case on a fresh machine whose lists are empty.
	if ! "${sudo[@]}" "${apt_env[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
		"${sudo[@]}" apt-get update -qq
		"${sudo[@]}" "${apt_env[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# go_tool NAME VERSION PACKAGE installs PACKAGE@VERSION into a directory keyed
# by version and links it from .tools/bin, so a bumped pin rebuilds.
go_tool() {
	local name=$1 version=$2 pkg=$3
	local dir="$TOOLS/$name/$version"
	if [[ ! -x "$dir/$name" ]]; then
		log "go install $pkg@$version"
		mkdir -p "$dir"
		GOBIN="$dir" GOFLAGS=-mod=mod go install "$pkg@$version"
	fi
	mkdir -p "$TOOLS/bin"
	ln -sfn "../$name/$version/$name" "$TOOLS/bin/$name"
}

# cached_go_tool NAME VERSION PACKAGE is go_tool for tools slow to build:
# the binary is kept in a cache shared by every checkout, keyed by
# NAME@VERSION, and linked from .tools/bin.
cached_go_tool() {
	local name=$1 version=$2 pkg=$3
	local cache="${MOAT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/moat/tools}"
	local dir="$cache/$name@$version"
	if [[ ! -x "$dir/$name" ]]; then
		log "go install $pkg@$version into $dir (several minutes, once per version)"
		mkdir -p "$cache"
		local tmp
		tmp="$(mktemp -d "$cache/.build-$name-XXXXXX")"
		GOBIN="$tmp" GOFLAGS=-mod=mod go install "$pkg@$version"
		mkdir -p "$dir"
		mv "$tmp/$name" "$dir/$name"
		rmdir "$tmp"
	fi
	mkdir -p "$TOOLS/bin"
	ln -sfn "$dir/$name" "$TOOLS/bin/$name"
}

# build_kubernetes builds kube-apiserver and kubectl. k8s.io/kubernetes
# cannot be installed with go install: its go.mod points the k8s.io
# staging modules at ./staging. A wrapper module points them at their
# published releases (v0.X.Y for vX.Y.Z) instead.
build_kubernetes() {
	local cache="${MOAT_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/moat/tools}"
	local dir="$cache/kubernetes@$KUBERNETES_VERSION"
	if [[ ! -x "$dir/kube-apiserver" || ! -x "$dir/kubectl" ]]; then
		log "building kube-apiserver and kubectl $KUBERNETES_VERSION into $dir (about 20 minutes, once per version)"
		mkdir -p "$cache"
		local tmp staging=v0${KUBERNETES_VERSION#v1}
		tmp="$(mktemp -d "$cache/.build-kubernetes-XXXXXX")"
		{
			printf 'module moat.local/kubernetes-tools\n\ngo 1.24.0\n\nreplace (\n'
			for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
				cloud-provider cluster-bootstrap code-generator component-base component-helpers \
				controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation \
				endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy \
				kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission \
				sample-apiserver sample-cli-plugin sample-controller; do
				printf '\tk8s.io/%s => k8s.io/%s %s\n' "$m" "$m" "$staging"
			done
			printf ')\n'
		} >"$tmp/go.mod"
		printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\t_ "k8s.io/kubectl/pkg/cmd"\n)\n' >"$tmp/tools.go"
		local ver="-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION"
		(cd "$tmp" && GOFLAGS=-mod=mod go get "k8s.io/kubernetes@$KUBERNETES_VERSION" &&
			GOFLAGS=-mod=mod go build -trimpath -ldflags "$ver" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver &&
			GOFLAGS=-mod=mod go build -trimpath -ldflags "$ver" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl)
		mkdir -p "$dir"
		mv "$tmp/kube-apiserver" "$tmp/kubectl" "$dir/"
		rm -rf "$tmp"
	fi
	mkdir -p "$TOOLS/bin"
	ln -sfn "$dir/kube-apiserver" "$TOOLS/bin/kube-apiserver"
	ln -sfn "$dir/kubectl" "$TOOLS/bin/kubectl"
}

build_conformance() {
	local dir="$TOOLS/conformance/$CONFORMANCE_VERSION"
	if [[ ! -x "$dir/conformance" ]]; then
		log "building $CONFORMANCE_MODULE@$CONFORMANCE_VERSION"
		local src scratch
		# Outside any module so the repository's go.mod is left alone.
		scratch="$(mktemp -d)"
		src=$(cd "$scratch" && go mod download -json "$CONFORMANCE_MODULE@$CONFORMANCE_VERSION" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
		rmdir "$scratch"
		if [[ -z "$src" || ! -d "$src" ]]; then
			log "go mod download gave no directory for $CONFORMANCE_MODULE"
			exit 1
		fi
		# The module cache is read-only; build from a writable copy.
		local work="$TOOLS/conformance/src-$CONFORMANCE_VERSION"
		rm -rf "$work"
		mkdir -p "$TOOLS/conformance"
		cp -r "$src" "$work"
		chmod -R u+w "$work"
		mkdir -p "$dir"
		(cd "$work" && GOFLAGS=-mod=mod go build -trimpath \
			-ldflags "-X main.Version=$CONFORMANCE_VERSION" -o "$dir/conformance" .)
		rm -rf "$work"
	fi
	mkdir -p "$TOOLS/bin"
	ln -sfn "../conformance/$CONFORMANCE_VERSION/conformance" "$TOOLS/bin/oci-conformance"
}

if ((want_apt)); then
	install_apt
fi
mkdir -p "$TOOLS"
go_tool crane "$CRANE_VERSION" github.com/google/go-containerregistry/cmd/crane
go_tool oras "$ORAS_VERSION" oras.land/oras/cmd/oras
cached_go_tool cosign "$COSIGN_VERSION" github.com/sigstore/cosign/v2/cmd/cosign
build_conformance
build_kubernetes
log "tools ready in $TOOLS/bin"
