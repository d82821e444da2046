package config

// The ha section: its problems, and the peer of a node.

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
)

// The lines of a valid ha section, at lines 3-7 after configHead.
const (
	configHANodes     = "  nodes: [lb1, lb2]\n"
	configHATransport = "  transport: {mode: bcast, interface: enp0s3}\n"
	configHAAuth      = "  auth: {key_file: /etc/director/authkey}\n"
	configHAResources = "  resources: {owner: lb1, addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}\n"
	// configHA is configHead and a valid ha section (lines 3-7), to which
	// cases add keys from line 8.
	configHA = configHead + "ha:\n" + configHANodes + configHATransport + configHAAuth + configHAResources
)

func TestConfigHAProblems(t *testing.T) {
	const nodeName = `want 1-64 letters, digits, '-' or '_', not starting with '_', got `
	const ifname = `want an interface name (1-15 bytes, no '/', ':' or whitespace, not "." or ".."), got `
	const duration = `want a duration ("100ms", "1s", "2m") or a number of seconds, got `
	const prefix = `ha.resources.addresses.address: want an IPv4 address with a prefix length ("192.168.56.10/24"), got `
	// ha is configHead and an ha section of the lines given.
	ha := func(lines ...string) string { return configHead + "ha:\n" + strings.Join(lines, "") }
	for _, c := range []struct {
		name, yaml string
		want       []string // without the "bad.yaml:" prefix
	}{
		{"valid base", configHA + "  frobnicate: 1\n", []string{`8: unknown key "frobnicate" in ha`}},

		// The section and its keys' types.
		{"not a mapping", configHead + "ha: [lb1, lb2]\n", []string{`3: ha: want a mapping, got a list`}},
		{"empty", configHead + "ha:\n", []string{
			`3: ha: missing key "nodes"`, `3: ha: missing key "transport"`,
			`3: ha: missing key "auth"`, `3: ha: missing key "resources"`,
		}},
		{"empty mapping", configHead + "ha: {}\n# the end\n", []string{
			`3: ha: missing key "nodes"`, `3: ha: missing key "transport"`,
			`3: ha: missing key "auth"`, `3: ha: missing key "resources"`,
		}},
		{"key types", ha("  nodes: {lb1: lb2}\n", "  transport: enp0s3\n", "  auth: /etc/director/authkey\n",
			"  auto_failback: yes\n", "  arp: 5\n", "  resources: [lb1]\n"), []string{
			`4: ha.nodes: want a list, got a mapping`,
			`5: ha.transport: want a mapping or a list of mappings, got "enp0s3"`,
			`6: ha.auth: want a mapping, got "/etc/director/authkey"`,
			`7: ha.auto_failback: want true or false, got "yes"`,
			`8: ha.arp: want a mapping, got "5"`,
			`9: ha.resources: want a mapping, got a list`,
		}},
		{"auto_failback null", configHA + "  auto_failback:\n", []string{`8: ha.auto_failback: want true or false, got nothing`}},

		// Conntrack sync.
		{"sync not a mapping", configHA + "  sync: yes\n", []string{`8: ha.sync: want a mapping, got "yes"`}},
		{"sync keys", configHA + "  sync:\n    enabled: 1\n    failback_wait: 2h\n    peer: x\n", []string{
			`9: ha.sync.enabled: want true or false, got "1"`,
			`10: ha.sync.failback_wait: 2h is outside 0s..1h`,
			`11: unknown key "peer" in ha.sync`,
		}},
		{"sync transport", configHA + "  sync:\n    transport: {mode: ucast, interface: enp0s8}\n", []string{
			`9: ha.sync.transport: missing key "peer" (mode ucast)`,
		}},
		{"auto_failback quoted", configHA + "  auto_failback: \"true\"\n", []string{`8: ha.auto_failback: want true or false, got "true"`}},

		// Unknown and duplicate keys in each mapping.
		{"unknown keys", ha(configHANodes,
			"  transport: {mode: bcast, interface: enp0s3, iface: enp0s3}\n",
			"  auth: {key_file: /etc/director/authkey, key: secret}\n",
			"  resources:\n",
			"    owner: lb1\n",
			"    addresses: [{address: 192.168.56.10/24, interface: enp0s3, label: vip}]\n",
			"    groups: []\n",
			"  arp: {count: 5, retries: 3}\n",
			"  stonith: none\n",
			"  nodes: [lb1, lb3]\n"), []string{
			`5: unknown key "iface" in ha.transport`,
			`6: unknown key "key" in ha.auth`,
			`9: unknown key "label" in ha.resources.addresses`,
			`10: unknown key "groups" in ha.resources`,
			`11: unknown key "retries" in ha.arp`,
			`12: unknown key "stonith" in ha`,
			`13: duplicate key "nodes" (first at line 4)`,
		}},
		{"unknown key in a link of a list", ha(configHANodes, "  transport:\n", "    - mode: bcast\n", "      interface: enp0s3\n",
			"      ttl: 1\n", "      deadtime: 5s\n", configHAAuth, configHAResources), []string{
			`8: ha.transport.ttl: only for mode mcast`,
			`9: unknown key "deadtime" in ha.transport`,
		}},

		// Nodes and owner.
		{"one node", ha("  nodes: [lb1]\n", configHATransport, configHAAuth, configHAResources),
			[]string{`4: ha.nodes: want 2 node names, got 1`}},
		{"no nodes", ha("  nodes:\n", configHATransport, configHAAuth, configHAResources),
			[]string{`4: ha.nodes: want 2 node names, got 0`}},
		{"node names", ha("  nodes:\n", "    - lb1\n", "    - lb1\n", "    - lb.3\n", "    - [lb4]\n",
			configHATransport, configHAAuth,
			"  resources: {owner: lb9, addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}\n"), []string{
			`4: ha.nodes: want 2 node names, got 4`,
			`6: duplicate ha node "lb1" (first at line 5)`,
			`7: ha.nodes: ` + nodeName + `"lb.3"`,
			`8: ha.nodes: ` + nodeName + `a list`,
		}},
		{"two same nodes", ha("  nodes: [lb1, lb1]\n", configHATransport, configHAAuth, configHAResources),
			[]string{`4: duplicate ha node "lb1" (first at line 4)`}},
		{"this node not in nodes", "node: lb3\ninterfaces: {public: enp0s3, internal: enp0s8}\n" + configHA[len(configHead):],
			[]string{`4: ha.nodes: this node "lb3" is not in [lb1 lb2]`}},
		{"this node invalid", "node: lb.1\ninterfaces: {public: enp0s3, internal: enp0s8}\n" + configHA[len(configHead):],
			[]string{`1: node: ` + nodeName + `"lb.1"`}},
		{"owner not in nodes", ha(configHANodes, configHATransport, configHAAuth,
			"  resources: {owner: lb3, addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}\n"),
			[]string{`7: ha.resources.owner: "lb3" is not in ha.nodes [lb1 lb2]`}},
		{"owner invalid", ha(configHANodes, configHATransport, configHAAuth,
			"  resources:\n", "    owner: _lb1\n", "    addresses: [{address: 192.168.56.10/24, interface: enp0s3}]\n"),
			[]string{`8: ha.resources.owner: ` + nodeName + `"_lb1"`}},

		// Transport.
		{"transport modes", ha(configHANodes, "  transport:\n",
			"    - {mode: multicast, interface: enp0s3}\n",
			"    - {mode: mcast, interface: enp0s3}\n",
			"    - {mode: ucast, interface: enp0s8}\n",
			"    - {mode: bcast, interface: enp0s3, peer: 192.168.56.12, group: 239.0.0.1, ttl: 2}\n",
			"    - {mode: ucast, interface: enp0s8, peer: 192.168.200.252, group: 239.0.0.1}\n",
			"    - {interface: enp0s3, group: 192.168.56.1}\n",
			"    - mode: bcast\n",
			"    - 694\n",
			"    -\n",
			configHAAuth, configHAResources), []string{
			`6: ha.transport.mode: want bcast, mcast or ucast, got "multicast"`,
			`7: ha.transport: missing key "group" (mode mcast)`,
			`8: ha.transport: missing key "peer" (mode ucast)`,
			`9: ha.transport.group: only for mode mcast`,
			`9: ha.transport.ttl: only for mode mcast`,
			`9: ha.transport.peer: only for mode ucast`,
			`10: ha.transport.group: only for mode mcast`,
			`11: ha.transport: missing key "mode"`,
			`11: ha.transport.group: want an IPv4 multicast address, got "192.168.56.1"`,
			`12: ha.transport: missing key "interface"`,
			`13: ha.transport: want a mapping, got "694"`,
			`14: ha.transport: want a mapping, got nothing`,
		}},
		{"peer on bcast", ha(configHANodes, "  transport: {mode: bcast, interface: enp0s3, peer: 192.168.56.12}\n",
			configHAAuth, configHAResources), []string{`5: ha.transport.peer: only for mode ucast`}},
		{"mcast without group", ha(configHANodes, "  transport:\n", "    mode: mcast\n", "    interface: enp0s3\n",
			"    ttl: 4\n", configHAAuth, configHAResources), []string{`5: ha.transport: missing key "group" (mode mcast)`}},
		{"ucast without peer", ha(configHANodes, "  transport: {mode: ucast, interface: enp0s8}\n", configHAAuth, configHAResources),
			[]string{`5: ha.transport: missing key "peer" (mode ucast)`}},
		{"transport values", ha(configHANodes, "  transport:\n",
			"    - {mode: mcast, interface: enp0s3/1, group: 192.168.56.255, ttl: 0, port: 0}\n",
			"    - {mode: mcast, interface: enp0s3, group: \"ff02::1\", ttl: 256, port: 65536}\n",
			"    - {mode: ucast, interface: enp0s8, peer: 224.0.0.18}\n",
			"    - {mode: ucast, interface: enp0s8, peer: 192.168.200.300}\n",
			"    - {mode: ucast, interface: enp0s8, peer: [192.168.200.252]}\n",
			"    - {mode: bcast, interface: '', port: \"694\"}\n",
			"    - {mode: [bcast], interface: enp0s3, group: {}, ttl: x}\n",
			configHAAuth, configHAResources), []string{
			`6: ha.transport.interface: ` + ifname + `"enp0s3/1"`,
			`6: ha.transport.port: 0 is outside 1..65535`,
			`6: ha.transport.group: want an IPv4 multicast address, got "192.168.56.255"`,
			`6: ha.transport.ttl: 0 is outside 1..255`,
			`7: ha.transport.port: 65536 is outside 1..65535`,
			`7: ha.transport.group: want an IPv4 multicast address, got "ff02::1"`,
			`7: ha.transport.ttl: 256 is outside 1..255`,
			`8: ha.transport.peer: multicast address "224.0.0.18" is not allowed`,
			`9: ha.transport.peer: invalid IPv4 address "192.168.200.300"`,
			`10: ha.transport.peer: want an IPv4 address, got a list`,
			`11: ha.transport.interface: ` + ifname + `""`,
			`11: ha.transport.port: want an integer 1-65535, got "694"`,
			`12: ha.transport.mode: want bcast, mcast or ucast, got a list`,
			`12: ha.transport.group: want an IPv4 multicast address, got a mapping`,
			`12: ha.transport.ttl: want an integer 1-255, got "x"`,
		}},
		{"transport empty list", ha(configHANodes, "  transport: []\n", configHAAuth, configHAResources),
			[]string{`5: ha.transport: want at least one link`}},
		{"transport null", ha(configHANodes, "  transport:\n", configHAAuth, configHAResources),
			[]string{`5: ha.transport: missing key "mode"`, `5: ha.transport: missing key "interface"`}},
		{"duplicate links", ha(configHANodes, "  transport:\n",
			"    - {mode: bcast, interface: enp0s3}\n",
			"    - {mode: bcast, interface: enp0s3, port: 694}\n",
			"    - {mode: bcast, interface: enp0s3, port: 695}\n",
			"    - {mode: mcast, interface: enp0s3, group: 239.0.0.1}\n",
			"    - {mode: mcast, interface: enp0s3, group: 239.0.0.1, ttl: 3}\n",
			"    - {mode: mcast, interface: enp0s3, group: 239.0.0.2}\n",
			"    - &u {mode: ucast, interface: enp0s8, peer: 192.168.200.252}\n",
			"    - *u\n",
			"    - {mode: ucast, interface: enp0s8, peer: 192.168.200.253}\n",
			"    - {mode: ucast, interface: enp0s8, peer: 192.168.200.253, port: 0}\n",
			configHAAuth, configHAResources), []string{
			`7: duplicate ha link bcast enp0s3 port 694 (first at line 6)`,
			`10: duplicate ha link mcast enp0s3 239.0.0.1 port 694 (first at line 9)`,
			`13: duplicate ha link ucast enp0s8 192.168.200.252 port 694 (first at line 12)`,
			`15: ha.transport.port: 0 is outside 1..65535`,
		}},

		// Timers.
		{"bad durations", configHA + "  keepalive: abc\n  deadtime: 5ms\n  warntime: 2h\n  initdead: [10s]\n  arp: {count: 0, interval: 20s}\n", []string{
			`8: ha.keepalive: ` + duration + `"abc"`,
			`9: ha.deadtime: 5ms is outside 10ms..1h`,
			`10: ha.warntime: 2h is outside 10ms..1h`,
			`11: ha.initdead: ` + duration + `a list`,
			`12: ha.arp.count: 0 is outside 1..100`,
			`12: ha.arp.interval: 20s is outside 10ms..10s`,
		}},
		{"more bad durations", configHA + "  keepalive: 0.001\n  deadtime: -1\n  warntime: 3601\n  initdead: 1e3\n  arp:\n    count: 101\n    interval: fast\n", []string{
			`8: ha.keepalive: 0.001s is outside 10ms..1h`,
			`9: ha.deadtime: -1s is outside 10ms..1h`,
			`10: ha.warntime: 3601s is outside 10ms..1h`,
			`11: ha.initdead: ` + duration + `"1e3"`,
			`13: ha.arp.count: 101 is outside 1..100`,
			`14: ha.arp.interval: ` + duration + `"fast"`,
		}},
		{"keepalive not shorter than deadtime", configHA + "  keepalive: 2s\n  deadtime: 1s\n",
			[]string{`9: ha.deadtime: 1s must be longer than ha.keepalive (2s)`}},
		{"keepalive as long as deadtime, later", configHA + "  deadtime: 2\n  keepalive: 2s\n",
			[]string{`9: ha.keepalive: 2s must be shorter than ha.deadtime (2s)`}},
		{"keepalive against the default deadtime", configHA + "  keepalive: 6s\n",
			[]string{`3: ha.keepalive: 6s must be shorter than ha.deadtime (5s, the default)`}},
		{"deadtime against the default keepalive", configHA + "  deadtime: 500ms\n",
			[]string{`3: ha.deadtime: 500ms must be longer than ha.keepalive (1s, the default)`}},
		{"warntime not shorter than deadtime", configHA + "  warntime: 4s\n  deadtime: 4s\n",
			[]string{`9: ha.deadtime: 4s must be longer than ha.warntime (4s)`}},
		{"warntime against the default deadtime", configHA + "  warntime: 5s\n",
			[]string{`3: ha.warntime: 5s must be shorter than ha.deadtime (5s, the default)`}},
		{"initdead shorter than deadtime", configHA + "  initdead: 10s\n  deadtime: 20s\n",
			[]string{`9: ha.deadtime: 20s must be at most ha.initdead (10s)`}},
		{"initdead shorter than deadtime, later", configHA + "  deadtime: 2m\n  initdead: 119.5\n",
			[]string{`9: ha.initdead: 119.5s must be at least ha.deadtime (2m)`}},
		{"initdead against the default deadtime", configHA + "  initdead: 3s\n",
			[]string{`3: ha.initdead: 3s must be at least ha.deadtime (5s, the default)`}},
		{"every order at once", configHA + "  keepalive: 6s\n  warntime: 7s\n  initdead: 1s\n", []string{
			`3: ha.keepalive: 6s must be shorter than ha.deadtime (5s, the default)`,
			`3: ha.warntime: 7s must be shorter than ha.deadtime (5s, the default)`,
			`3: ha.initdead: 1s must be at least ha.deadtime (5s, the default)`,
		}},
		{"order on one line", configHead + "ha: {deadtime: 2s, keepalive: 3s, nodes: [lb1, lb2], transport: {mode: bcast, interface: enp0s3}, " +
			"auth: {key_file: /k}, resources: {owner: lb1, addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}}\n",
			[]string{`3: ha.keepalive: 3s must be shorter than ha.deadtime (2s)`}},
		{"no order with an invalid deadtime", configHA + "  keepalive: 6s\n  deadtime: 0\n  warntime: 7s\n",
			[]string{`9: ha.deadtime: 0s is outside 10ms..1h`}},

		// Auth.
		{"auth method and key file", ha(configHANodes, configHATransport, "  auth: {method: crc, key_file: authkey}\n", configHAResources), []string{
			`6: ha.auth.method: want sha256, sha1 or md5, got "crc"`,
			`6: ha.auth.key_file: want an absolute path, got "authkey"`,
		}},
		{"auth values", ha(configHANodes, configHATransport, "  auth:\n", "    method: SHA256\n", "    key_file: [/etc/director/authkey]\n", configHAResources), []string{
			`7: ha.auth.method: want sha256, sha1 or md5, got "SHA256"`,
			`8: ha.auth.key_file: want an absolute path, got a list`,
		}},
		{"auth without key file", ha(configHANodes, configHATransport, "  auth: {method: sha1}\n", configHAResources),
			[]string{`6: ha.auth: missing key "key_file"`}},
		{"auth null", ha(configHANodes, configHATransport, "  auth:\n", configHAResources),
			[]string{`6: ha.auth: missing key "key_file"`}},

		// Resources.
		{"missing resources", ha(configHANodes, configHATransport, configHAAuth), []string{`3: ha: missing key "resources"`}},
		{"resources null", ha(configHANodes, configHATransport, configHAAuth, "  resources:\n"), []string{
			`7: ha.resources: missing key "owner"`, `7: ha.resources: missing key "addresses"`,
		}},
		// Several groups (ha.groups).
		{"groups and resources", ha(configHANodes, configHATransport, configHAAuth,
			"  resources: {owner: lb1, addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}\n",
			"  groups: []\n"),
			[]string{`8: ha.groups: not with ha.resources (line 7): one group there, or a list of groups here`}},
		{"groups empty", ha(configHANodes, configHATransport, configHAAuth, "  groups: []\n"),
			[]string{`7: ha.groups: want at least one group`}},
		{"groups not a list", ha(configHANodes, configHATransport, configHAAuth, "  groups: {owner: lb1}\n"),
			[]string{`7: ha.groups: want a list, got a mapping`}},
		{"group without owner or name", ha(configHANodes, configHATransport, configHAAuth, "  groups:\n",
			"    - {addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}\n"),
			[]string{`8: ha.groups: missing key "name"`, `8: ha.groups: missing key "owner"`}},
		{"group owner not a node", ha(configHANodes, configHATransport, configHAAuth, "  groups:\n",
			"    - name: web\n",
			"      owner: lb3\n",
			"      addresses: [{address: 192.168.56.10/24, interface: enp0s3}]\n"),
			[]string{`9: ha.groups.owner: "lb3" is not in ha.nodes [lb1 lb2]`}},
		{"group names twice", ha(configHANodes, configHATransport, configHAAuth, "  groups:\n",
			"    - {name: web, owner: lb1, addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}\n",
			"    - {name: web, owner: lb2, addresses: [{address: 192.168.56.20/24, interface: enp0s3}]}\n"),
			[]string{`9: ha.groups: group name "web" twice (first at line 8)`}},
		{"address in two groups", ha(configHANodes, configHATransport, configHAAuth, "  groups:\n",
			"    - name: web\n",
			"      owner: lb1\n",
			"      addresses:\n",
			"        - {address: 192.168.56.10/24, interface: enp0s3}\n",
			"    - name: mail\n",
			"      owner: lb2\n",
			"      addresses:\n",
			"        - {address: 192.168.56.20/24, interface: enp0s3}\n",
			"        - {address: 192.168.56.10/32, interface: enp0s8}\n"),
			[]string{`16: ha.groups: address 192.168.56.10 claimed by group "mail" and by group "web" (line 11): an address belongs to one group`}},
		{"group bad keys", ha(configHANodes, configHATransport, configHAAuth, "  groups:\n",
			"    - {name: _x, owner: lb1, addresses: [{address: 192.168.56.10, interface: enp0s3}], arp: 1}\n"),
			[]string{`8: unknown key "arp" in ha.groups`, `8: ha.groups.name: ` + nodeName + `"_x"`,
				`8: ha.groups.addresses.address: want an IPv4 address with a prefix length ("192.168.56.10/24"), got "192.168.56.10"`}},

		{"missing owner", ha(configHANodes, configHATransport, configHAAuth,
			"  resources: {addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}\n"),
			[]string{`7: ha.resources: missing key "owner"`}},
		{"missing addresses", ha(configHANodes, configHATransport, configHAAuth, "  resources: {owner: lb1}\n"),
			[]string{`7: ha.resources: missing key "addresses"`}},
		{"empty addresses", ha(configHANodes, configHATransport, configHAAuth, "  resources:\n    owner: lb1\n    addresses: []\n"),
			[]string{`9: ha.resources.addresses: want at least one address`}},
		{"addresses null", ha(configHANodes, configHATransport, configHAAuth, "  resources:\n    owner: lb1\n    addresses:\n"),
			[]string{`9: ha.resources.addresses: want at least one address`}},
		{"addresses not a list", ha(configHANodes, configHATransport, configHAAuth, "  resources: {owner: lb1, addresses: 192.168.56.10/24}\n"),
			[]string{`7: ha.resources.addresses: want a list, got "192.168.56.10/24"`}},
		{"bad addresses", ha(configHANodes, configHATransport, configHAAuth, "  resources:\n    owner: lb1\n    addresses:\n",
			"      - {address: 192.168.56.10, interface: enp0s3}\n",
			"      - {address: 192.168.56.11/33, interface: enp0s3}\n",
			"      - {address: 192.168.56.12/0, interface: enp0s3}\n",
			"      - {address: 192.168.56.0/24, interface: enp0s3}\n",
			"      - {address: 192.168.56.255/24, interface: enp0s3}\n",
			"      - {address: \"2001:db8::1/64\", interface: enp0s3}\n",
			"      - {address: 127.0.0.2/8, interface: lo}\n",
			"      - {address: 224.0.0.18/4, interface: enp0s3}\n",
			"      - {address: 0.0.0.0/8, interface: enp0s3}\n",
			"      - {address: 255.255.255.255/32, interface: enp0s3}\n",
			"      - {address: 192.168.56.300/24, interface: enp0s3}\n",
			"      - {address: [192.168.56.13/24], interface: enp0s3}\n",
			"      - {address: 192.168.56.14/24, interface: \"enp0s3:1\"}\n",
			"      - 192.168.56.15/24\n",
			"      - {address: 192.168.56.16/24}\n",
			"      - {interface: enp0s3}\n",
			"      - {address: 192.168.56.17/-1, interface: enp0s3}\n",
			"      - {address: 10.0.0.0/31, interface: enp0s3}\n",
			"      - {address: 10.0.0.3/31, interface: enp0s3}\n",
			"      - {address: 10.0.0.4/32, interface: enp0s3}\n",
		), []string{
			`10: ` + prefix + `"192.168.56.10"`,
			`11: ha.resources.addresses.address: prefix length 33 is outside 1..32`,
			`12: ha.resources.addresses.address: prefix length 0 is outside 1..32`,
			`13: ha.resources.addresses.address: "192.168.56.0/24" is the network address of its prefix, not a host address`,
			`14: ha.resources.addresses.address: "192.168.56.255/24" is the broadcast address of its prefix, not a host address`,
			`15: ha.resources.addresses.address: IPv6 address "2001:db8::1/64" is not supported yet`,
			`16: ha.resources.addresses.address: loopback address "127.0.0.2/8" is not allowed`,
			`17: ha.resources.addresses.address: multicast address "224.0.0.18/4" is not allowed`,
			`18: ha.resources.addresses.address: unspecified address "0.0.0.0/8" is not allowed`,
			`19: ha.resources.addresses.address: broadcast address "255.255.255.255/32" is not allowed`,
			`20: ` + prefix + `"192.168.56.300/24"`,
			`21: ` + prefix + `a list`,
			`22: ha.resources.addresses.interface: ` + ifname + `"enp0s3:1"`,
			`23: ha.resources.addresses: want a mapping, got "192.168.56.15/24"`,
			`24: ha.resources.addresses: missing key "interface"`,
			`25: ha.resources.addresses: missing key "address"`,
			`26: ` + prefix + `"192.168.56.17/-1"`,
		}},
		{"duplicate addresses", ha(configHANodes, configHATransport, configHAAuth, "  resources:\n    owner: lb1\n    addresses:\n",
			"      - {address: 192.168.56.10/24, interface: enp0s3}\n",
			"      - {address: 192.168.56.10/32, interface: enp0s8}\n",
			"      - {address: 192.168.56.11/24, interface: enp0s3}\n",
			"      - &a {address: 192.168.56.12/24, interface: enp0s3}\n",
			"      - *a\n",
			"      - {address: 192.168.56.10/24, interface: \"enp0s3/1\"}\n",
			"      - {address: 192.168.56.0/24, interface: enp0s3}\n",
			"      - {address: 192.168.56.0/24, interface: enp0s3}\n",
		), []string{
			`11: duplicate ha address 192.168.56.10 (first at line 10)`,
			`14: duplicate ha address 192.168.56.12 (first at line 13)`,
			`15: ha.resources.addresses.interface: ` + ifname + `"enp0s3/1"`,
			`15: duplicate ha address 192.168.56.10 (first at line 10)`,
			`16: ha.resources.addresses.address: "192.168.56.0/24" is the network address of its prefix, not a host address`,
			`17: ha.resources.addresses.address: "192.168.56.0/24" is the network address of its prefix, not a host address`,
		}},

		// Script resources and the notify hook.
		{"scripts", ha(configHANodes, configHATransport, configHAAuth, "  resources:\n    owner: lb1\n",
			"    addresses: [{address: 192.168.56.10/24, interface: enp0s3}]\n",
			"    name: \"web site\"\n",
			"    scripts:\n",
			"      - etc/init.d/ipvsadm\n",
			"      - {path: /etc/init.d/apache2, args: [/etc/apache2/conf], timeout: 20m}\n",
			"      - {args: [x]}\n",
			"      - {path: /bin/true, args: x, timeout: 1s}\n",
			"  notify: {path: relative, timeout: 0}\n",
		), []string{
			`10: ha.resources.name: want 1-64 letters, digits, '-' or '_', not starting with '_', got "web site"`,
			`12: ha.resources.scripts.path: want an absolute path, got "etc/init.d/ipvsadm"`,
			`13: ha.resources.scripts.timeout: 20m is outside 10ms..10m`,
			`14: ha.resources.scripts: missing key "path"`,
			`15: ha.resources.scripts.args: want a list, got "x"`,
			`16: ha.notify.path: want an absolute path, got "relative"`,
			`16: ha.notify.timeout: 0s is outside 10ms..10m`,
		}},

		// Ping nodes.
		{"ping", configHA + "  ping:\n    nodes: [192.168.56.1, [10.0.0.1, 10.0.0.2], [], 192.168.56.1, 300.1.1.1]\n" +
			"    interval: 2s\n    deadping: 1s\n    count: 3\n", []string{
			`9: ha.ping.nodes: an empty ping group: want at least one address`,
			`9: ha.ping.nodes: 192.168.56.1 twice (first at line 9)`,
			`9: ha.ping.nodes: invalid IPv4 address "300.1.1.1"`,
			`11: ha.ping.deadping 1s must be longer than ha.ping.interval 2s`,
			`12: unknown key "count" in ha.ping`,
		}},
		{"ping without nodes", configHA + "  ping: {interval: 1s}\n", []string{`8: ha.ping: missing key "nodes"`}},
		{"ping: deadping by default is deadtime", configHA + "  ping: {nodes: [192.168.56.1], interval: 6s}\n", []string{
			`8: ha.ping.deadping 5s must be longer than ha.ping.interval 6s`}},

		// Several problems, in line order although ha comes first.
		{"ha before the rest", "ha:\n  nodes: [lb1]\n  transport: {mode: ucast, interface: enp0s8}\n  keepalive: 9s\n" +
			"  auth: {method: crc, key_file: /k}\n  resources: {owner: lb1, addresses: []}\nnode: lb1\ninterfaces: {public: a}\n", []string{
			`1: ha.keepalive: 9s must be shorter than ha.deadtime (5s, the default)`,
			`2: ha.nodes: want 2 node names, got 1`,
			`3: ha.transport: missing key "peer" (mode ucast)`,
			`5: ha.auth.method: want sha256, sha1 or md5, got "crc"`,
			`6: ha.resources.addresses: want at least one address`,
			`8: interfaces: missing key "internal"`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) { configWantProblems(t, c.yaml, c.want) })
	}
}

