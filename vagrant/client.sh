#!/bin/bash
# client: curl, and a first look at the split through the VIP.
# Run as root by Vagrant's shell provisioner.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
if ! command -v curl >/dev/null 2>&1; then
	apt-get update -qq
	apt-get install -y -qq curl >/dev/null
fi

# The VIP 192.168.56.10 is on the client's own network (192.168.56.100/24):
# the route to it is on-link (the connected route of that interface), the
# active director answers ARP for it. The default route stays on Vagrant's
# NAT interface, which Vagrant needs for ssh.
ip route get 192.168.56.10

# Not fatal: the directors may still be checking the web servers.
echo "GET http://192.168.56.10/ x8 (wrr 3:1, web1:web2):"
for i in 1 2 3 4 5 6 7 8; do
	curl -s --max-time 2 http://192.168.56.10/ || echo "(no answer)"
done
