package config

// Tests of the configuration file: the README's example and a file with
// every key parse to the model.Config expected, and each rule of config.go gives
// exactly the problems expected, file:line: reason, in line order (the ha
// section's in TestConfigHAProblems).

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// configHead is a valid first two lines; cases built on it start at line 3.
const configHead = "node: lb1\ninterfaces: {public: enp0s3, internal: enp0s8}\n"

func TestConfigREADMEExample(t *testing.T) {
	path := filepath.Join("testdata", "config", "readme.yaml")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := &model.Config{
		Path:          path,
		Node:          "lb1",
		Public:        "enp0s3",
		Internal:      "enp0s8",
		Dataplane:     "auto",
		TCAttach:      "auto",
		ControlSocket: "/run/director/lb1.sock",
		FlowTableSize: 262144,
		Timeouts:      model.Timeouts{SYN: 60 * time.Second, Established: 900 * time.Second, FIN: 120 * time.Second, UDP: 300 * time.Second},
		Services: []model.Service{{
			VIP: netip.MustParseAddr("192.168.56.10"), Port: 80, Proto: model.TCP, Scheduler: model.SchedWRR,
			Reals: []model.RealServer{
				{Addr: netip.MustParseAddr("192.168.200.11"), Port: 80, Weight: 3},
				{Addr: netip.MustParseAddr("192.168.200.12"), Port: 80, Weight: 1},
			},
		}},
		Health: []model.ServiceHealth{{
			Default: configDefaultTCPCheck,
			PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: netip.MustParseAddr("192.168.200.11"), Port: 80}: configDefaultTCPCheck,
				{Addr: netip.MustParseAddr("192.168.200.12"), Port: 80}: configDefaultTCPCheck,
			},
		}},
		IPVS:          model.IPVSConfig{SyncInterface: "enp0s8"},
		MetricsListen: "127.0.0.1:9917",
		HA: &model.HAConfig{
			Nodes:        []string{"lb1", "lb2"},
			Owner:        "lb1",
			AutoFailback: true,
			Keepalive:    time.Second,
			Deadtime:     5 * time.Second,
			Warntime:     2500 * time.Millisecond,
			Initdead:     10 * time.Second,
			Links:        []model.HALink{{Mode: "bcast", Interface: "enp0s3", Port: 694}},
			AuthMethod:   "sha256",
			KeyFile:      "/etc/director/authkey",
			ARPCount:     5,
			ARPInterval:  200 * time.Millisecond,
			Addresses: []model.HAAddress{
				{Prefix: netip.MustParsePrefix("192.168.56.10/24"), Interface: "enp0s3"},
				{Prefix: netip.MustParsePrefix("192.168.200.250/24"), Interface: "enp0s8"},
			},
			// Sync by default, on the heartbeat's links, port + 1.
			Sync: &model.HASync{Links: []model.HALink{{Mode: "bcast", Interface: "enp0s3", Port: 695}}, FailbackWait: 30 * time.Second},
			Line: 15,
		},
	}
	configCompare(t, cfg, want)
	if model.DefaultTimeouts != want.Timeouts {
		t.Errorf("DefaultTimeouts = %+v, want IPVS's %+v", model.DefaultTimeouts, want.Timeouts)
	}
}

