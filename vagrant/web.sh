#!/bin/bash
# web1/web2: nginx with a page naming the node (the seed's edited default
# pages), and the way back to the clients through the directors.
# Run as root by Vagrant's shell provisioner, with NODE from the Vagrantfile.
set -euo pipefail

: "${NODE:?}"

export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s nginx >/dev/null 2>&1; then
	apt-get update -qq
	apt-get install -y -qq nginx >/dev/null
fi
# nginx's default site serves index.html before Debian's own page.
cat >/var/www/html/index.html <<HTML
<html><body><h1>$NODE</h1></body></html>
HTML
systemctl enable --now nginx
systemctl reload nginx

# The seed gives web1/web2 the director as default gateway (192.168.200.250,
# floating between lb1 and lb2), so that replies go back through the NAT.
# Here eth0 is Vagrant's NAT interface, which Vagrant needs for ssh and apt
# needs for the mirror: its default route stays, and only the public lab
# network is routed via the floating gateway, which is all the NAT needs.
#
# An ifupdown hook, not a one-shot at boot: Vagrant configures the private
# interfaces through ifupdown and takes them down and up again on
# `vagrant up`/`reload`, which drops any route added beside it. The hook
# adds the route whenever the interface holding 192.168.200.0/24 comes up,
# whatever its name.
cat >/etc/network/if-up.d/director-lab-route <<'HOOK'
#!/bin/sh
# Installed by vagrant/web.sh: the lab's public network via the directors'
# floating gateway.
[ "$MODE" = start ] || [ -z "$MODE" ] || exit 0
[ -n "$IFACE" ] && [ "$IFACE" != lo ] && [ "$IFACE" != --all ] || exit 0
ip -4 -o addr show dev "$IFACE" 2>/dev/null | grep -q ' inet 192\.168\.200\.' || exit 0
ip route replace 192.168.56.0/24 via 192.168.200.250 dev "$IFACE"
HOOK
chmod 755 /etc/network/if-up.d/director-lab-route

# And now, on the interface Vagrant has just configured.
ifc=$(ip -4 -o addr show | awk '$4 ~ /^192\.168\.200\./ {print $2; exit}')
if [ -z "$ifc" ]; then
	echo "$NODE: no interface on 192.168.200.0/24" >&2
	exit 1
fi
MODE=start IFACE=$ifc /etc/network/if-up.d/director-lab-route
ip route show 192.168.56.0/24
