package config

// Tests of the configuration file: the documented pair example and a file with
// every key parse to the model.Config expected, and each rule of doc.go gives
// exactly the problems expected, file:line: reason, in line order (the ha
// section's in TestConfigHAProblems).

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/control/model"
)

// configHead is a valid first two lines; cases built on it start at line 3.
const configHead = "node: lb1\ninterfaces: {public: enp0s3, internal: enp0s8}\n"

// TestConfigPairExample parses the seed's whole lb1 as
// docs/configuration.md shows it (its first example with an ha section).
func TestConfigPairExample(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	var example string
	for _, ex := range docExamples(t, path) {
		if strings.Contains(ex.text, "\nha:\n") {
			example = ex.text
			break
		}
	}
	if example == "" {
		t.Fatalf("%s: no example with an ha section", path)
	}
	cfg, err := Parse(path, []byte(example))
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
		HA: &model.HAConfig{Nice: -10,
			Nodes:        []string{"lb1", "lb2"},
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
			Groups: []model.HAGroup{{Name: "default", Owner: "lb1", Line: 22, Addresses: []model.HAAddress{
				{Prefix: netip.MustParsePrefix("192.168.56.10/24"), Interface: "enp0s3"},
				{Prefix: netip.MustParsePrefix("192.168.200.250/24"), Interface: "enp0s8"},
			}}},
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
		HA: &model.HAConfig{Nice: -10,
			Nodes:        []string{"lb-1", "lb-2_a"},
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
			Groups: []model.HAGroup{{Name: "default", Owner: "lb-1", Line: 76, Addresses: []model.HAAddress{
				{Prefix: netip.MustParsePrefix("10.0.0.1/24"), Interface: "eth0"},
				{Prefix: netip.MustParsePrefix("10.0.0.2/32"), Interface: "eth0"},
				{Prefix: netip.MustParsePrefix("10.9.0.2/31"), Interface: "eth1"},
			}}},
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
		{"metrics on a host name", configHead + "metrics: {listen: \"localhost:9917\"}\n", func(c *model.Config) string {
			return configCheck(c.MetricsListen, "localhost:9917")
		}},
		{"metrics on a fully qualified host name", configHead + "metrics: {listen: \"lb1.example-lab.net.:9917\"}\n", func(c *model.Config) string {
			return configCheck(c.MetricsListen, "lb1.example-lab.net.:9917")
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
				"tcp 192.168.56.10:80 [{192.168.200.11 80 1 0 0}]; tcp 192.168.56.10:8080 [{192.168.200.11 8080 1 0 0}]; tcp 192.168.56.11:80 [{192.168.200.11 80 1 0 0}]")
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
			want := &model.HAConfig{Nice: -10,
				Nodes: []string{"lb2", "lb1"}, AutoFailback: true,
				Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond,
				Warntime: 250 * time.Millisecond, Initdead: time.Second,
				Links: []model.HALink{
					{Mode: "bcast", Interface: "enp0s3", Port: 694},
					{Mode: "ucast", Interface: "enp0s8", Port: 694, Peer: netip.MustParseAddr("192.168.200.252")},
				},
				AuthMethod: "sha256", KeyFile: "/etc/director/authkey", ARPCount: 5, ARPInterval: 200 * time.Millisecond,
				Groups: []model.HAGroup{{Name: "default", Owner: "lb2", Line: 11,
					Addresses: []model.HAAddress{{Prefix: netip.MustParsePrefix("192.168.56.10/24"), Interface: "enp0s3"}}}},
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
				h.ARPCount, h.ARPInterval, h.Groups[0].Owner, h.Groups[0].Addresses),
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
			return configCheck(fmt.Sprint(c.HA.Links, c.HA.Groups[0].Addresses),
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