func TestConfigEveryKey(t *testing.T) {
	path := filepath.Join("testdata", "config", "full.yaml")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	dnsCheck := model.HealthCheck{Type: "command", Interval: 5 * time.Second, Timeout: 1500 * time.Millisecond, Rise: 1, Fall: 5,
		Port: 5300, Command: model.NewArgv("/usr/local/bin/check-dns", "{address}", "{port}"), OnFailure: "remove"}
	webCheck := model.HealthCheck{Type: "https", Interval: 500 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: 2, Fall: 3,
		Path: "/healthz?full=1", ExpectStatus: 204, ExpectBody: "ok", Host: "www.example.com", OnFailure: "quiesce"}
	webReal := webCheck
	webReal.Path, webReal.ExpectBody = "/", ""
	want := &model.Config{
		Path:          path,
		Node:          "lb-2_a",
		Public:        "eth0",
		Internal:      "eth0",
		Dataplane:     "xdp-generic",
		TCAttach:      "clsact",
		ControlSocket: "/tmp/director/lb2.sock",
		FlowTableSize: 1024,
		Timeouts:      model.Timeouts{SYN: 10 * time.Second, Established: 15 * time.Minute, FIN: 30 * time.Second, UDP: time.Hour},
		Services: []model.Service{
			{VIP: netip.MustParseAddr("10.0.0.1"), Port: 53, Proto: model.UDP, Scheduler: model.SchedRR, Reals: []model.RealServer{
				{Addr: netip.MustParseAddr("10.1.0.1"), Port: 53, Weight: 1},
				{Addr: netip.MustParseAddr("10.1.0.2"), Port: 5353, Weight: 0},
			}},
			{VIP: netip.MustParseAddr("10.0.0.1"), Port: 53, Proto: model.TCP, Scheduler: model.SchedWRR},
			{VIP: netip.MustParseAddr("10.0.0.2"), Port: 443, Proto: model.TCP, Scheduler: model.SchedWRR, Reals: []model.RealServer{
				{Addr: netip.MustParseAddr("10.1.0.3"), Port: 443, Weight: 1},
			}},
		},
		Health: []model.ServiceHealth{
			{
				Default: dnsCheck,
				PerReal: map[model.RealKey]model.HealthCheck{
					{Addr: netip.MustParseAddr("10.1.0.1"), Port: 53}: dnsCheck,
					{Addr: netip.MustParseAddr("10.1.0.2"), Port: 5353}: {Type: "tcp", Interval: 5 * time.Second,
						Timeout: 1500 * time.Millisecond, Rise: 1, Fall: 2, Port: 5300, OnFailure: "remove"},
				},
				Sorry: &model.RealServer{Addr: netip.MustParseAddr("10.1.0.9"), Port: 53, Weight: 1},
			},
			{Default: model.HealthCheck{Type: "none"}, PerReal: map[model.RealKey]model.HealthCheck{}},
			{
				Default: webCheck,
				PerReal: map[model.RealKey]model.HealthCheck{{Addr: netip.MustParseAddr("10.1.0.3"), Port: 443}: webReal},
				Sorry:   &model.RealServer{Addr: netip.MustParseAddr("10.1.0.9"), Port: 8443, Weight: 1},
			},
		},
		IPVS:          model.IPVSConfig{SyncInterface: "eth0"},
		MetricsListen: "[::1]:9917",
		HA: &model.HAConfig{
			Nodes:        []string{"lb-1", "lb-2_a"},
			Owner:        "lb-1",
			AutoFailback: false,
			Keepalive:    500 * time.Millisecond,
			Deadtime:     3 * time.Second,
			Warntime:     2500 * time.Millisecond,
			Initdead:     time.Minute,
			Links: []model.HALink{
				{Mode: "mcast", Interface: "eth0", Port: 695, Group: netip.MustParseAddr("239.0.0.1"), TTL: 2},
				{Mode: "ucast", Interface: "eth1", Port: 696, Peer: netip.MustParseAddr("10.9.0.1")},
				{Mode: "bcast", Interface: "eth2", Port: 694},
				{Mode: "mcast", Interface: "eth0", Port: 694, Group: netip.MustParseAddr("239.0.0.2"), TTL: 1},
			},
			AuthMethod:  "md5",
			KeyFile:     "/etc/director/authkey",
			ARPCount:    10,
			ARPInterval: time.Second,
			Addresses: []model.HAAddress{
				{Prefix: netip.MustParsePrefix("10.0.0.1/24"), Interface: "eth0"},
				{Prefix: netip.MustParsePrefix("10.0.0.2/32"), Interface: "eth0"},
				{Prefix: netip.MustParsePrefix("10.9.0.2/31"), Interface: "eth1"},
			},
			Sync: &model.HASync{Links: []model.HALink{{Mode: "ucast", Interface: "eth1", Port: 700, Peer: netip.MustParseAddr("10.9.0.1")}},
				FailbackWait: 10 * time.Second},
			Line: 56,
		},
	}
	configCompare(t, cfg, want)
}

// configDefaultTCPCheck is the check of a tcp service without
// health_check.
var configDefaultTCPCheck = model.HealthCheck{Type: "tcp", Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
	OnFailure: "quiesce"}

