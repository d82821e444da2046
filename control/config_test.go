package control

// Tests of the configuration file: the README's example and a file with
// every key parse to the Config expected, and each rule of config.go gives
// exactly the problems expected, file:line: reason, in line order (the ha
// section's in TestConfigHAProblems).

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// configHead is a valid first two lines; cases built on it start at line 3.
const configHead = "node: lb1\ninterfaces: {public: enp0s3, internal: enp0s8}\n"

func TestConfigREADMEExample(t *testing.T) {
	path := filepath.Join("testdata", "config", "readme.yaml")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:          path,
		Node:          "lb1",
		Public:        "enp0s3",
		Internal:      "enp0s8",
		Dataplane:     "auto",
		ControlSocket: "/run/director/lb1.sock",
		FlowTableSize: 262144,
		Timeouts:      Timeouts{SYN: 60 * time.Second, Established: 900 * time.Second, FIN: 120 * time.Second, UDP: 300 * time.Second},
		Services: []Service{{
			VIP: netip.MustParseAddr("192.168.56.10"), Port: 80, Proto: TCP, Scheduler: SchedWRR,
			Reals: []RealServer{
				{Addr: netip.MustParseAddr("192.168.200.11"), Port: 80, Weight: 3},
				{Addr: netip.MustParseAddr("192.168.200.12"), Port: 80, Weight: 1},
			},
		}},
		MetricsListen: "127.0.0.1:9917",
		HA: &HAConfig{
			Nodes:        []string{"lb1", "lb2"},
			Owner:        "lb1",
			AutoFailback: true,
			Keepalive:    time.Second,
			Deadtime:     5 * time.Second,
			Warntime:     2500 * time.Millisecond,
			Initdead:     10 * time.Second,
			Links:        []HALink{{Mode: "bcast", Interface: "enp0s3", Port: 694}},
			AuthMethod:   "sha256",
			KeyFile:      "/etc/director/authkey",
			ARPCount:     5,
			ARPInterval:  200 * time.Millisecond,
			Addresses: []HAAddress{
				{Prefix: netip.MustParsePrefix("192.168.56.10/24"), Interface: "enp0s3"},
				{Prefix: netip.MustParsePrefix("192.168.200.250/24"), Interface: "enp0s8"},
			},
			Line: 15,
		},
	}
	configCompare(t, cfg, want)
	if DefaultTimeouts != want.Timeouts {
		t.Errorf("DefaultTimeouts = %+v, want IPVS's %+v", DefaultTimeouts, want.Timeouts)
	}
}

func TestConfigEveryKey(t *testing.T) {
	path := filepath.Join("testdata", "config", "full.yaml")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:          path,
		Node:          "lb-2_a",
		Public:        "eth0",
		Internal:      "eth0",
		Dataplane:     "xdp-generic",
		ControlSocket: "/tmp/director/lb2.sock",
		FlowTableSize: 1024,
		Timeouts:      Timeouts{SYN: 10 * time.Second, Established: 15 * time.Minute, FIN: 30 * time.Second, UDP: time.Hour},
		Services: []Service{
			{VIP: netip.MustParseAddr("10.0.0.1"), Port: 53, Proto: UDP, Scheduler: SchedRR, Reals: []RealServer{
				{Addr: netip.MustParseAddr("10.1.0.1"), Port: 53, Weight: 1},
				{Addr: netip.MustParseAddr("10.1.0.2"), Port: 5353, Weight: 0},
			}},
			{VIP: netip.MustParseAddr("10.0.0.1"), Port: 53, Proto: TCP, Scheduler: SchedWRR},
			{VIP: netip.MustParseAddr("10.0.0.2"), Port: 443, Proto: TCP, Scheduler: SchedWRR},
		},
		MetricsListen: "[::1]:9917",
		HA: &HAConfig{
			Nodes:        []string{"lb-1", "lb-2_a"},
			Owner:        "lb-1",
			AutoFailback: false,
			Keepalive:    500 * time.Millisecond,
			Deadtime:     3 * time.Second,
			Warntime:     2500 * time.Millisecond,
			Initdead:     time.Minute,
			Links: []HALink{
				{Mode: "mcast", Interface: "eth0", Port: 695, Group: netip.MustParseAddr("239.0.0.1"), TTL: 2},
				{Mode: "ucast", Interface: "eth1", Port: 696, Peer: netip.MustParseAddr("10.9.0.1")},
				{Mode: "bcast", Interface: "eth2", Port: 694},
				{Mode: "mcast", Interface: "eth0", Port: 694, Group: netip.MustParseAddr("239.0.0.2"), TTL: 1},
			},
			AuthMethod:  "md5",
			KeyFile:     "/etc/director/authkey",
			ARPCount:    10,
			ARPInterval: time.Second,
			Addresses: []HAAddress{
				{Prefix: netip.MustParsePrefix("10.0.0.1/24"), Interface: "eth0"},
				{Prefix: netip.MustParsePrefix("10.0.0.2/32"), Interface: "eth0"},
				{Prefix: netip.MustParsePrefix("10.9.0.2/31"), Interface: "eth1"},
			},
			Line: 32,
		},
	}
	configCompare(t, cfg, want)
}

