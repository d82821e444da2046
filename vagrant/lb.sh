#!/bin/bash
# lb1/lb2: the director in place of the seed's ipvsadm + Heartbeat.
# Run as root by Vagrant's shell provisioner, with NODE, PUBLIC_IF,
# INTERNAL_IF and DIRECTOR_KEY from the Vagrantfile; the package (make deb)
# has been uploaded to /tmp/director.deb just before. Safe to run again
# (vagrant provision): a newer package is an upgrade, whose maintainer
# scripts restart the daemon.
set -euo pipefail

: "${NODE:?}" "${PUBLIC_IF:?}" "${INTERNAL_IF:?}" "${DIRECTOR_KEY:?}"

for ifc in "$PUBLIC_IF" "$INTERNAL_IF"; do
	if ! ip link show dev "$ifc" >/dev/null 2>&1; then
		echo "$NODE: no interface $ifc; set DIRECTOR_PUBLIC_IF / DIRECTOR_INTERNAL_IF (interfaces here: $(ls /sys/class/net | tr '\n' ' '))" >&2
		exit 1
	fi
done

# The package built on the host (make deb): the binary, the man page and
# the systemd unit (Type=notify, validation before start).
dpkg -i --force-confold /tmp/director.deb
rm -f /tmp/director.deb

# Forwarding, now and at every boot (the seed's sysctl.conf edit).
echo 'net.ipv4.ip_forward = 1' >/etc/sysctl.d/90-director.conf
sysctl -q -p /etc/sysctl.d/90-director.conf

install -d -m 0755 /etc/director

# The pair's shared key (the seed's authkeys): a raw key, mode 0600 or the
# daemon refuses to start.
( umask 077; printf '%s\n' "$DIRECTOR_KEY" >/etc/director/authkey )
chmod 600 /etc/director/authkey

# The seed's ipvsadm.rules, ha.cf and haresources as one file; the same on
# lb1 and lb2 but for `node`.
cat >/etc/director/director.yaml <<YAML
# Written by vagrant/lb.sh (vagrant provision overwrites it).
node: $NODE
interfaces:
  public: $PUBLIC_IF
  internal: $INTERNAL_IF
services:
  # ipvsadm -A -t 192.168.56.10:80 -s wrr; -a ... -m -w 3 / -w 1
  - vip: 192.168.56.10
    port: 80
    protocol: tcp
    scheduler: wrr
    real_servers:
      - {address: 192.168.200.11, port: 80, weight: 3}   # web1
      - {address: 192.168.200.12, port: 80, weight: 1}   # web2
metrics:
  listen: 127.0.0.1:9917
ha:
  nodes: [lb1, lb2]
  transport: {mode: bcast, interface: $PUBLIC_IF, port: 694}
  keepalive: 1s
  deadtime: 5s
  auth: {method: sha256, key_file: /etc/director/authkey}
  auto_failback: true
  resources:
    owner: lb1
    addresses:
      - {address: 192.168.56.10/24, interface: $PUBLIC_IF}      # the VIP
      - {address: 192.168.200.250/24, interface: $INTERNAL_IF}  # web1/web2's gateway
YAML
chmod 644 /etc/director/director.yaml
director validate --config /etc/director/director.yaml

# The packaged unit (/lib/systemd/system/director.service). Type=notify:
# systemctl returns once the daemon has said READY=1 (data plane attached,
# services applied), or fails with the journal's reason.
rm -f /etc/systemd/system/director.service # the inline unit of earlier versions of this script
systemctl daemon-reload
systemctl enable director.service
# restart, not start: a new binary or configuration takes effect on
# `vagrant provision` (a clean stop hands the addresses to the peer).
systemctl restart director.service || {
	journalctl -u director.service -n 30 --no-pager >&2
	exit 1
}
director status || true
