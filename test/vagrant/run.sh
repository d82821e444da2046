#!/bin/bash
# make test-vagrant: the Vagrantfile's lab booted for real with the libvirt
# provider, on this machine, then the seed's scenario across the VMs.
#
#   test/vagrant/run.sh [MACHINE...]     (default: web1 web2 lb1 lb2 client)
#
# Network safety: libvirtd, its networks and dnsmasq, the VMs' taps and
# bridges, QEMU and vagrant itself all run inside a network namespace this
# script creates (and a private mount namespace for libvirt's state), so
# that no bridge, route or NAT of the lab appears in the host's root
# namespace; the VMs reach nothing outside the lab, and the box carries
# every package they need. Everything is removed at the end, also on
# failure: the VMs, libvirt's daemons, the namespace.
#
# With fewer machines than the five, the VMs boot and are provisioned but
# the scenario (which needs all five) is skipped; useful to try a boot on a
# loaded machine. KEEP=1 leaves the lab running (and prints how to enter
# and remove it).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

[ "$(id -u)" = 0 ] || { echo "test-vagrant: run as root (libvirtd, network namespaces)" >&2; exit 1; }
missing=()
for c in vagrant libvirtd virtlogd qemu-system-x86_64 qemu-img mmdebstrap mkfs.ext4 dnsmasq ip unshare; do
	command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if ! vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt; then missing+=(vagrant-libvirt); fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "test-vagrant: missing ${missing[*]}: apt-get install vagrant vagrant-libvirt libvirt-daemon-system" \
		"qemu-system-x86 qemu-utils mmdebstrap e2fsprogs dnsmasq-base iproute2 (make test-vagrant does)" >&2
	exit 1
fi

cache=${DIRECTOR_VAGRANT_CACHE:-$repo/.cache/vagrant}
box=$cache/box
mkdir -p "$cache"
t_start=$(date +%s)
step() { # step NAME: a timed line
	local now; now=$(date +%s)
	echo "== [$(date -u +%H:%M:%S) +$((now - t_start))s] $*"
}

if [ ! -f "$box/director-bookworm.box" ] || [ "$repo/vagrant/box/build.sh" -nt "$box/director-bookworm.box" ]; then
	step "building the box (vagrant/box/build.sh)"
	vagrant/box/build.sh "$box"
fi
deb=${DIRECTOR_DEB:-$(ls -t "$repo"/build/director_*_amd64.deb 2>/dev/null | head -n 1)}
[ -n "$deb" ] && [ -f "$deb" ] || { echo "test-vagrant: no build/director_*.deb: make deb" >&2; exit 1; }

ns=dvag$$
ip netns add "$ns"
cleanup() {
	local rc=$?
	if [ "${KEEP:-0}" = 1 ]; then
		echo "KEEP=1: the lab runs in network namespace $ns; remove it with: ip netns pids $ns | xargs -r kill; ip netns del $ns"
		exit $rc
	fi
	# Whatever is left in the namespace was started by this test.
	local pids; pids=$(ip netns pids "$ns" 2>/dev/null || true)
	if [ -n "$pids" ]; then
		kill $pids 2>/dev/null || true
		for _ in $(seq 50); do
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			[ -z "$pids" ] && break
			sleep 0.2 # waiting for processes to exit, bounded
		done
		[ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	step "cleaned up (exit $rc)"
	exit $rc
}
trap cleanup EXIT INT TERM

step "network namespace $ns; entering it"
ip netns exec "$ns" unshare --mount --propagation private -- \
	env T_START="$t_start" REPO="$repo" BOX="$box" DEB="$deb" CACHE="$cache" NS="$ns" \
	bash "$repo/test/vagrant/inside.sh" "$@"
