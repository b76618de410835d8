#!/usr/bin/env bash
# Checks misconfig's collector against the real filesystem of an OCI image
# archive: the layers are extracted (as root, to keep modes and owners) into
# a temporary directory, and
#   - the setuid/setgid list must equal `find -perm /6000` there,
#   - the shells, package managers and network tools must equal what the
#     bin directories hold,
#   - the image configuration must be reported as running as root.
# Usage: bench/misconfig/check.sh [IMAGE.tar]   (run from the repository root)
set -euo pipefail

image=${1:-../shared/data/images/app-oci.tar}
[ "$(id -u)" = 0 ] || { echo "run as root: extraction must keep modes and owners" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/oci" "$work/root"
tar -xf "$image" -C "$work/oci"

manifest=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"].split(":")[1])' "$work/oci/index.json")
read -r config layers < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(m["config"]["digest"].split(":")[1], " ".join(l["digest"].split(":")[1] for l in m["layers"]))' "$work/oci/blobs/sha256/$manifest")

for l in $layers; do
	# Some writers omit end-of-archive blocks; GNU tar then exits non-zero
	# after extracting every entry.
	tar -xzpf "$work/oci/blobs/sha256/$l" -C "$work/root" --numeric-owner 2>/dev/null || true
	if tar -tzf "$work/oci/blobs/sha256/$l" 2>/dev/null | grep -q '\.wh\.'; then
		echo "layer $l has whiteouts; this script does not apply them" >&2
		exit 2
	fi
done

go run ./bench/misconfig/facts "$image" "$work/oci/blobs/sha256/$config" >"$work/facts"

(cd "$work/root" && find . -perm /6000 | sed 's|^\.||' | sort) >"$work/want-special"
awk '$1 == "special" {print $2}' "$work/facts" | sort >"$work/got-special"

tools="sh bash dash ash zsh ksh mksh csh tcsh fish busybox apt apt-get aptitude dpkg apk yum dnf microdnf rpm zypper pip pip3 npm yarn gem curl wget nc netcat ncat socat telnet ssh scp sftp ftp tftp nmap"
: >"$work/want-tools"
for d in /bin /sbin /usr/bin /usr/sbin /usr/local/bin /usr/local/sbin; do
	[ -d "$work/root$d" ] && [ ! -L "$work/root$d" ] || continue
	for t in $tools; do
		if [ -e "$work/root$d/$t" ] || [ -L "$work/root$d/$t" ]; then echo "$d/$t" >>"$work/want-tools"; fi
	done
done
sort -o "$work/want-tools" "$work/want-tools"
awk '$1 == "tool" {print $3}' "$work/facts" | sort >"$work/got-tools"

status=0
echo "setuid/setgid: find lists $(wc -l <"$work/want-special"), moat lists $(wc -l <"$work/got-special")"
diff -u "$work/want-special" "$work/got-special" || status=1
echo "tools: the filesystem has $(wc -l <"$work/want-tools"), moat lists $(wc -l <"$work/got-tools")"
diff -u "$work/want-tools" "$work/got-tools" || status=1
if grep -q '^config MC001 ' "$work/facts"; then echo "runs as root: reported"; else echo "runs as root: NOT reported"; status=1; fi
cat "$work/facts"
[ $status = 0 ] && echo "OK" || echo "MISMATCH"
exit $status