func TestConfigHAPeer(t *testing.T) {
	h := &model.HAConfig{Nodes: []string{"lb1", "lb2"}}
	for node, want := range map[string]string{"lb1": "lb2", "lb2": "lb1", "lb3": "", "": ""} {
		if got := h.Peer(node); got != want {
			t.Errorf("Peer(%q) = %q, want %q", node, got, want)
		}
	}
	if got := (&model.HAConfig{}).Peer("lb1"); got != "" {
		t.Errorf("Peer without nodes = %q", got)
	}
}

// configHAInvalid says what of an accepted configuration's ha section
// breaks the rules, or is "".
func configHAInvalid(cfg *model.Config) string {
	h := cfg.HA
	if h == nil {
		return ""
	}
	if len(h.Nodes) != 2 || h.Nodes[0] == h.Nodes[1] || h.Peer(cfg.Node) == "" || len(h.Groups) == 0 || h.Peer(h.Groups[0].Owner) == "" {
		return "nodes"
	}
	if len(h.Links) == 0 {
		return "no links"
	}
	for i, l := range h.Links {
		if !configIfname(l.Interface) || l.Port < 1 || l.Port > 65535 ||
			l.Mode == "mcast" != (l.Group.Is4() && l.Group.IsMulticast() && l.TTL >= 1 && l.TTL <= 255) ||
			l.Mode == "ucast" != l.Peer.Is4() || l.Mode == "bcast" && (l.Group.IsValid() || l.Peer.IsValid() || l.TTL != 0) {
			return fmt.Sprintf("link %+v", l)
		}
		for _, o := range h.Links[:i] {
			if o.Mode == l.Mode && o.Interface == l.Interface && o.Port == l.Port && o.Group == l.Group && o.Peer == l.Peer {
				return fmt.Sprintf("duplicate link %+v", l)
			}
		}
	}
	// A default warntime, half the deadtime, may be below the 10ms a
	// written one must be.
	if h.Keepalive < 10*time.Millisecond || h.Warntime <= 0 || h.Deadtime > time.Hour || h.Initdead > 2*time.Hour {
		return "timers"
	}
	if h.Keepalive >= h.Deadtime || h.Warntime >= h.Deadtime || h.Initdead < h.Deadtime {
		return "timer order"
	}
	if !slices.Contains([]string{"sha256", "sha1", "md5"}, h.AuthMethod) || !filepath.IsAbs(h.KeyFile) {
		return "auth"
	}
	if h.ARPCount < 1 || h.ARPCount > 100 || h.ARPInterval < 10*time.Millisecond || h.ARPInterval > 10*time.Second {
		return "arp"
	}
	var addrs []model.HAAddress
	for _, g := range h.Groups {
		if len(g.Addresses) == 0 || h.Peer(g.Owner) == "" {
			return "group " + g.Name
		}
		addrs = append(addrs, g.Addresses...)
	}
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		if !a.Prefix.Addr().Is4() || a.Prefix.Bits() < 1 || !configIfname(a.Interface) || seen[a.Prefix.Addr()] ||
			a.Prefix.Bits() <= 30 && a.Prefix.Addr() == a.Prefix.Masked().Addr() {
			return fmt.Sprintf("address %+v", a)
		}
		seen[a.Prefix.Addr()] = true
	}
	return ""
}
