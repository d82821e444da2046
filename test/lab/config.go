package lab

// The director configuration of the lab's lb1 and lb2: the seed's service
// (VIP:80, wrr 3:1 over web1 and web2) and heartbeat pair (both floating
// addresses, bcast on the public link), shared by `director lab` and the
// end-to-end tests.

import (
	"fmt"
	"strings"
	"time"
)

// PairConfig parameterises one director of the pair.
type PairConfig struct {
	Node, Peer, Owner string // director node names
	Socket            string // control socket
	KeyFile           string // heartbeat key (mode 0600)
	Keepalive         time.Duration
	Deadtime          time.Duration
	AutoFailback      bool
	// ARPCount and ARPInterval, if set, replace the default gratuitous ARPs.
	ARPCount    int
	ARPInterval time.Duration
	// MetricsListen, if set, enables the metrics endpoint.
	MetricsListen string
	// NoSync disables the conntrack sync (on by default).
	NoSync bool
	// HealthInterval, if set, replaces the default TCP check's interval
	// (rise 1, fall 2), so that a test waits less for verdicts.
	HealthInterval time.Duration
	// HeartbeatIfs, if set, are the heartbeat's links (bcast on each);
	// by default the public interface alone.
	HeartbeatIfs []string
	// Resources, if set, is appended to ha.resources as is (indented
	// four spaces, ending with a newline).
	Resources string
	// HAExtra, if set, is appended to the ha section as is (indented
	// two spaces, ending with a newline).
	HAExtra string
	// Services, if set, is appended to the services list as is (items
	// indented two spaces, ending with a newline).
	Services string
	// Groups, if set, replaces ha.resources (and Owner and Resources) as
	// is: an ha.groups key, indented two spaces, ending with a newline.
	Groups string
	// Dataplane, if set, is the top-level dataplane key (auto by
	// default, which takes TC on veths).
	Dataplane string
}

// YAML renders the configuration file.
func (c PairConfig) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, `node: %s
interfaces:
  public: %s
  internal: %s
control_socket: %s
flow_table:
  size: 65536
services:
  - vip: %s
    port: 80
    scheduler: wrr
    real_servers:
      - {address: %s, port: 80, weight: 3}
      - {address: %s, port: 80, weight: 1}
%s%sha:
  nodes: [%s, %s]
  transport: %s
  keepalive: %s
  deadtime: %s
  auth: {method: sha256, key_file: %s}
  auto_failback: %v
`, c.Node, PubIf, IntIf, c.Socket, VIP, Web1Addr, Web2Addr, c.healthCheck(), c.Services, c.Node, c.Peer, c.transport(),
		c.Keepalive, c.Deadtime, c.KeyFile, c.AutoFailback)
	if c.ARPCount > 0 {
		fmt.Fprintf(&b, "  arp: {count: %d, interval: %s}\n", c.ARPCount, c.ARPInterval)
	}
	if c.Groups != "" {
		b.WriteString(c.Groups)
	} else {
		fmt.Fprintf(&b, `  resources:
    owner: %s
    addresses:
      - {address: %s/%d, interface: %s}
      - {address: %s/%d, interface: %s}
`, c.Owner, VIP, PrefixLen, PubIf, Gateway, PrefixLen, IntIf)
		b.WriteString(c.Resources)
	}
	if c.NoSync {
		b.WriteString("  sync: {enabled: false}\n")
	}
	b.WriteString(c.HAExtra)
	if c.MetricsListen != "" {
		fmt.Fprintf(&b, "metrics:\n  listen: %s\n", c.MetricsListen)
	}
	if c.Dataplane != "" {
		fmt.Fprintf(&b, "dataplane: %s\n", c.Dataplane)
	}
	return b.String()
}

// healthCheck is the service's health_check line, or "" for the default.
func (c PairConfig) healthCheck() string {
	if c.HealthInterval == 0 {
		return ""
	}
	return fmt.Sprintf("    health_check: {type: tcp, interval: %s, timeout: %s, rise: 1, fall: 2}\n",
		c.HealthInterval, min(c.HealthInterval, time.Second))
}

// transport is the ha.transport value: bcast on each heartbeat interface.
func (c PairConfig) transport() string {
	ifs := c.HeartbeatIfs
	if len(ifs) == 0 {
		ifs = []string{PubIf}
	}
	links := make([]string, len(ifs))
	for i, ifc := range ifs {
		links[i] = fmt.Sprintf("{mode: bcast, interface: %s, port: 694}", ifc)
	}
	return "[" + strings.Join(links, ", ") + "]"
}