// configCompare reports how cfg differs from want, the HA section shown
// apart (a pointer).
func configCompare(t *testing.T, cfg, want *Config) {
	t.Helper()
	if !reflect.DeepEqual(cfg.HA, want.HA) {
		t.Errorf("HA:\ngot  %+v\nwant %+v", cfg.HA, want.HA)
	}
	c, w := *cfg, *want
	c.HA, w.HA = nil, nil
	if !reflect.DeepEqual(c, w) {
		t.Errorf("got  %+v\nwant %+v", c, w)
	}
}

// TestConfigAccepted covers valid files beyond the two above.
func TestConfigAccepted(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		check      func(*Config) string // "" if cfg is as expected
	}{
		{"empty sections", configHead + "dataplane: xdp\nservices:\nflow_table:\ntimeouts:\nmetrics:\n", func(c *Config) string {
			if c.Services != nil || c.FlowTableSize != 262144 || c.Timeouts != DefaultTimeouts || c.MetricsListen != "" || c.Dataplane != "xdp" ||
				c.HA != nil {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{"trailing document marker", configHead + "---\n", func(c *Config) string { return "" }},
		{"metrics on every address", configHead + "metrics: {listen: \":9917\"}\n", func(c *Config) string {
			return configCheck(c.MetricsListen, ":9917")
		}},
		{"integer forms", configHead + "services:\n  - {vip: 192.168.56.10, port: 0x50, real_servers: [{address: 192.168.200.11, weight: 1_000}]}\n",
			func(c *Config) string {
				return configCheck(fmt.Sprint(c.Services[0].Port, c.Services[0].Reals[0].Weight), "80 1000")
			}},
		{"aliases and merge keys", configHead + `services:
  - &web
    vip: 192.168.56.10
    port: 80
    real_servers: &reals
      - {address: 192.168.200.11}
  - <<: *web
    port: 8080
  - vip: 192.168.56.11
    port: 80
    real_servers: *reals
`, func(c *Config) string {
			var got []string
			for _, s := range c.Services {
				got = append(got, fmt.Sprint(s.Key(), s.Reals))
			}
			return configCheck(strings.Join(got, "; "),
				"tcp 192.168.56.10:80 [{192.168.200.11 80 1}]; tcp 192.168.56.10:8080 [{192.168.200.11 8080 1}]; tcp 192.168.56.11:80 [{192.168.200.11 80 1}]")
		}},
		{"ha: two links, sub-second timers", configHead + `ha:
  nodes: [lb2, lb1]
  transport:
    - {mode: bcast, interface: enp0s3}
    - {mode: ucast, interface: enp0s8, peer: 192.168.200.252}
  keepalive: 100ms
  deadtime: 500ms
  auth: {key_file: /etc/director/authkey}
  resources: {owner: lb2, addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}
`, func(c *Config) string {
			want := &HAConfig{
				Nodes: []string{"lb2", "lb1"}, Owner: "lb2", AutoFailback: true,
				Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond,
				Warntime: 250 * time.Millisecond, Initdead: time.Second,
				Links: []HALink{
					{Mode: "bcast", Interface: "enp0s3", Port: 694},
					{Mode: "ucast", Interface: "enp0s8", Port: 694, Peer: netip.MustParseAddr("192.168.200.252")},
				},
				AuthMethod: "sha256", KeyFile: "/etc/director/authkey", ARPCount: 5, ARPInterval: 200 * time.Millisecond,
				Addresses: []HAAddress{{Prefix: netip.MustParsePrefix("192.168.56.10/24"), Interface: "enp0s3"}},
				Line:      3,
			}
			if !reflect.DeepEqual(c.HA, want) {
				return fmt.Sprintf("got  %+v\nwant %+v", c.HA, want)
			}
			return ""
		}},
		{"ha: numbers of seconds, defaults from deadtime", configHead + `ha:
  nodes: [lb1, lb2]
  transport: {mode: mcast, interface: enp0s3, group: 239.0.0.1}
  keepalive: 0.5
  deadtime: 10
  auth: {method: sha1, key_file: /etc/director/authkey}
  auto_failback: false
  arp:
  resources:
    owner: lb2
    addresses:
      - {address: 10.0.0.1/8, interface: enp0s3}
      - {address: 192.168.57.0/31, interface: enp0s8}
      - {address: 192.168.57.255/32, interface: enp0s8}
`, func(c *Config) string {
			h := c.HA
			return configCheck(fmt.Sprintln(h.Keepalive, h.Deadtime, h.Warntime, h.Initdead, h.Links, h.AuthMethod, h.AutoFailback,
				h.ARPCount, h.ARPInterval, h.Owner, h.Addresses),
				"500ms 10s 5s 20s [{mcast enp0s3 694 239.0.0.1 invalid IP 1}] sha1 false 5 200ms lb2 "+
					"[{10.0.0.1/8 enp0s3} {192.168.57.0/31 enp0s8} {192.168.57.255/32 enp0s8}]\n")
		}},
		{"ha: timers at their limits", configHead + `ha:
  nodes: [lb1, lb2]
  transport: {mode: bcast, interface: enp0s3, port: 65535}
  keepalive: 10ms
  deadtime: 1h
  warntime: 3599.999
  initdead: 1h
  auth: {key_file: /etc/director/authkey}
  arp: {count: 100, interval: 10s}
  resources: {owner: lb1, addresses: [{address: 192.168.56.10/24, interface: enp0s3}]}
`, func(c *Config) string {
			h := c.HA
			return configCheck(fmt.Sprint(h.Keepalive, h.Deadtime, h.Warntime, h.Initdead, h.Links[0].Port, h.ARPCount, h.ARPInterval),
				"10ms 1h0m0s 59m59.999s 1h0m0s 65535 100 10s")
		}},
		{"ha: default warntime below the least one written", configHA + "  keepalive: 10ms\n  deadtime: 15ms\n", func(c *Config) string {
			return configCheck(fmt.Sprint(c.HA.Warntime, " ", c.HA.Initdead), "7.5ms 30ms")
		}},
		{"ha: aliases and merge keys", configHead + `ha:
  nodes: [lb1, lb2]
  transport:
    - &link {mode: bcast, interface: enp0s3}
    - {<<: *link, port: 695}
  auth: {key_file: /etc/director/authkey}
  resources:
    owner: lb1
    addresses:
      - &addr {address: 192.168.56.10/24, interface: enp0s3}
      - {<<: *addr, address: 192.168.56.11/24}
`, func(c *Config) string {
			return configCheck(fmt.Sprint(c.HA.Links, c.HA.Addresses),
				"[{bcast enp0s3 694 invalid IP invalid IP 0} {bcast enp0s3 695 invalid IP invalid IP 0}] "+
					"[{192.168.56.10/24 enp0s3} {192.168.56.11/24 enp0s3}]")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig("good.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatalf("%v\nin\n%s", err, configNumbered(c.yaml))
			}
			if msg := c.check(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func configCheck(got, want string) string {
	if got != want {
		return fmt.Sprintf("got %q, want %q", got, want)
	}
	return ""
}

// configNumbered prefixes each line of a file with its number.
func configNumbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, l)
	}
	return b.String()
}

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
			`3: dataplane: want auto, xdp or xdp-generic, got a mapping`,
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
			`9: scheduler: want rr or wrr, got nothing`,
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
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: wlc
  - vip: 192.168.56.11
    port: 80
    scheduler: WRR
    protocol: http
`, []string{
			`3: data plane "tc" is not available in this version (use auto, xdp or xdp-generic)`,
			`7: scheduler "wlc" is not implemented (rr, wrr)`,
			`10: scheduler: want rr or wrr, got "WRR"`,
			`11: protocol: want tcp or udp, got "http"`,
		}},
		{"data plane ipvs", configHead + "dataplane: ipvs\n",
			[]string{`3: data plane "ipvs" is not available in this version (use auto, xdp or xdp-generic)`}},
		{"data plane unknown", configHead + "dataplane: native\n",
			[]string{`3: dataplane: want auto, xdp or xdp-generic, got "native"`}},
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
		{"metrics host name", configHead + "metrics: {listen: \"localhost:9917\"}\n",
			[]string{`3: metrics.listen: want IP:port or :port (port 1-65535), got "localhost:9917"`}},
		{"metrics port only", configHead + "metrics:\n  listen: 9917\n",
			[]string{`4: metrics.listen: want IP:port or :port (port 1-65535), got "9917"`}},
		{"metrics port zero", configHead + "metrics:\n  listen: 127.0.0.1:0\n",
			[]string{`4: metrics.listen: want IP:port or :port (port 1-65535), got "127.0.0.1:0"`}},

		// Several problems at once, reported in line order whatever the
		// order in which they were found.
		{"several problems", `services:
  - vip: 192.168.56.300
    port: 80
    scheduler: lc
    real_servers:
      - {address: 192.168.200.11, weigth: 3}
interfaces:
  public: enp0s3
node: lb.1
timeouts: {tcp: 0}
frobnicate: true
`, []string{
			`2: vip: invalid IPv4 address "192.168.56.300"`,
			`4: scheduler "lc" is not implemented (rr, wrr)`,
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

// configWantProblems checks that file bad.yaml with content data gives
// exactly the problems want (without the "bad.yaml:" prefix), in order.
func configWantProblems(t *testing.T, data string, wantLines []string) {
	t.Helper()
	cfg, err := ParseConfig("bad.yaml", []byte(data))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("got %+v, %v; want a *ConfigError\nin\n%s", cfg, err, configNumbered(data))
	}
	if cfg != nil {
		t.Errorf("got a Config with the problems")
	}
	want := make([]string, len(wantLines))
	for i, w := range wantLines {
		want[i] = "bad.yaml:" + w
	}
	var got []string
	for _, p := range ce.Problems {
		got = append(got, p.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n\t%s\nwant\n\t%s\nin\n%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"), configNumbered(data))
	}
	if err.Error() != strings.Join(want, "\n") {
		t.Errorf("Error() = %q", err.Error())
	}
}

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
	h := &HAConfig{Nodes: []string{"lb1", "lb2"}}
	for node, want := range map[string]string{"lb1": "lb2", "lb2": "lb1", "lb3": "", "": ""} {
		if got := h.Peer(node); got != want {
			t.Errorf("Peer(%q) = %q, want %q", node, got, want)
		}
	}
	if got := (&HAConfig{}).Peer("lb1"); got != "" {
		t.Errorf("Peer without nodes = %q", got)
	}
}

// TestConfigAliasBomb checks that aliases cannot make a small file
// expand into millions of real servers.
func TestConfigAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(configHead + "services:\n  - vip: 192.168.56.10\n    port: 1\n    real_servers: &r\n")
	for i := range 256 {
		fmt.Fprintf(&b, "      - {address: 192.168.%d.%d}\n", 200+i/250, 1+i%250) // lines 7-262
	}
	for port := 2; port <= 1000; port++ {
		fmt.Fprintf(&b, "  - {vip: 192.168.56.10, port: %d, real_servers: *r}\n", port)
	}
	_, err := ParseConfig("bad.yaml", []byte(b.String()))
	if want := "bad.yaml:7: more than 65536 real servers in all"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestConfigLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "director.yaml")
	cfg, err := LoadConfig(path)
	if err == nil {
		t.Fatalf("got %+v, want an error", cfg)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q is not fs.ErrNotExist", err)
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		t.Errorf("an unreadable file gave a *ConfigError: %v", err)
	}
}

// FuzzConfig checks that no input panics, that problems come in line
// order, and that what is accepted is what the data plane can take.
func FuzzConfig(f *testing.F) {
	for _, name := range []string{"readme.yaml", "full.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", "config", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(configHead + "services:\n  - &s {vip: 192.168.56.10, port: 80, <<: *s}\n"))
	f.Add([]byte(configHead + "services: &l\n  - {vip: 192.168.56.10, port: 80, real_servers: *l}\n"))
	f.Add([]byte(configHead + "services:\n  - &a {vip: 192.168.56.10, port: 80}\n  - {<<: [*a, *a], port: 81}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig("f.yaml", data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			for i, p := range ce.Problems {
				if p.Line < 1 || i > 0 && p.Line < ce.Problems[i-1].Line || p.File != "f.yaml" || p.Reason == "" {
					t.Fatalf("problems out of order or incomplete: %v", err)
				}
			}
			return
		}
		if !configNodeName.MatchString(cfg.Node) || !configIfname(cfg.Public) || !configIfname(cfg.Internal) ||
			!filepath.IsAbs(cfg.ControlSocket) || cfg.FlowTableSize < 1024 || cfg.FlowTableSize > 64<<20 {
			t.Fatalf("accepted %+v", cfg)
		}
		for _, d := range []time.Duration{cfg.Timeouts.SYN, cfg.Timeouts.Established, cfg.Timeouts.FIN, cfg.Timeouts.UDP} {
			if d < time.Second || d > 576*time.Hour || d%time.Second != 0 {
				t.Fatalf("accepted timeouts %+v", cfg.Timeouts)
			}
		}
		services := map[ServiceKey]bool{}
		for _, s := range cfg.Services {
			if !s.VIP.Is4() || s.Port == 0 || (s.Proto != TCP && s.Proto != UDP) || (s.Scheduler != SchedRR && s.Scheduler != SchedWRR) || services[s.Key()] {
				t.Fatalf("accepted service %+v", s)
			}
			services[s.Key()] = true
			reals := map[RealKey]bool{}
			for _, r := range s.Reals {
				if !r.Addr.Is4() || r.Port == 0 || r.Weight > 65535 || reals[RealKey{r.Addr, r.Port}] {
					t.Fatalf("accepted real server %+v of %s", r, s.Key())
				}
				reals[RealKey{r.Addr, r.Port}] = true
			}
		}
		if msg := configHAInvalid(cfg); msg != "" {
			t.Fatalf("accepted ha section %+v: %s", cfg.HA, msg)
		}
	})
}

// configHAInvalid says what of an accepted configuration's ha section
// breaks the rules, or is "".
func configHAInvalid(cfg *Config) string {
	h := cfg.HA
	if h == nil {
		return ""
	}
	if len(h.Nodes) != 2 || h.Nodes[0] == h.Nodes[1] || h.Peer(cfg.Node) == "" || h.Peer(h.Owner) == "" {
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
	if len(h.Addresses) == 0 {
		return "no addresses"
	}
	seen := map[netip.Addr]bool{}
	for _, a := range h.Addresses {
		if !a.Prefix.Addr().Is4() || a.Prefix.Bits() < 1 || !configIfname(a.Interface) || seen[a.Prefix.Addr()] ||
			a.Prefix.Bits() <= 30 && a.Prefix.Addr() == a.Prefix.Masked().Addr() {
			return fmt.Sprintf("address %+v", a)
		}
		seen[a.Prefix.Addr()] = true
	}
	return ""
}
