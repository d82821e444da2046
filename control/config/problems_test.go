package config

// Each rule of the top level, services and real servers gives exactly
// the problems expected, file:line: reason, in line order.

import (
	"strings"
	"testing"
)

func TestConfigProblems(t *testing.T) {
	const ifname = `want an interface name (1-15 bytes, no '/', ':' or whitespace, not "." or ".."), got `
	const nodeName = `node: want 1-64 letters, digits, '-' or '_', not starting with '_', got `
	const duration = `want a duration ("900s", "15m", "1h") or a number of seconds, got `
	for _, c := range []struct {
		name, yaml string
		want       []string // without the "bad.yaml:" prefix
	}{
		// Syntax: one problem, at the right line.
		{"syntax: tab", "node: lb1\ninterfaces:\n\tpublic: a\n",
			[]string{"3: yaml: found character that cannot start any token (a tab: indent YAML with spaces)"}},
		{"syntax: parser error line", "node: lb1\ninterfaces:\n  public: a\n internal: b\nservices: {\n",
			[]string{"4: yaml: did not find expected key"}},
		{"syntax: unclosed flow", configHead + "services: [\n  {vip: 192.168.56.10, port: 80}\n",
			[]string{"3: yaml: did not find expected ',' or ']'"}},
		{"syntax: first line", "node: lb1: lb2\n", []string{"1: yaml: mapping values are not allowed in this context"}},
		{"syntax: control character", configHead + "services: \x01\n", []string{"3: yaml: control characters are not allowed"}},
		{"syntax: invalid UTF-8", "node: lb1\ninterfaces: \xff\n", []string{"2: yaml: invalid leading UTF-8 octet"}},
		{"syntax: unknown anchor", configHead + "\nservices: *web\n", []string{"4: yaml: unknown anchor 'web' referenced"}},
		{"second document", configHead + "---\nnode: lb2\n",
			[]string{`3: more than one YAML document ("---"): the configuration is the first one only`}},

		// The top level.
		{"empty file", "", []string{`1: missing key "node"`, `1: missing key "interfaces"`}},
		{"comments only", "# director\n\n# nothing yet\n", []string{`1: missing key "node"`, `1: missing key "interfaces"`}},
		{"top level list", "- node: lb1\n", []string{"1: want a mapping at top level, got a list"}},
		{"top level scalar", "\nlb1\n", []string{`2: want a mapping at top level, got "lb1"`}},

		// Unknown and duplicate keys.
		{"unknown key in real server", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    real_servers:
      - {address: 192.168.200.11, weigth: 3}
`, []string{`7: unknown key "weigth" in real server`}},
		{"unknown keys everywhere", `node: lb1
interfaces:
  public: enp0s3
  internal: enp0s8
  management: enp0s9
dataplan: xdp
flow_table: {sise: 2048}
timeouts: {tcp_fn: 10s}
metrics: {listen: ":9917", tls: true}
services:
  - vip: 192.168.56.10
    port: 80
    schedular: rr
    real_servers:
      - {address: 192.168.200.11, weigth: 3}
? [a, b]
: c
`, []string{
			`5: unknown key "management" in interfaces`,
			`6: unknown key "dataplan" at top level`,
			`7: unknown key "sise" in flow_table`,
			`8: unknown key "tcp_fn" in timeouts`,
			`9: unknown key "tls" in metrics`,
			`13: unknown key "schedular" in service`,
			`15: unknown key "weigth" in real server`,
			`16: want a key name at top level, got a list`,
		}},
		{"duplicate keys", `node: lb1
interfaces: {public: enp0s3, internal: enp0s8}
node: lb2
services:
  - vip: 192.168.56.10
    port: 80
    port: 81
    real_servers:
      - {address: 192.168.200.11, weight: 1, weight: 2}
`, []string{
			`3: duplicate key "node" (first at line 1)`,
			`7: duplicate key "port" (first at line 6)`,
			`9: duplicate key "weight" (first at line 9)`,
		}},

		// Missing keys.
		{"missing node and internal", "# director\n\ninterfaces:\n  public: enp0s3\n",
			[]string{`1: missing key "node"`, `3: interfaces: missing key "internal"`}},
		{"empty interfaces", "node: lb1\ninterfaces:\n",
			[]string{`2: interfaces: missing key "public"`, `2: interfaces: missing key "internal"`}},
		{"missing service keys", configHead + "services:\n  - scheduler: rr\n  - {}\n", []string{
			`4: service: missing key "vip"`, `4: service: missing key "port"`,
			`5: service: missing key "vip"`, `5: service: missing key "port"`,
		}},
		{"missing real server address", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    real_servers:
      - port: 8080
        weight: 2
`, []string{`7: real server: missing key "address"`}},

		// Wrong types.
		{"section types", `node: [lb1]
interfaces: enp0s3
dataplane: {}
control_socket: 5
flow_table: 1024
timeouts: [900s]
metrics: 127.0.0.1:9917
services: {vip: 192.168.56.10}
`, []string{
			"1: " + nodeName + "a list",
			`2: interfaces: want a mapping, got "enp0s3"`,
			`3: dataplane: want auto, xdp, xdp-generic, tc or ipvs, got a mapping`,
			`4: control_socket: want an absolute path, got "5"`,
			`5: flow_table: want a mapping, got "1024"`,
			`6: timeouts: want a mapping, got a list`,
			`7: metrics: want a mapping, got "127.0.0.1:9917"`,
			`8: services: want a list, got a mapping`,
		}},
		{"service types", configHead + `services:
  - 192.168.56.10:80
  - ~
  - vip: {a: 1}
    port: eighty
    protocol: [tcp]
    scheduler:
    real_servers: {address: 192.168.200.11}
  - vip: 192.168.56.11
    port: 80.5
    real_servers:
      - 192.168.200.11
      - address: [192.168.200.12]
        port: "80"
        weight: heavy
`, []string{
			`4: service: want a mapping, got "192.168.56.10:80"`,
			`5: service: want a mapping, got nothing`,
			`6: vip: want an IPv4 address, got a mapping`,
			`7: port: want an integer 1-65535, got "eighty"`,
			`8: protocol: want tcp or udp, got a list`,
			`9: scheduler: want rr, wrr, lc, wlc, sh, sed, nq or mh, got nothing`,
			`10: real_servers: want a list, got a mapping`,
			`12: port: want an integer 1-65535, got "80.5"`,
			`14: real server: want a mapping, got "192.168.200.11"`,
			`15: address: want an IPv4 address, got a list`,
			`16: port: want an integer 1-65535, got "80"`,
			`17: weight: want an integer 0-65535, got "heavy"`,
		}},
		{"merge key types", configHead + "services:\n  - <<: 5\n    vip: 192.168.56.10\n    port: 80\n",
			[]string{`4: <<: want a mapping or a list of mappings, got "5"`}},

		// Ranges.
		{"ranges", configHead + `flow_table:
  size: 100
services:
  - vip: 192.168.56.10
    port: 0
    real_servers:
      - {address: 192.168.200.11, port: 65536, weight: 70000}
      - {address: 192.168.200.12, port: -1, weight: -1}
  - vip: 192.168.56.10
    port: 99999999999999999999
`, []string{
			`4: flow_table.size: 100 is outside 1024..67108864`,
			`7: port: 0 is outside 1..65535`,
			`9: port: 65536 is outside 1..65535`,
			`9: weight: 70000 is outside 0..65535`,
			`10: port: -1 is outside 1..65535`,
			`10: weight: -1 is outside 0..65535`,
			`12: port: 99999999999999999999 is outside 1..65535`,
		}},
		{"flow table too large", configHead + "flow_table: {size: 134217728}\n",
			[]string{`3: flow_table.size: 134217728 is outside 1024..67108864`}},
		{"flow table not a number", configHead + "flow_table: {size: big}\n",
			[]string{`3: flow_table.size: want an integer 1024-67108864, got "big"`}},
		{"timeouts", configHead + `timeouts:
  tcp: abc
  tcp_fin: 0
  udp: 1500ms
  tcp_syn: 2000h
`, []string{
			`4: timeouts.tcp: ` + duration + `"abc"`,
			`5: timeouts.tcp_fin: 0s is outside 1s..576h`,
			`6: timeouts.udp: 1500ms is not a whole number of seconds`,
			`7: timeouts.tcp_syn: 2000h is outside 1s..576h`,
		}},
		{"more timeouts", configHead + "timeouts:\n  tcp: -5s\n  tcp_fin: 1.5\n  udp: [1]\n  tcp_syn: 2073601\n", []string{
			`4: timeouts.tcp: -5s is outside 1s..576h`,
			`5: timeouts.tcp_fin: ` + duration + `"1.5"`,
			`6: timeouts.udp: ` + duration + `a list`,
			`7: timeouts.tcp_syn: 2073601s is outside 1s..576h`,
		}},

		// Addresses.
		{"addresses", configHead + `services:
  - {vip: 192.168.56.300, port: 80}
  - {vip: "2001:db8::1", port: 80}
  - {vip: 0.0.0.0, port: 80}
  - {vip: 127.0.0.1, port: 80}
  - {vip: 224.0.0.18, port: 80}
  - {vip: 255.255.255.255, port: 80}
  - vip: 192.168.56.10
    port: 80
    real_servers:
      - address: 192.168.200
      - address: "::ffff:192.168.200.1"
      - address: 10
      - address: 192.168.200.011
`, []string{
			`4: vip: invalid IPv4 address "192.168.56.300"`,
			`5: vip: IPv6 address "2001:db8::1" is not supported yet`,
			`6: vip: unspecified address "0.0.0.0" is not allowed`,
			`7: vip: loopback address "127.0.0.1" is not allowed`,
			`8: vip: multicast address "224.0.0.18" is not allowed`,
			`9: vip: broadcast address "255.255.255.255" is not allowed`,
			`13: address: invalid IPv4 address "192.168.200"`,
			`14: address: IPv6 address "::ffff:192.168.200.1" is not supported yet`,
			`15: address: invalid IPv4 address "10"`,
			`16: address: invalid IPv4 address "192.168.200.011"`,
		}},

		// Duplicates.
		{"duplicate services and real servers", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    real_servers:
      - {address: 192.168.200.11}
      - {address: 192.168.200.11, port: 8080}
      - {address: 192.168.200.11, port: 80, weight: 2}
  - vip: 192.168.56.10
    port: 80
    protocol: udp
  - vip: 192.168.56.10
    port: 80
    protocol: tcp
`, []string{
			`9: duplicate real server 192.168.200.11:80 in service tcp 192.168.56.10:80 (first at line 7)`,
			`13: duplicate service tcp 192.168.56.10:80 (first at line 4)`,
		}},
		{"duplicate through an alias", configHead + "services:\n  - &web {vip: 192.168.56.10, port: 80}\n  - *web\n",
			[]string{`5: duplicate service tcp 192.168.56.10:80 (first at line 4)`}},
		{"invalid entries are not compared", configHead + `services:
  - {vip: 192.168.56.10, port: 80}
  - {vip: 192.168.56.10, port: 80, protocol: sctp}
  - vip: 192.168.56.11
    port: 0
    real_servers: [{address: 192.168.200.11}, {address: 192.168.200.11}]
`, []string{
			`5: protocol "sctp" is not implemented (tcp, udp)`,
			`7: port: 0 is outside 1..65535`,
		}},

		// Values.
		{"names not implemented", configHead + `dataplane: tc
tc_attach: tcx
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: lblc
  - vip: 192.168.56.11
    port: 80
    scheduler: WRR
    protocol: http
`, []string{
			`8: scheduler "lblc" needs dataplane: ipvs (the BPF data planes implement rr, wrr, lc, wlc, sh, sed, nq and mh)`,
			`11: scheduler: want rr, wrr, lc, wlc, sh, sed, nq or mh, got "WRR"`,
			`12: protocol: want tcp or udp, got "http"`,
		}},
		{"ipvs schedulers", configHead + `dataplane: ipvs
services:
  - {vip: 192.168.56.10, port: 80, scheduler: wlc}
  - {vip: 192.168.56.10, port: 81, scheduler: maglev}
`, []string{`6: scheduler: want rr, wrr, lc, wlc, sh, dh, sed, nq, lblc, lblcr, mh, fo, ovf or twos, got "maglev"`}},
		{"ipvs section", configHead + `dataplane: xdp
ipvs:
  sync_interface: "a/b"
  sync_id: 256
  conntrack: yes
  syncid: 1
`, []string{
			`4: ipvs: only for dataplane ipvs or auto, got dataplane xdp`,
			`5: ipvs.sync_interface: ` + ifname + `"a/b"`,
			`6: ipvs.sync_id: 256 is outside 0..255`,
			`7: ipvs.conntrack: want true or false, got "yes"`,
			`8: unknown key "syncid" in ipvs`,
		}},
		{"data plane unknown", configHead + "dataplane: native\n",
			[]string{`3: dataplane: want auto, xdp, xdp-generic, tc or ipvs, got "native"`}},
		{"tc attach unknown", configHead + "dataplane: tc\ntc_attach: legacy\n",
			[]string{`4: tc_attach: want auto, tcx or clsact, got "legacy"`}},
		{"node with a dot", "node: lb.1\ninterfaces: {public: a, internal: b}\n", []string{"1: " + nodeName + `"lb.1"`}},
		{"node with an underscore first", "node: _lb1\ninterfaces: {public: a, internal: b}\n", []string{"1: " + nodeName + `"_lb1"`}},
		{"node too long", "node: " + strings.Repeat("n", 65) + "\ninterfaces: {public: a, internal: b}\n",
			[]string{"1: " + nodeName + `"` + strings.Repeat("n", 65) + `"`}},
		{"node empty", "node: ''\ninterfaces: {public: a, internal: b}\n", []string{"1: " + nodeName + `""`}},
		{"interface names", `node: lb1
interfaces:
  public: eth0/1
  internal: ..
`, []string{
			`3: interfaces.public: ` + ifname + `"eth0/1"`,
			`4: interfaces.internal: ` + ifname + `".."`,
		}},
		{"more interface names", "node: lb1\ninterfaces: {public: enp0s3f0np0vlan7, internal: \"eth0:1\"}\n", []string{
			`2: interfaces.public: ` + ifname + `"enp0s3f0np0vlan7"`,
			`2: interfaces.internal: ` + ifname + `"eth0:1"`,
		}},
		{"relative control socket", configHead + "control_socket: run/director.sock\n",
			[]string{`3: control_socket: want an absolute path, got "run/director.sock"`}},
		{"long control socket", configHead + "control_socket: /" + strings.Repeat("s", 107) + "\n",
			[]string{`3: control_socket: want a path of at most 107 bytes (a unix socket's limit), got "/` + strings.Repeat("s", 107) + `"`}},
		{"metrics bad host name", configHead + "metrics: {listen: \"-lb1-:9917\"}\n",
			[]string{`3: metrics.listen: want host:port, IP:port or :port (port 1-65535), got "-lb1-:9917"`}},
		{"metrics host name with an underscore", configHead + "metrics: {listen: \"lb_1:9917\"}\n",
			[]string{`3: metrics.listen: want host:port, IP:port or :port (port 1-65535), got "lb_1:9917"`}},
		{"metrics empty label", configHead + "metrics: {listen: \"lb1..lab:9917\"}\n",
			[]string{`3: metrics.listen: want host:port, IP:port or :port (port 1-65535), got "lb1..lab:9917"`}},
		{"metrics malformed IPv4 address", configHead + "metrics: {listen: \"192.168.56.300:9917\"}\n",
			[]string{`3: metrics.listen: want host:port, IP:port or :port (port 1-65535), got "192.168.56.300:9917"`}},
		{"metrics host name, port zero", configHead + "metrics: {listen: \"localhost:0\"}\n",
			[]string{`3: metrics.listen: want host:port, IP:port or :port (port 1-65535), got "localhost:0"`}},
		{"metrics port only", configHead + "metrics:\n  listen: 9917\n",
			[]string{`4: metrics.listen: want host:port, IP:port or :port (port 1-65535), got "9917"`}},
		{"metrics port zero", configHead + "metrics:\n  listen: 127.0.0.1:0\n",
			[]string{`4: metrics.listen: want host:port, IP:port or :port (port 1-65535), got "127.0.0.1:0"`}},

		// Several problems at once, reported in line order whatever the
		// order in which they were found.
		{"several problems", `services:
  - vip: 192.168.56.300
    port: 80
    scheduler: dh
    real_servers:
      - {address: 192.168.200.11, weigth: 3}
interfaces:
  public: enp0s3
node: lb.1
timeouts: {tcp: 0}
frobnicate: true
`, []string{
			`2: vip: invalid IPv4 address "192.168.56.300"`,
			`4: scheduler "dh" needs dataplane: ipvs (the BPF data planes implement rr, wrr, lc, wlc, sh, sed, nq and mh)`,
			`6: unknown key "weigth" in real server`,
			`7: interfaces: missing key "internal"`,
			`9: ` + nodeName + `"lb.1"`,
			`10: timeouts.tcp: 0s is outside 1s..576h`,
			`11: unknown key "frobnicate" at top level`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) { configWantProblems(t, c.yaml, c.want) })
	}
}
