#!/bin/bash
# The part of make test-vagrant that runs inside its network namespace and
# a private mount namespace (run.sh starts it): libvirt's daemons with
# state of their own, vagrant up, the seed's scenario, vagrant destroy.
set -euo pipefail
: "${REPO:?}" "${BOX:?}" "${DEB:?}" "${CACHE:?}" "${T_START:?}" "${NS:?}"
cd "$REPO"
step() {
	local now; now=$(date +%s)
	echo "== [$(date -u +%H:%M:%S) +$((now - T_START))s] $*"
}

machines=("$@")
[ ${#machines[@]} -gt 0 ] || machines=(web1 web2 lb1 lb2 client)

ip link set lo up

# libvirt's configuration and state, private to this run: bind mounts in
# this mount namespace only.
state=$(mktemp -d /tmp/director-vagrant.XXXXXX)
for d in /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt; do
	mkdir -p "$state$d" "$d"
	[ "$d" = /etc/libvirt ] && cp -a /etc/libvirt/. "$state$d/"
	mount --bind "$state$d" "$d"
done
mkdir -p /var/lib/libvirt/images /var/lib/libvirt/qemu /var/lib/libvirt/dnsmasq /var/lib/libvirt/network /var/log/libvirt/qemu
# QEMU as root, no cgroups (none to delegate in a container), logs to
# files (no virtlogd needed for them), no security driver.
cat >>/etc/libvirt/qemu.conf <<'CONF'

# test/vagrant/inside.sh
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
cgroup_controllers = [ ]
stdio_handler = "file"
namespaces = [ ]
security_driver = "none"
CONF

step "libvirtd"
virtlogd -d -p "$state/virtlogd.pid"
libvirtd -d -p "$state/libvirtd.pid"
for _ in $(seq 100); do
	virsh -c qemu:///system version >/dev/null 2>&1 && break
	sleep 0.1 # polling the daemon's socket, bounded
done
virsh -c qemu:///system version

teardown() {
	local rc=$?
	if [ "${KEEP:-0}" != 1 ]; then
		step "vagrant destroy"
		timeout 300 vagrant destroy -f >/dev/null 2>&1 || echo "vagrant destroy failed (the namespace's removal ends the VMs)"
		for p in "$state"/libvirtd.pid "$state"/virtlogd.pid; do
			[ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
		done
		umount /etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt 2>/dev/null || true
		rm -rf "$state"
	fi
	exit $rc
}
trap teardown EXIT

export VAGRANT_HOME=$CACHE/vagrant-home
export VAGRANT_DOTFILE_PATH=$state/dotvagrant
export VAGRANT_DEFAULT_PROVIDER=libvirt
export VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_NO_PLUGINS_UPDATE=1
export DIRECTOR_BOX=director-bookworm
export DIRECTOR_BOX_KERNEL=$BOX/vmlinuz DIRECTOR_BOX_INITRD=$BOX/initrd.img
export DIRECTOR_LIBVIRT_DRIVER=qemu # no KVM here: software emulation
export DIRECTOR_DEB=$DEB
DIRECTOR_HA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export DIRECTOR_HA_KEY

# Added again only when the box file is newer than the last addition.
stamp=$VAGRANT_HOME/director-bookworm.added
if ! vagrant box list 2>/dev/null | grep -q "^director-bookworm " || [ "$BOX/director-bookworm.box" -nt "$stamp" ]; then
	step "vagrant box add"
	vagrant box add --force --name director-bookworm "$BOX/director-bookworm.box"
	touch "$stamp"
fi

# vagrant's progress bars (\r-separated) would fill the log.
quiet() { local rc=0; "$@" > >(tr '\r' '\n' | grep --line-buffered -v 'Progress: ') 2>&1 || rc=$?; return $rc; }
for m in "${machines[@]}"; do
	step "vagrant up $m"
	quiet vagrant up --no-parallel "$m"
done
step "up: ${machines[*]}"

# A broken file: the unit fails before anything is attached (after its
# three tries), and the journal names the problem (file:line: reason);
# the good file starts it again.
broken_config() { # broken_config NODE
	step "$1: director.service with a broken configuration"
	local out
	out=$(vagrant ssh "$1" -c 'sudo cp /etc/director/director.yaml /tmp/good.yaml
		printf "services:\n  - vip: 192.168.56.10\n    port: 0\n" | sudo tee -a /etc/director/director.yaml >/dev/null
		sudo systemctl restart director; echo "restart exit $?"
		for i in $(seq 90); do s=$(systemctl is-active director); [ "$s" = failed ] && break; sleep 1; done
		echo "state: $s after ${i}s"
		sudo journalctl -u director -n 12 --no-pager
		sudo cp /tmp/good.yaml /etc/director/director.yaml; sudo systemctl reset-failed director
		sudo systemctl start director; echo "with the good file: $(systemctl is-active director)"' 2>&1 | tr -d '\r')
	echo "$out"
	check "a broken file fails the start" grep -q '^state: failed' <<<"$out"
	check "the journal names file:line: reason" grep -q 'director.yaml:[0-9]*: ' <<<"$out"
	check "the good file starts again" grep -q 'with the good file: active' <<<"$out"
}

fail=0
check() { # check DESCRIPTION COND...
	local what=$1; shift
	if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fail=1; fi
}

if [ ${#machines[@]} -lt 5 ]; then
	for m in "${machines[@]}"; do
		echo "--- $m:"; vagrant ssh "$m" -c 'uname -r; systemctl is-system-running; ip -4 -o addr show | awk "{print \$2, \$4}"' || true
	done
	for m in "${machines[@]}"; do
		case $m in lb*) broken_config "$m" ;; esac
	done
	step "fewer than five machines: no scenario"
	[ $fail = 0 ] || { echo "test-vagrant: FAILED"; exit 1; }
	exit 0
fi

# --- The seed's scenario ---------------------------------------------------
# 40 new connections from the client; prints "web1 N web2 M none K".
split() {
	vagrant ssh client -c 'w1=0 w2=0 no=0; for i in $(seq 40); do
		case $(curl -s --max-time 3 http://192.168.56.10/) in
		*web1*) w1=$((w1+1)) ;; *web2*) w2=$((w2+1)) ;; *) no=$((no+1)) ;;
		esac; done; echo "web1 $w1 web2 $w2 none $no"' 2>/dev/null | tr -d '\r' | tail -n 1
}
holds() { # holds NODE: does NODE hold both floating addresses?
	local a; a=$(vagrant ssh "$1" -c 'ip -4 -o addr show' 2>/dev/null)
	grep -q ' 192\.168\.56\.10/' <<<"$a" && grep -q ' 192\.168\.200\.250/' <<<"$a"
}
not_holds() { ! holds "$1"; }
wait_holds() { # wait_holds NODE SECONDS
	local end=$(( $(date +%s) + $2 ))
	while [ "$(date +%s)" -lt "$end" ]; do
		holds "$1" && return 0
		sleep 1 # polling the addresses, bounded
	done
	return 1
}

step "status of lb1"
vagrant ssh lb1 -c 'sudo director status; systemctl show director -p Type -p ActiveState -p SubState -p StatusText; sudo journalctl -u director -b --no-pager | grep -m3 -E "data plane|serving"' | tr -d '\r'
mode=$(vagrant ssh lb1 -c 'sudo director status --json' 2>/dev/null | tr -d '\r' | sed -n 's/^  "dataplane": "\(.*\)",$/\1/p')
echo "XDP mode auto chose on virtio_net: ${mode:-unknown}"

wait_holds lb1 60 && echo "lb1 holds the VIP and the gateway"
step "40 new connections through lb1"
s=$(split); echo "split: $s"
check "wrr 3:1 through lb1 gives 30/10" [ "$s" = "web1 30 web2 10 none 0" ]

step "vagrant halt lb1"
vagrant halt lb1
t0=$(date +%s)
check "lb2 takes both addresses" wait_holds lb2 60
echo "lb2 holds both $(( $(date +%s) - t0 ))s after lb1's halt returned"
s=$(split); echo "split through lb2: $s"
check "lb2 answers, 30/10" [ "$s" = "web1 30 web2 10 none 0" ]

# lb1 comes back as a rebooted machine does: its domain started again,
# its interfaces configured at boot from what Vagrant wrote. Not `vagrant
# up`, whose network step takes the private interfaces down and flushes
# their addresses, floating ones included, under the running director.
step "lb1 boots again (virsh start)"
dom=$(virsh -c qemu:///system list --all --name | grep '_lb1$')
virsh -c qemu:///system start "$dom"
t0=$(date +%s)
check "lb1 takes both addresses back" wait_holds lb1 600
echo "lb1 holds both $(( $(date +%s) - t0 ))s after its domain started"
check "lb2 released them" not_holds lb2
s=$(split); echo "split through lb1 again: $s"
check "lb1 answers again, 30/10" [ "$s" = "web1 30 web2 10 none 0" ]

broken_config lb2 # the standby

step "scenario done"
[ $fail = 0 ] || { echo "test-vagrant: FAILED"; exit 1; }
echo "test-vagrant: passed"