// configCompare reports how cfg differs from want, the HA section shown
// apart (a pointer).
func configCompare(t *testing.T, cfg, want *model.Config) {
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
		check      func(*model.Config) string // "" if cfg is as expected
	}{
		{"sync disabled", configHA + "  sync: {enabled: false}\n", func(c *model.Config) string {
			if c.HA == nil || c.HA.Sync != nil {
				return fmt.Sprintf("ha.sync: got %+v, want disabled (nil)", c.HA)
			}
			return ""
		}},
		{"empty sections", configHead + "dataplane: xdp\nservices:\nflow_table:\ntimeouts:\nmetrics:\n", func(c *model.Config) string {
			if c.Services != nil || c.FlowTableSize != 262144 || c.Timeouts != model.DefaultTimeouts || c.MetricsListen != "" || c.Dataplane != "xdp" ||
				c.HA != nil {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{"trailing document marker", configHead + "---\n", func(c *model.Config) string { return "" }},
		{"metrics on every address", configHead + "metrics: {listen: \":9917\"}\n", func(c *model.Config) string {
			return configCheck(c.MetricsListen, ":9917")
		}},
		{"integer forms", configHead + "services:\n  - {vip: 192.168.56.10, port: 0x50, real_servers: [{address: 192.168.200.11, weight: 1_000}]}\n",
			func(c *model.Config) string {
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
`, func(c *model.Config) string {
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
`, func(c *model.Config) string {
			want := &model.HAConfig{
				Nodes: []string{"lb2", "lb1"}, Owner: "lb2", AutoFailback: true,
				Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond,
				Warntime: 250 * time.Millisecond, Initdead: time.Second,
				Links: []model.HALink{
					{Mode: "bcast", Interface: "enp0s3", Port: 694},
					{Mode: "ucast", Interface: "enp0s8", Port: 694, Peer: netip.MustParseAddr("192.168.200.252")},
				},
				AuthMethod: "sha256", KeyFile: "/etc/director/authkey", ARPCount: 5, ARPInterval: 200 * time.Millisecond,
				Addresses: []model.HAAddress{{Prefix: netip.MustParsePrefix("192.168.56.10/24"), Interface: "enp0s3"}},
				Sync: &model.HASync{Links: []model.HALink{
					{Mode: "bcast", Interface: "enp0s3", Port: 695},
					{Mode: "ucast", Interface: "enp0s8", Port: 695, Peer: netip.MustParseAddr("192.168.200.252")},
				}, FailbackWait: 30 * time.Second},
				Line: 3,
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
`, func(c *model.Config) string {
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
`, func(c *model.Config) string {
			h := c.HA
			return configCheck(fmt.Sprint(h.Keepalive, h.Deadtime, h.Warntime, h.Initdead, h.Links[0].Port, h.ARPCount, h.ARPInterval),
				"10ms 1h0m0s 59m59.999s 1h0m0s 65535 100 10s")
		}},
		{"ha: default warntime below the least one written", configHA + "  keepalive: 10ms\n  deadtime: 15ms\n", func(c *model.Config) string {
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
`, func(c *model.Config) string {
			return configCheck(fmt.Sprint(c.HA.Links, c.HA.Addresses),
				"[{bcast enp0s3 694 invalid IP invalid IP 0} {bcast enp0s3 695 invalid IP invalid IP 0}] "+
					"[{192.168.56.10/24 enp0s3} {192.168.56.11/24 enp0s3}]")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("good.yaml", []byte(c.yaml))
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
tc_attach: tcx
services:
  - vip: 192.168.56.10
    port: 80
    scheduler: wlc
  - vip: 192.168.56.11
    port: 80
    scheduler: WRR
    protocol: http
`, []string{
			`8: scheduler "wlc" needs dataplane: ipvs (the BPF data planes implement rr and wrr)`,
			`11: scheduler: want rr or wrr, got "WRR"`,
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
			`4: scheduler "lc" needs dataplane: ipvs (the BPF data planes implement rr and wrr)`,
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
	cfg, err := Parse("bad.yaml", []byte(data))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %+v, %v; want a *Error\nin\n%s", cfg, err, configNumbered(data))
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
	_, err := Parse("bad.yaml", []byte(b.String()))
	if want := "bad.yaml:7: more than 65536 real servers in all"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestConfigHealthAliasBomb checks that a long command list shared
// through aliases by every real server is checked once.
func TestConfigHealthAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString(configHead + "services:\n  - vip: 192.168.56.10\n    port: 1\n")
	b.WriteString("    health_check: {type: command, command: &c [" + strings.Repeat("[x], ", 2000) + "]}\n    real_servers: &r\n")
	for i := range 256 {
		fmt.Fprintf(&b, "      - {address: 192.168.%d.%d, health_check: {command: *c}}\n", 200+i/250, 1+i%250)
	}
	for port := 2; port <= 250; port++ {
		fmt.Fprintf(&b, "  - {vip: 192.168.56.10, port: %d, health_check: {type: command, command: [/bin/true]}, real_servers: *r}\n", port)
	}
	start := time.Now()
	_, err := Parse("bad.yaml", []byte(b.String()))
	if want := "bad.yaml:6: health_check.command: want a string, got a list"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestConfigLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "director.yaml")
	cfg, err := Load(path)
	if err == nil {
		t.Fatalf("got %+v, want an error", cfg)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q is not fs.ErrNotExist", err)
	}
	var ce *Error
	if errors.As(err, &ce) {
		t.Errorf("an unreadable file gave a *Error: %v", err)
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
	f.Add([]byte(configService + "    health_check: {type: http, interval: 1s}\n    sorry_server: {address: 192.168.200.99}\n" +
		"    real_servers: [{address: 192.168.200.11, health_check: {type: command, command: [/bin/true]}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yaml", data)
		if err != nil {
			var ce *Error
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
		if !heartbeat.ValidNodeName(cfg.Node) || !configIfname(cfg.Public) || !configIfname(cfg.Internal) ||
			!filepath.IsAbs(cfg.ControlSocket) || cfg.FlowTableSize < 1024 || cfg.FlowTableSize > 64<<20 {
			t.Fatalf("accepted %+v", cfg)
		}
		for _, d := range []time.Duration{cfg.Timeouts.SYN, cfg.Timeouts.Established, cfg.Timeouts.FIN, cfg.Timeouts.UDP} {
			if d < time.Second || d > 576*time.Hour || d%time.Second != 0 {
				t.Fatalf("accepted timeouts %+v", cfg.Timeouts)
			}
		}
		services := map[model.ServiceKey]bool{}
		for _, s := range cfg.Services {
			if !s.VIP.Is4() || s.Port == 0 || (s.Proto != model.TCP && s.Proto != model.UDP) || (s.Scheduler != model.SchedRR && s.Scheduler != model.SchedWRR) || services[s.Key()] {
				t.Fatalf("accepted service %+v", s)
			}
			services[s.Key()] = true
			reals := map[model.RealKey]bool{}
			for _, r := range s.Reals {
				if !r.Addr.Is4() || r.Port == 0 || r.Weight > 65535 || reals[r.Key()] {
					t.Fatalf("accepted real server %+v of %s", r, s.Key())
				}
				reals[r.Key()] = true
			}
		}
		if msg := configHAInvalid(cfg); msg != "" {
			t.Fatalf("accepted ha section %+v: %s", cfg.HA, msg)
		}
		if msg := configHealthInvalid(cfg); msg != "" {
			t.Fatalf("accepted health checks: %s", msg)
		}
	})
}

// configHAInvalid says what of an accepted configuration's ha section
// breaks the rules, or is "".
func configHAInvalid(cfg *model.Config) string {
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

// configService is configHead and the first lines of a service (lines
// 3-5), to which cases add the service's keys from line 6.
const configService = configHead + "services:\n  - vip: 192.168.56.10\n    port: 80\n"

// TestConfigHealth covers the health checks of valid files: defaults,
// a real server's keys replacing the service's, type none, sorry servers.
func TestConfigHealth(t *testing.T) {
	a11, a12, a13 := netip.MustParseAddr("192.168.200.11"), netip.MustParseAddr("192.168.200.12"), netip.MustParseAddr("192.168.200.13")
	a14, a15, a16 := netip.MustParseAddr("192.168.200.14"), netip.MustParseAddr("192.168.200.15"), netip.MustParseAddr("192.168.200.16")
	none := model.HealthCheck{Type: "none"}
	def := configDefaultTCPCheck
	with := func(c model.HealthCheck, edit func(*model.HealthCheck)) model.HealthCheck { edit(&c); return c }
	for _, c := range []struct {
		name, yaml string
		want       []model.ServiceHealth
	}{
		{"defaults: tcp checked, udp not", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    real_servers: [{address: 192.168.200.11}, {address: 192.168.200.12, port: 8080}]
  - vip: 192.168.56.10
    port: 53
    protocol: udp
    real_servers: [{address: 192.168.200.11}]
  - vip: 192.168.56.11
    port: 80
    health_check:
`, []model.ServiceHealth{
			{Default: def, PerReal: map[model.RealKey]model.HealthCheck{{Addr: a11, Port: 80}: def, {Addr: a12, Port: 8080}: def}},
			{Default: none, PerReal: map[model.RealKey]model.HealthCheck{{Addr: a11, Port: 53}: none}},
			{Default: def, PerReal: map[model.RealKey]model.HealthCheck{}},
		}},
		{"a real server's keys replace the service's one by one", configService + `    health_check:
      type: http
      interval: 1s
      path: /health
      expect_body: ok
      host: www.example.com:8080
    real_servers:
      - {address: 192.168.200.11}
      - {address: 192.168.200.12, health_check: {port: 8080, path: /a, rise: 5, on_failure: remove}}
      - {address: 192.168.200.13, health_check: {type: tcp}}
      - {address: 192.168.200.14, health_check: {type: https, expect_status: 301, expect_body: ""}}
      - {address: 192.168.200.15, health_check: {type: none}}
      - {address: 192.168.200.16, health_check: {interval: 300ms}}
`, func() []model.ServiceHealth {
			web := model.HealthCheck{Type: "http", Interval: time.Second, Timeout: time.Second, Rise: 2, Fall: 3, Path: "/health",
				ExpectStatus: 200, ExpectBody: "ok", Host: "www.example.com:8080", OnFailure: "quiesce"}
			return []model.ServiceHealth{{Default: web, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: web,
				{Addr: a12, Port: 80}: with(web, func(c *model.HealthCheck) { c.Port, c.Path, c.Rise, c.OnFailure = 8080, "/a", 5, "remove" }),
				{Addr: a13, Port: 80}: {Type: "tcp", Interval: time.Second, Timeout: time.Second, Rise: 2, Fall: 3, OnFailure: "quiesce"},
				{Addr: a14, Port: 80}: with(web, func(c *model.HealthCheck) { c.Type, c.ExpectStatus, c.ExpectBody = "https", 301, "" }),
				{Addr: a15, Port: 80}: none,
				// The timeout, not written, is the interval if shorter than 1s.
				{Addr: a16, Port: 80}: with(web, func(c *model.HealthCheck) { c.Interval, c.Timeout = 300*time.Millisecond, 300*time.Millisecond }),
			}}}
		}()},
		{"the service's timeout and interval are kept", configService + `    health_check: {timeout: 200ms, interval: 0.5}
    real_servers:
      - {address: 192.168.200.11, health_check: {interval: 300ms}}
      - {address: 192.168.200.12, health_check: {timeout: 500ms, fall: 1}}
`, func() []model.ServiceHealth {
			svc := with(def, func(c *model.HealthCheck) { c.Interval, c.Timeout = 500*time.Millisecond, 200*time.Millisecond })
			return []model.ServiceHealth{{Default: svc, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: with(svc, func(c *model.HealthCheck) { c.Interval = 300 * time.Millisecond }),
				{Addr: a12, Port: 80}: with(svc, func(c *model.HealthCheck) { c.Timeout, c.Fall = 500*time.Millisecond, 1 }),
			}}}
		}()},
		{"type none, and a real server checked all the same", configService + `    health_check: {type: none}
    real_servers:
      - {address: 192.168.200.11}
      - {address: 192.168.200.12, health_check: {type: tcp, port: 22}}
`, []model.ServiceHealth{{Default: none, PerReal: map[model.RealKey]model.HealthCheck{
			{Addr: a11, Port: 80}: none,
			{Addr: a12, Port: 80}: with(def, func(c *model.HealthCheck) { c.Port = 22 }),
		}}}},
		{"udp: a command check", configHead + `services:
  - vip: 192.168.56.10
    port: 53
    protocol: udp
    real_servers:
      - {address: 192.168.200.11}
      - address: 192.168.200.12
        health_check: {type: command, command: [/usr/lib/nagios/check_dns, -H, "{address}:{port}"]}
`, []model.ServiceHealth{{Default: none, PerReal: map[model.RealKey]model.HealthCheck{
			{Addr: a11, Port: 53}: none,
			{Addr: a12, Port: 53}: {Type: "command", Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3,
				Command: model.NewArgv("/usr/lib/nagios/check_dns", "-H", "{address}:{port}"), OnFailure: "quiesce"},
		}}}},
		{"a command check turned http drops the command", configService + `    health_check: {type: command, command: [/bin/check], port: 81}
    real_servers:
      - {address: 192.168.200.11, health_check: {type: http}}
`, func() []model.ServiceHealth {
			cmd := with(def, func(c *model.HealthCheck) { c.Type, c.Command, c.Port = "command", model.NewArgv("/bin/check"), 81 })
			return []model.ServiceHealth{{Default: cmd, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: with(def, func(c *model.HealthCheck) { c.Type, c.Port, c.Path, c.ExpectStatus = "http", 81, "/", 200 }),
			}}}
		}()},
		{"sorry servers", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    sorry_server: {address: 192.168.200.99}
  - vip: 192.168.56.10
    port: 443
    sorry_server:
      address: 192.168.200.99
      port: 8443
    real_servers: [{address: 192.168.200.99}]
`, []model.ServiceHealth{
			{Default: def, PerReal: map[model.RealKey]model.HealthCheck{},
				Sorry: &model.RealServer{Addr: netip.MustParseAddr("192.168.200.99"), Port: 80, Weight: 1}},
			{Default: def, PerReal: map[model.RealKey]model.HealthCheck{{Addr: netip.MustParseAddr("192.168.200.99"), Port: 443}: def},
				Sorry: &model.RealServer{Addr: netip.MustParseAddr("192.168.200.99"), Port: 8443, Weight: 1}},
		}},
		{"limits", configService + `    health_check: {interval: 50ms, timeout: 10ms, rise: 100, fall: 1, port: 65535, on_failure: quiesce}
    real_servers:
      - {address: 192.168.200.11, health_check: {interval: 1h, timeout: 1h, type: http, expect_status: 599}}
      - {address: 192.168.200.12, health_check: {type: https, expect_status: 100, path: "/a/b?c=d&e"}}
`, func() []model.ServiceHealth {
			svc := model.HealthCheck{Type: "tcp", Interval: 50 * time.Millisecond, Timeout: 10 * time.Millisecond, Rise: 100, Fall: 1,
				Port: 65535, OnFailure: "quiesce"}
			return []model.ServiceHealth{{Default: svc, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: with(svc, func(c *model.HealthCheck) {
					c.Interval, c.Timeout, c.Type, c.ExpectStatus, c.Path = time.Hour, time.Hour, "http", 599, "/"
				}),
				{Addr: a12, Port: 80}: with(svc, func(c *model.HealthCheck) { c.Type, c.ExpectStatus, c.Path = "https", 100, "/a/b?c=d&e" }),
			}}}
		}()},
		{"aliases and merge keys", configService + `    health_check: &hc {type: http, path: /x, host: "[2001:db8::1]:8080"}
    real_servers:
      - {address: 192.168.200.11, health_check: {<<: *hc, path: /y}}
      - {address: 192.168.200.12, health_check: *hc}
`, func() []model.ServiceHealth {
			svc := with(def, func(c *model.HealthCheck) {
				c.Type, c.Path, c.ExpectStatus, c.Host = "http", "/x", 200, "[2001:db8::1]:8080"
			})
			return []model.ServiceHealth{{Default: svc, PerReal: map[model.RealKey]model.HealthCheck{
				{Addr: a11, Port: 80}: with(svc, func(c *model.HealthCheck) { c.Path = "/y" }),
				{Addr: a12, Port: 80}: svc,
			}}}
		}()},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Parse("good.yaml", []byte(c.yaml))
			if err != nil {
				t.Fatalf("%v\nin\n%s", err, configNumbered(c.yaml))
			}
			if len(cfg.Health) != len(cfg.Services) {
				t.Fatalf("%d services, %d healths", len(cfg.Services), len(cfg.Health))
			}
			if !reflect.DeepEqual(cfg.Health, c.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", configHealthString(cfg.Health), configHealthString(c.want))
			}
			if msg := configHealthInvalid(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// configHealthString formats health for test failures, PerReal in order.
func configHealthString(health []model.ServiceHealth) string {
	var b strings.Builder
	for i, h := range health {
		fmt.Fprintf(&b, "[%d] default %+v sorry %v\n", i, h.Default, h.Sorry)
		keys := slices.SortedFunc(maps.Keys(h.PerReal), func(a, b model.RealKey) int {
			return strings.Compare(netip.AddrPortFrom(a.Addr, a.Port).String(), netip.AddrPortFrom(b.Addr, b.Port).String())
		})
		for _, k := range keys {
			fmt.Fprintf(&b, "\t\t%s %+v\n", netip.AddrPortFrom(k.Addr, k.Port), h.PerReal[k])
		}
	}
	return b.String()
}

func TestConfigHealthProblems(t *testing.T) {
	const duration = `want a duration ("100ms", "1s", "2m") or a number of seconds, got `
	const udp = configHead + "services:\n  - vip: 192.168.56.10\n    port: 53\n    protocol: udp\n" // keys from line 7
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown and duplicate keys", configService + `    health_check:
      type: tcp
      intervall: 2s
      type: http
    sorry_server: {address: 192.168.200.99, weight: 1}
`, []string{
			`8: unknown key "intervall" in health_check`,
			`9: duplicate key "type" (first at line 7)`,
			`10: unknown key "weight" in sorry_server`,
		}},
		{"types and ranges", configService + `    health_check:
      type: ping
      interval: fast
      timeout: [1s]
      rise: 0
      fall: 101
      port: 70000
      on_failure: drop
      expect_status: ok
`, []string{
			`7: health_check.type: want tcp, http, https, command or none, got "ping"`,
			`8: health_check.interval: ` + duration + `"fast"`,
			`9: health_check.timeout: ` + duration + `a list`,
			`10: health_check.rise: 0 is outside 1..100`,
			`11: health_check.fall: 101 is outside 1..100`,
			`12: health_check.port: 70000 is outside 1..65535`,
			`13: health_check.on_failure: want quiesce or remove, got "drop"`,
			`14: health_check.expect_status: want an integer 100-599, got "ok"`,
		}},
		{"durations out of range", configService + `    health_check: {interval: 10ms}
    real_servers:
      - {address: 192.168.200.11, health_check: {interval: 2h, timeout: 2h}}
      - {address: 192.168.200.12, health_check: {timeout: 5ms}}
      - {address: 192.168.200.13, health_check: {timeout: -1}}
`, []string{
			`6: health_check.interval: 10ms is outside 50ms..1h`,
			`8: health_check.interval: 2h is outside 50ms..1h`,
			`8: health_check.timeout: 2h is outside 10ms..1h`,
			`9: health_check.timeout: 5ms is outside 10ms..1h`,
			`10: health_check.timeout: -1s is outside 10ms..1h`,
		}},
		{"http keys", configService + `    health_check:
      type: http
      path: health
      expect_status: 700
      expect_body: ~
      host: "www example com"
    real_servers:
      - {address: 192.168.200.11, health_check: {path: "/a b", host: "a/b"}}
      - {address: 192.168.200.12, health_check: {path: [/], expect_status: 99}}
`, []string{
			`8: health_check.path: want a path starting with "/" ("/health"), got "health"`,
			`9: health_check.expect_status: 700 is outside 100..599`,
			`10: health_check.expect_body: want a string, got nothing`,
			`11: health_check.host: want a host name or address, with an optional port ("www.example.com"), got "www example com"`,
			`13: health_check.path: want a path starting with "/" ("/health"), got "/a b"`,
			`13: health_check.host: want a host name or address, with an optional port ("www.example.com"), got "a/b"`,
			`14: health_check.path: want a path starting with "/" ("/health"), got a list`,
			`14: health_check.expect_status: 99 is outside 100..599`,
		}},
		{"keys of another type", configService + `    health_check:
      path: /health
      expect_status: 200
      expect_body: ok
      host: www.example.com
      command: [/bin/true]
    real_servers:
      - {address: 192.168.200.11, health_check: {type: none, interval: 1s, rise: 1, fall: 1, port: 81, timeout: 1s}}
      - {address: 192.168.200.12, health_check: {type: none, on_failure: remove, path: /}}
      - {address: 192.168.200.13, health_check: {type: http, command: [/bin/true]}}
`, []string{
			`7: health_check.path: only for type http or https`,
			`8: health_check.expect_status: only for type http or https`,
			`9: health_check.expect_body: only for type http or https`,
			`10: health_check.host: only for type http or https`,
			`11: health_check.command: only for type command`,
			`13: health_check.interval: only for type tcp, http, https or command`,
			`13: health_check.timeout: only for type tcp, http, https or command`,
			`13: health_check.rise: only for type tcp, http, https or command`,
			`13: health_check.fall: only for type tcp, http, https or command`,
			`13: health_check.port: only for type tcp, http, https or command`,
			`14: health_check.path: only for type http or https`,
			`14: health_check.on_failure: only for type tcp, http, https or command`,
			`15: health_check.command: only for type command`,
		}},
		{"commands", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    health_check: {type: command}
    real_servers:
      - {address: 192.168.200.11, health_check: {command: "/bin/check {address}"}}
      - {address: 192.168.200.12, health_check: {command: []}}
      - {address: 192.168.200.13, health_check: {command: [check, "{address}"]}}
      - address: 192.168.200.14
        health_check:
          command:
            - /bin/check
            - [x]
            - ~
  - vip: 192.168.56.10
    port: 81
    health_check: {type: http}
    real_servers:
      - {address: 192.168.200.11, health_check: {type: command, port: 80}}
      - {address: 192.168.200.12, health_check: {type: command, command: /bin/true}}
`, []string{
			`6: health_check: missing key "command" (type command)`,
			`8: health_check.command: want a list of strings (the program's absolute path, then its arguments), got "/bin/check {address}"`,
			`9: health_check.command: want at least the program's path`,
			`10: health_check.command: want an absolute path first, got "check"`,
			`15: health_check.command: want a string, got a list`,
			`16: health_check.command: want a string, got nothing`,
			`21: health_check: missing key "command" (type command)`,
			`22: health_check.command: want a list of strings (the program's absolute path, then its arguments), got "/bin/true"`,
		}},
		{"udp: no type, no check", udp + `    health_check: {interval: 1s, path: /}
    real_servers:
      - {address: 192.168.200.11, health_check: {rise: 1}}
      - {address: 192.168.200.12, health_check: {type: tcp, rise: 1}}
      - {address: 192.168.200.13, health_check: {}}
`, []string{
			`7: health_check: missing key "type" (a udp service has no default check)`,
			`9: health_check: missing key "type" (a udp service has no default check)`,
		}},
		{"timeout at most interval", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    health_check: {timeout: 3s}
  - vip: 192.168.56.10
    port: 81
    health_check: {interval: 1s, timeout: 1500ms}
  - vip: 192.168.56.10
    port: 82
    health_check:
      timeout: 2s
      interval: 1
  - vip: 192.168.56.10
    port: 83
    health_check: {timeout: 1s, interval: 2s}
    real_servers:
      - {address: 192.168.200.11, health_check: {interval: 500ms}}
      - {address: 192.168.200.12, health_check: {timeout: 2s}}
      - {address: 192.168.200.13, health_check: {timeout: 3s, interval: 2500ms}}
  - vip: 192.168.56.10
    port: 84
    real_servers:
      - {address: 192.168.200.11, health_check: {timeout: 2.5}}
      - {address: 192.168.200.12, health_check: {interval: 100ms}}
`, []string{
			`6: health_check.timeout: 3s must be at most health_check.interval (2s, the default)`,
			`9: health_check.timeout: 1500ms must be at most health_check.interval (1s)`,
			`14: health_check.interval: 1s must be at least health_check.timeout (2s)`,
			`19: health_check.interval: 500ms must be at least health_check.timeout (1s, the service's)`,
			`21: health_check.interval: 2500ms must be at least health_check.timeout (3s)`,
			`25: health_check.timeout: 2.5s must be at most health_check.interval (2s, the default)`,
		}},
		{"not mappings", configService + `    health_check: tcp
    sorry_server: 192.168.200.99:80
    real_servers:
      - {address: 192.168.200.11, health_check: [http]}
      - {address: 192.168.200.12, health_check: {path: /}}
`, []string{
			`6: health_check: want a mapping, got "tcp"`,
			`7: sorry_server: want a mapping, got "192.168.200.99:80"`,
			`9: health_check: want a mapping, got a list`,
		}},
		{"an invalid type: values checked, not the type's rules", configService + `    health_check: {type: HTTP, path: /, command: [x]}
    real_servers:
      - {address: 192.168.200.11, health_check: {expect_status: 200}}
      - {address: 192.168.200.12, health_check: {type: tcp, path: /}}
`, []string{
			`6: health_check.type: want tcp, http, https, command or none, got "HTTP"`,
			`6: health_check.command: want an absolute path first, got "x"`,
			`9: health_check.path: only for type http or https`,
		}},
		{"a NUL byte in a command", configService + `    health_check:
      type: command
      command:
        - /bin/check
        - "a\0b"
`, []string{
			`10: health_check.command: want a string without NUL bytes, got "a\x00b"`,
		}},
		{"sorry servers", configHead + `services:
  - vip: 192.168.56.10
    port: 80
    sorry_server: {port: 8080}
  - vip: 192.168.56.10
    port: 81
    sorry_server: {address: 127.0.0.1, port: 0}
  - vip: 192.168.56.10
    port: 82
    sorry_server:
    real_servers: [{address: 192.168.200.11}]
  - vip: 192.168.56.10
    port: 83
    sorry_server: {address: 192.168.200.11}
    real_servers:
      - {address: 192.168.200.11, port: 8080}
      - {address: 192.168.200.11}
`, []string{
			`6: sorry_server: missing key "address"`,
			`9: sorry_server.address: loopback address "127.0.0.1" is not allowed`,
			`9: sorry_server.port: 0 is outside 1..65535`,
			`12: sorry_server: missing key "address"`,
			`16: sorry_server: 192.168.200.11:83 is also a real server of the service (line 19)`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) { configWantProblems(t, c.yaml, c.want) })
	}
}

func TestConfigHealthCheckEqual(t *testing.T) {
	a := model.HealthCheck{Type: "command", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, Command: model.NewArgv("/bin/true", "x")}
	b := a
	b.Command = model.NewArgv(a.Command.Args()...)
	if a != b {
		t.Errorf("%+v != a copy", a)
	}
	for _, edit := range []func(*model.HealthCheck){
		func(c *model.HealthCheck) { c.Type = "tcp" },
		func(c *model.HealthCheck) { c.Interval++ },
		func(c *model.HealthCheck) { c.Timeout++ },
		func(c *model.HealthCheck) { c.Rise++ },
		func(c *model.HealthCheck) { c.Fall++ },
		func(c *model.HealthCheck) { c.Port++ },
		func(c *model.HealthCheck) { c.Path = "/" },
		func(c *model.HealthCheck) { c.ExpectStatus++ },
		func(c *model.HealthCheck) { c.ExpectBody = "ok" },
		func(c *model.HealthCheck) { c.Host = "h" },
		func(c *model.HealthCheck) { c.Command = model.NewArgv("/bin/true", "y") },
		func(c *model.HealthCheck) { c.Command = model.NewArgv(c.Command.Args()[:1]...) },
		func(c *model.HealthCheck) { c.Command = model.NewArgv("/bin/true x") },
		func(c *model.HealthCheck) { c.OnFailure = "remove" },
	} {
		c := a
		edit(&c)
		if a == c {
			t.Errorf("%+v == %+v", a, c)
		}
	}
	if got := model.NewArgv("/bin/true", "", "x").Args(); !slices.Equal(got, []string{"/bin/true", "", "x"}) {
		t.Errorf("Args() = %q", got)
	}
}

// configHealthInvalid says what of an accepted configuration's health
// checks breaks the rules, or is "".
func configHealthInvalid(cfg *model.Config) string {
	if len(cfg.Health) != len(cfg.Services) {
		return "not a health per service"
	}
	valid := func(c model.HealthCheck) bool {
		if c.Type == "none" {
			return c == model.HealthCheck{Type: "none"}
		}
		web := c.Type == "http" || c.Type == "https"
		return slices.Contains([]string{"tcp", "http", "https", "command"}, c.Type) &&
			c.Interval >= 50*time.Millisecond && c.Interval <= time.Hour && c.Timeout >= 10*time.Millisecond && c.Timeout <= c.Interval &&
			c.Rise >= 1 && c.Rise <= 100 && c.Fall >= 1 && c.Fall <= 100 && (c.OnFailure == "quiesce" || c.OnFailure == "remove") &&
			web == strings.HasPrefix(c.Path, "/") && web == (c.ExpectStatus >= 100 && c.ExpectStatus <= 599) &&
			(web || c.ExpectBody == "" && c.Host == "") &&
			(c.Type == "command") == (c.Command != "" && filepath.IsAbs(c.Command.Args()[0]))
	}
	for i, h := range cfg.Health {
		s := cfg.Services[i]
		if !valid(h.Default) {
			return fmt.Sprintf("check of %s: %+v", s.Key(), h.Default)
		}
		if s.Proto == model.UDP && h.Default.Type != "none" && h.Default.Type == "tcp" && h.Default == configDefaultTCPCheck {
			return fmt.Sprintf("udp %s checked by default", s.Key())
		}
		for _, r := range s.Reals {
			c, ok := h.PerReal[r.Key()]
			if !ok || !valid(c) {
				return fmt.Sprintf("check of %s %s: %+v", s.Key(), netip.AddrPortFrom(r.Addr, r.Port), c)
			}
		}
		if len(h.PerReal) > len(s.Reals) {
			return fmt.Sprintf("checks of real servers %s does not have", s.Key())
		}
		if r := h.Sorry; r != nil {
			_, real := h.PerReal[r.Key()]
			if !r.Addr.Is4() || r.Port == 0 || r.Weight != 1 || real {
				return fmt.Sprintf("sorry server of %s: %+v", s.Key(), *r)
			}
		}
	}
	return ""
}

func TestConfigIPVS(t *testing.T) {
	cfg, err := Parse("ipvs.yaml", []byte(configHead+`dataplane: ipvs
services:
  - {vip: 192.168.56.10, port: 80, scheduler: wlc}
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (model.IPVSConfig{SyncInterface: "enp0s8"}); cfg.IPVS != want {
		t.Errorf("ipvs defaults: got %+v, want %+v", cfg.IPVS, want)
	}
	if cfg.Dataplane != "ipvs" || cfg.Services[0].Scheduler != "wlc" {
		t.Errorf("got dataplane %q, scheduler %q", cfg.Dataplane, cfg.Services[0].Scheduler)
	}
	cfg, err = Parse("ipvs.yaml", []byte(configHead+"ipvs: {sync_interface: enp0s9, sync_id: 7, conntrack: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (model.IPVSConfig{SyncInterface: "enp0s9", SyncID: 7, Conntrack: true}); cfg.IPVS != want {
		t.Errorf("ipvs: got %+v, want %+v", cfg.IPVS, want)
	}
}
