package control

// Configuration file: the YAML file `director run --config` reads at start
// and on every reload, and `director validate` checks. LoadConfig and
// ParseConfig turn it into a Config with every default applied, or into a
// ConfigError listing every problem of the file at once, each as
// "file:line: reason", in line order, so that one run of `director
// validate` shows everything to fix.
//
// The file is decoded into yaml.v3's node tree and walked here, rather than
// decoded into structs, so that each problem carries the line of the
// offending key or value and no problem hides another. Aliases are
// followed and merge keys ("<<") are honoured (keys written in the mapping
// win over merged ones). Only the first YAML document is the
// configuration.
//
// Rules and their reasons (exact wording; <v> is the value as written,
// Go-quoted where shown as %q, N a line number):
//
//   - syntax: one problem at the parser's line, "yaml: <the parser's
//     message>" (yaml.v3 reports parser errors one line early; that is
//     corrected here), with " (a tab: indent YAML with spaces)" added when
//     a tab indents that line. No other problem is reported with it.
//   - a second document: `more than one YAML document ("---"): the
//     configuration is the first one only`, at the second's line.
//   - the top level is not a mapping: `want a mapping at top level, got <d>`
//     where <d> is "a mapping", "a list", "nothing" (null) or the quoted
//     scalar.
//   - unknown keys: `unknown key %q <where>`, where is "at top level",
//     "in interfaces", "in flow_table", "in timeouts", "in metrics", "in
//     service", "in real server", "in health_check" (a service's or a real
//     server's), "in sorry_server", "in ha", "in ha.transport" (a link), "in
//     ha.auth", "in ha.arp", "in ha.resources" or "in
//     ha.resources.addresses" (an address); a key that is not a scalar: `want a key
//     name <where>, got <d>`; a merge key whose value is not mappings:
//     `<<: want a mapping or a list of mappings, got <d>`.
//   - duplicate keys in one mapping: `duplicate key %q (first at line N)`;
//     the first one counts.
//   - missing required keys, at the line of the mapping that lacks them
//     (line 1 for the top level, the section's key, the list item):
//     `missing key "node"`, `missing key "interfaces"`, `interfaces:
//     missing key "public"` (and "internal"), `service: missing key "vip"`
//     (and "port"), `real server: missing key "address"`, `ha: missing key
//     "nodes"` (and "transport", "auth", "resources"), `ha.transport:
//     missing key "mode"` (and "interface"; at the transport key for one
//     link, at the list item for a list of links), `ha.transport: missing
//     key "group" (mode mcast)`, `ha.transport: missing key "peer" (mode
//     ucast)`, `ha.auth: missing key "key_file"`, `ha.resources: missing
//     key "owner"` (and "addresses"), `ha.resources.addresses: missing key
//     "address"` (and "interface", at the list item).
//   - wrong types and values, at the value's line: `<key>: want <what>, got
//     <d>`, <key> being the key as written for service and real server keys
//     ("vip", "port", "weight", ...) and section.key for the sections'
//     ("interfaces.public", "flow_table.size", "timeouts.tcp",
//     "metrics.listen") and the full path for the ha section's, a list's
//     items and its items' keys included ("ha.nodes", "ha.transport.port",
//     "ha.resources.addresses.address"), and <what>:
//     node, ha.nodes (each item), ha.resources.owner: `1-64 letters,
//     digits, '-' or '_', not starting with '_'`; interfaces.*,
//     ha.transport.interface, ha.resources.addresses.interface: `an
//     interface name (1-15 bytes, no '/', ':' or whitespace, not "." or
//     "..")`; dataplane: `auto, xdp, xdp-generic, tc or ipvs`; tc_attach:
//     `auto, tcx or clsact`;
//     control_socket: `an absolute path` and `a path of at most 107 bytes
//     (a unix socket's limit)`; flow_table.size: `an integer
//     1024-67108864`; timeouts.*: `a duration ("900s", "15m", "1h") or a
//     number of seconds`; protocol: `tcp or udp`; scheduler: `rr or wrr`
//     (with dataplane ipvs: `rr, wrr, lc, wlc, sh, dh, sed, nq, lblc,
//     lblcr, mh, fo, ovf or twos`); ipvs.sync_interface: an interface
//     name; ipvs.sync_id: `an integer 0-255`; ipvs.conntrack: `true or
//     false`;
//     vip, address: `an IPv4 address`; port: `an integer 1-65535`; weight:
//     `an integer 0-65535`; metrics.listen: `IP:port or :port (port
//     1-65535)`; ha.transport: `a mapping or a list of mappings`;
//     ha.transport.mode: `bcast, mcast or ucast`; ha.transport.port: `an
//     integer 1-65535`; ha.transport.group: `an IPv4 multicast address`;
//     ha.transport.ttl: `an integer 1-255`; ha.transport.peer: `an IPv4
//     address`; ha.keepalive, ha.deadtime, ha.warntime, ha.initdead,
//     ha.arp.interval: `a duration ("100ms", "1s", "2m") or a number of
//     seconds`; ha.auth.method: `sha256, sha1 or md5`; ha.auth.key_file:
//     `an absolute path`; ha.auto_failback: `true or false`; ha.arp.count:
//     `an integer 1-100`; ha.resources.addresses.address: `an IPv4 address
//     with a prefix length ("192.168.56.10/24")`; interfaces, flow_table,
//     timeouts, metrics, a service, a real server, ha, ha.auth, ha.arp,
//     ha.resources, a link, an address: `a mapping` (as "service: ...",
//     "real server: ...", "ha.transport: ..." and "ha.resources.addresses:
//     ..." for list items); services, real_servers, ha.nodes,
//     ha.resources.addresses: `a list`. A null value of a section or a list
//     is an empty one (ha.transport: an empty link); of a scalar key it is
//     "nothing".
//   - integers out of range: `<key>: <v> is outside <lo>..<hi>` (port,
//     weight, flow_table.size); timeouts: `timeouts.tcp: <v> is outside
//     1s..576h` (an integer v is shown as "<v>s") and `timeouts.tcp: <v> is
//     not a whole number of seconds`. 576h stays below INT_MAX/HZ seconds
//     for HZ up to 1024, the most `ipvsadm --set` accepts. ha.transport.ttl
//     1..255, ha.arp.count 1..100; the ha timers: `ha.keepalive: <v> is
//     outside 10ms..1h` (sub-second values allowed), `ha.arp.interval: <v>
//     is outside 10ms..10s`; `ha.resources.addresses.address: prefix
//     length <n> is outside 1..32`.
//   - IPVS schedulers (lc, wlc, sh, dh, sed, nq, lblc, lblcr, mh, fo, ovf,
//     twos) on another data plane than ipvs: `scheduler %q needs
//     dataplane: ipvs (the BPF data planes implement rr and wrr)`; sctp:
//     `protocol "sctp" is not implemented (tcp, udp)`; an ipvs section
//     with dataplane xdp, xdp-generic or tc: `ipvs: only for dataplane ipvs or
//     auto, got dataplane <d>`, at the key.
//   - addresses (vip, address): `<key>: invalid IPv4 address %q`, `<key>:
//     IPv6 address %q is not supported yet`, `<key>: unspecified address
//     %q is not allowed` (0.0.0.0), and likewise "loopback address",
//     "multicast address", "broadcast address" (255.255.255.255); the same
//     for ha.transport.peer and ha.resources.addresses.address (whose %q
//     shows the prefix length too).
//   - duplicate services (vip, port, protocol), at the second's list item:
//     `duplicate service tcp 192.168.56.10:80 (first at line N)`; duplicate
//     real servers (address, port) in a service: `duplicate real server
//     192.168.200.11:80 in service tcp 192.168.56.10:80 (first at line
//     N)`. Entries with an invalid part are not compared.
//   - `more than 65536 real servers in all`, at the first one too many
//     (aliases could otherwise make a small file huge).
//   - ha.nodes: `ha.nodes: want 2 node names, got <n>` at the key;
//     `duplicate ha node "lb1" (first at line N)` at the second; `ha.nodes:
//     this node "lb3" is not in [lb1 lb2]` at the key when node is not one
//     of them. `ha.resources.owner: "lb3" is not in ha.nodes [lb1 lb2]`.
//   - ha.transport: `ha.transport: want at least one link` (an empty
//     list); a key of another mode: `ha.transport.<key>: only for mode
//     <mode>` (group, ttl: mcast; peer: ucast), at the key; two links of
//     the same mode, interface, port and group or peer (ttl aside):
//     `duplicate ha link <link> (first at line N)` at the second's list
//     item, <link> as "bcast enp0s3 port 694", "mcast enp0s3 239.0.0.1
//     port 694" or "ucast enp0s8 192.168.200.252 port 694". With an
//     invalid mode, the other keys' values are checked but not the mode's
//     rules.
//   - ha timers: keepalive < deadtime, warntime < deadtime, initdead >=
//     deadtime, reported at the later key's line (at the ha key's if one is
//     a default), the later key (or the one written) being the subject:
//     `ha.deadtime: 1s must be longer than ha.keepalive (2s)`,
//     `ha.keepalive: 2s must be shorter than ha.deadtime (1s)`, likewise for
//     warntime, `ha.initdead: 3s must be at least ha.deadtime (5s)`,
//     `ha.deadtime: 20s must be at most ha.initdead (10s)`; a default is
//     shown as "(5s, the default)". Values are shown as written ("<v>s" for
//     a number of seconds).
//   - ha.resources.addresses: `ha.resources.addresses: want at least one
//     address` (an empty list), at the key; an address that is not a host
//     of its prefix (/1-/30): `ha.resources.addresses.address:
//     "192.168.56.0/24" is the network address of its prefix, not a host
//     address` (and "the broadcast address"); the same address twice, with
//     any prefix length or interface: `duplicate ha address 192.168.56.10
//     (first at line N)` at the second's list item. Entries with an invalid
//     part are not compared.
//   - health_check (of a service, or of a real server, whose keys replace
//     the service's key by key), its keys named "health_check.<key>" in
//     reasons: `health_check: want a mapping, got <d>`; type: `want tcp,
//     http, https, command or none`; interval: `a duration ("100ms", "1s",
//     "2m") or a number of seconds` and `health_check.interval: <v> is
//     outside 50ms..1h`; timeout likewise, 10ms..1h; rise, fall: `an
//     integer 1-100`; port: `an integer 1-65535`; path: `a path starting
//     with "/" ("/health")` (no whitespace, a valid request URI);
//     expect_status: `an integer 100-599`; expect_body: `a string`; host:
//     `a host name or address, with an optional port ("www.example.com")`;
//     on_failure: `quiesce or remove`; command: `a list of strings (the
//     program's absolute path, then its arguments)`, `health_check.command:
//     want at least the program's path` (an empty list),
//     `health_check.command: want a string, got <d>` (an item, at its
//     line), `health_check.command: want an absolute path first, got %q`.
//     A key written for a type it does not belong to, at the key:
//     `health_check.<key>: only for type http or https` (path,
//     expect_status, expect_body, host), `only for type command`
//     (command), `only for type tcp, http, https or command` (interval,
//     timeout, rise, fall, port, on_failure: not for type none). At the
//     health_check key: `health_check: missing key "command" (type
//     command)` where type command is written without a command in the
//     check; `health_check: missing key "type" (a udp service has no
//     default check)` for keys written without a type where the check is a
//     udp service's default (none). The timeout must be at most the
//     interval, as the ha timers' order (at the later key's line, or at
//     the one written): `health_check.timeout: 3s must be at most
//     health_check.interval (2s)`, `health_check.interval: 500ms must be at
//     least health_check.timeout (1s)`, the other value shown as "(2s, the
//     default)" or, in a real server's check, "(1s, the service's)". With
//     an invalid type, the keys' values are checked but not the type's
//     rules.
//   - sorry_server: `sorry_server: want a mapping, got <d>`,
//     `sorry_server: missing key "address"` (at the key), address and port
//     as a real server's ("sorry_server.address", "sorry_server.port");
//     `sorry_server: 192.168.200.11:80 is also a real server of the service
//     (line N)`, at the key.
//
// Integers are read as YAML reads them (0x50, 1_000 are integers; "80"
// quoted is a string, refused as a port). A timeout is a Go duration or an
// integer (or a string of decimal digits) of seconds. An ha timer, and a
// health check's interval and timeout, are a Go duration or a number of
// seconds that may have decimals ("0.5"). A health check's command list
// shared by many real servers through an alias is checked once. Booleans
// are YAML's true and false only. ha.auth.key_file is not read here (the
// daemon checks the file and its mode at start).
//
// Defaults: dataplane auto, ipvs.sync_interface the internal interface,
// ipvs.sync_id 0, ipvs.conntrack false, control_socket /run/director/<node>.sock,
// flow_table.size 262144, timeouts DefaultTimeouts, protocol tcp, scheduler
// wrr, real server port the service's, weight 1; no metrics section (or no
// listen) means no metrics endpoint; services and real_servers may be
// absent or empty (a service without real servers drops new connections,
// as IPVS does). No ha section means no HA (Config.HA nil); in it,
// transport port 694, mcast ttl 1, keepalive 1s, deadtime 5s, warntime
// deadtime/2, initdead 2×deadtime, auth.method sha256, auto_failback true,
// arp count 5 and interval 200ms.
//
// Health checks (Config.Health, see health.go for how they run): a tcp
// service without health_check gets {type: tcp, interval: 2s, timeout:
// 1s, rise: 2, fall: 3, on_failure: quiesce} (HAProxy's defaults); a udp
// service none (a TCP connect says nothing of a UDP service): it is
// checked only when a health_check writes its type. An unwritten timeout is 1s or the interval if shorter;
// http and https default to path "/" and expect_status 200, with no
// expect_body and no host (the Host header is then address:port). A real
// server's health_check replaces its service's keys one by one; a real
// server that changes the type drops the service's keys the new type
// does not have (a command when going from command to http, say). No
// sorry_server means none; its port defaults to the service's, and it is
// not checked.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Config is a validated configuration file.
type Config struct {
	// Path is the file it was read from.
	Path string
	// Node names this director instance (and its pinned state directory).
	Node string
	// Public and Internal are the interfaces facing clients and real
	// servers; they are the same interface on a one-armed director.
	Public, Internal string
	// Dataplane is "auto", "xdp", "xdp-generic", "tc" or "ipvs".
	Dataplane string
	// TCAttach is how the TC data plane attaches when it is used:
	// "auto" (TCX where the kernel has it, else clsact), "tcx" or
	// "clsact".
	TCAttach string
	// IPVS configures the kernel IPVS data plane (dataplane ipvs, or
	// auto when BPF cannot load); every default applied.
	IPVS IPVSConfig
	// ControlSocket is the absolute path of the control API's unix socket.
	ControlSocket string
	// FlowTableSize is the number of flow-table entries (two per
	// connection).
	FlowTableSize int
	// Timeouts are the idle timeouts of tracked connections.
	Timeouts Timeouts
	// Services in file order, each with its Reals in file order.
	Services []Service
	// Health is the health checking of each service, Health[i] that of
	// Services[i] (len(Health) == len(Services)).
	Health []ServiceHealth
	// MetricsListen is the metrics endpoint's host:port; "" = none.
	MetricsListen string
	// HA configures the active/standby pair; nil when there is no ha
	// section.
	HA *HAConfig
}

// IPVSConfig is the ipvs section: what the kernel IPVS data plane needs
// beyond the services.
type IPVSConfig struct {
	// SyncInterface is the interface of the connection sync daemon
	// (ipvsadm --mcast-interface); the internal interface by default.
	SyncInterface string
	// SyncID is the sync daemon's id (ipvsadm --syncid), 0-255, 0 by
	// default; both directors of a pair must use the same.
	SyncID uint8
	// Conntrack sets net.ipv4.vs.conntrack=1, which keeps netfilter
	// connection tracking for IPVS connections (needed when netfilter
	// rules on the director match them); false by default.
	Conntrack bool
}

// HealthCheck is how a real server is checked (health_check): every
// default applied, the keys of other types zero. Type "none" means no
// check, every other field zero.
type HealthCheck struct {
	// Type is "tcp" (a connect), "http", "https" (a GET), "command" (a
	// program's exit status) or "none".
	Type string
	// Interval is the time from one check to the next; Timeout how long
	// one check may take (at most Interval).
	Interval, Timeout time.Duration
	// Rise consecutive successes bring a down server up, Fall consecutive
	// failures take an up one down (1-100 each).
	Rise, Fall int
	// Port is the port checked; 0 = the real server's.
	Port uint16
	// Path is the http(s) request's path ("/" by default).
	Path string
	// ExpectStatus is the http(s) status a success needs (200 by
	// default).
	ExpectStatus int
	// ExpectBody, if not "", must be in the first 64 KiB of the http(s)
	// response body.
	ExpectBody string
	// Host is the http(s) Host header (and TLS server name); "" = the
	// address and port checked.
	Host string
	// Command is a command check's argv, run without a shell, the first
	// an absolute path; "{address}" and "{port}" in any item are replaced
	// by the address and port checked.
	Command []string
	// OnFailure is "quiesce" (a down server gets weight 0: no new
	// connections, existing ones continue) or "remove" (a down server is
	// left out as if removed from the configuration: its flows are
	// dropped).
	OnFailure string
}

// Equal says whether c and o are the same check.
func (c HealthCheck) Equal(o HealthCheck) bool {
	return c.Type == o.Type && c.Interval == o.Interval && c.Timeout == o.Timeout && c.Rise == o.Rise &&
		c.Fall == o.Fall && c.Port == o.Port && c.Path == o.Path && c.ExpectStatus == o.ExpectStatus &&
		c.ExpectBody == o.ExpectBody && c.Host == o.Host && slices.Equal(c.Command, o.Command) &&
		c.OnFailure == o.OnFailure
}

// ServiceHealth is the health checking of one service.
type ServiceHealth struct {
	// Default is the service's check (Type "none" = no check), which its
	// real servers' checks start from.
	Default HealthCheck
	// PerReal is the effective check of each real server of the service:
	// Default with the real server's own health_check keys in place of
	// the service's.
	PerReal map[RealKey]HealthCheck
	// Sorry is the sorry server, which gets new connections only while no
	// real server can (see EffectiveServices); nil = none. Its Weight is
	// 1.
	Sorry *RealServer
}

// HAConfig is the ha section: two directors forming an active/standby
// pair, the active one holding a group of floating addresses (Heartbeat's
// ha.cf, haresources and authkeys). Every default is applied.
type HAConfig struct {
	// Nodes are the pair's two node names in file order; one of them is
	// Config.Node.
	Nodes []string
	// Owner is the node, one of Nodes, that holds Addresses when both
	// nodes are up.
	Owner string
	// AutoFailback moves Addresses back to Owner when it comes back after
	// a failover.
	AutoFailback bool
	// Keepalive is the interval between heartbeats; Deadtime the silence
	// after which the peer is declared dead; Warntime the silence after
	// which a late heartbeat is logged; Initdead the deadtime that
	// applies from start until the peer is first heard. Keepalive and
	// Warntime are shorter than Deadtime; Initdead is at least Deadtime.
	Keepalive, Deadtime, Warntime, Initdead time.Duration
	// Links carry the heartbeats, in file order (at least one); the peer
	// is alive as long as it is heard on any link.
	Links []HALink
	// AuthMethod is the heartbeats' HMAC: "sha256", "sha1" or "md5" (the
	// daemon warns about the last two).
	AuthMethod string
	// KeyFile is the absolute path of the shared key; the daemon reads it
	// and checks its mode at start, the configuration loader does not.
	KeyFile string
	// ARPCount gratuitous ARPs are sent ARPInterval apart for each of
	// Addresses at takeover.
	ARPCount int
	// ARPInterval is the time between two gratuitous ARPs.
	ARPInterval time.Duration
	// Addresses are the floating addresses in file order (at least one,
	// each address once).
	Addresses []HAAddress
	// Sync is the conntrack sync of the pair; nil when disabled
	// (ha.sync.enabled: false).
	Sync *HASync
	// Line is the line of the ha key, for later messages about the
	// section.
	Line int
}

// HASync is the conntrack sync of an HAConfig (the IPVS sync daemon's
// job in the seed): the active node streams its connections to the
// standby.
type HASync struct {
	// Links carry the sync messages: by default the heartbeat's links,
	// each on its port + 1 (695 for Heartbeat's 694).
	Links []HALink
	// FailbackWait bounds how long the owner, back after a failover,
	// waits for the peer's full table before it lets auto_failback hand
	// it the group.
	FailbackWait time.Duration
}

// HALink is one heartbeat link of an HAConfig.
type HALink struct {
	// Mode is "bcast", "mcast" or "ucast"; Interface the interface the
	// heartbeats are sent and heard on.
	Mode, Interface string
	// Port is the UDP port, 694 by default.
	Port int
	// Group is the IPv4 multicast group of an mcast link; Peer the peer's
	// IPv4 address on a ucast link. Each is the zero Addr otherwise.
	Group, Peer netip.Addr
	// TTL is an mcast link's multicast TTL (1 by default); 0 for the other
	// modes.
	TTL int
}

// HAAddress is one floating address of an HAConfig.
type HAAddress struct {
	// Prefix is the address with its prefix length, as written
	// (192.168.56.10/24): a host address of its prefix.
	Prefix netip.Prefix
	// Interface is the interface the address is added to.
	Interface string
}

// Peer returns the other node of the pair, or "" if node is not one of
// Nodes.
func (h *HAConfig) Peer(node string) string {
	switch {
	case len(h.Nodes) != 2:
		return ""
	case node == h.Nodes[0]:
		return h.Nodes[1]
	case node == h.Nodes[1]:
		return h.Nodes[0]
	}
	return ""
}

// DefaultTimeouts are IPVS's: tcp 900s, tcp_fin 120s, udp 300s, tcp_syn
// 60s.
var DefaultTimeouts = Timeouts{
	SYN:         60 * time.Second,
	Established: 900 * time.Second,
	FIN:         120 * time.Second,
	UDP:         300 * time.Second,
}

// Problem is one error in a configuration file.
type Problem struct {
	// File names the file as given to LoadConfig or ParseConfig.
	File string
	// Line is 1-based: the offending key's or value's, or that of the
	// mapping a required key is missing from.
	Line int
	// Reason says what is wrong, lowercase (see the list at the top of
	// this file).
	Reason string
}

// String formats the problem as "file:line: reason".
func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason) }

// ConfigError lists every problem of a file, in line order.
type ConfigError struct {
	// Problems are never empty when ParseConfig returns the error.
	Problems []Problem
}

// Error gives the problems, one "file:line: reason" per line.
func (e *ConfigError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid configuration"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadConfig reads and parses the configuration file at path. An unreadable
// file is a plain error naming the path; invalid content is a *ConfigError.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig parses and validates data, the content of file (which only
// names it in problems and Config.Path). Any invalid content gives a
// *ConfigError listing every problem.
func ParseConfig(file string, data []byte) (*Config, error) {
	p := &configParser{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	var extra []*yaml.Node
	for err == nil {
		var next yaml.Node
		if err = dec.Decode(&next); err == nil && !configEmptyDocument(&next) {
			extra = append(extra, &next)
		}
	}
	if !errors.Is(err, io.EOF) {
		line, reason := configSyntaxError(data, err)
		return nil, &ConfigError{Problems: []Problem{{File: file, Line: line, Reason: reason}}}
	}
	for _, d := range extra {
		p.add(d.Line, `more than one YAML document ("---"): the configuration is the first one only`)
	}
	var root *yaml.Node
	if len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	cfg := p.config(root)
	cfg.Path = file
	if len(p.problems) > 0 {
		return nil, &ConfigError{Problems: p.sorted()}
	}
	return cfg, nil
}

// Limits and defaults of the file.
const (
	configDefaultDataplane = "auto"
	configDefaultTCAttach  = "auto"
	configDefaultFlowTable = 262144
	configMinFlowTable     = 1024
	configMaxFlowTable     = 64 << 20
	// configMaxTimeout stays below INT_MAX/HZ seconds for any HZ up to
	// 1024: the most `ipvsadm --set` accepts.
	configMaxTimeout = 576 * time.Hour
	// configMaxSocketPath is sun_path's size less its terminating NUL.
	configMaxSocketPath = 107
	// configMaxReals bounds the real servers of all services, far above
	// what the data plane holds, so that aliases cannot blow a small
	// file up.
	configMaxReals = 1 << 16

	// The ha section's.
	configDefaultHAPort       = 694
	configDefaultFailbackWait = 30 * time.Second
	configMaxFailbackWait     = time.Hour
	configDefaultHATTL        = 1
	configDefaultKeepalive    = time.Second
	configDefaultDeadtime     = 5 * time.Second
	configMinHATimer          = 10 * time.Millisecond
	configMaxHATimer          = time.Hour
	configDefaultAuthMethod   = "sha256"
	configDefaultARPCount     = 5
	configMaxARPCount         = 100
	configDefaultARPInterval  = 200 * time.Millisecond
	configMinARPInterval      = 10 * time.Millisecond
	configMaxARPInterval      = 10 * time.Second

	// Health checks' (HAProxy's defaults).
	configDefaultHealthInterval = 2 * time.Second
	configDefaultHealthTimeout  = time.Second
	configMinHealthInterval     = 50 * time.Millisecond
	configMaxHealthInterval     = time.Hour
	configMinHealthTimeout      = 10 * time.Millisecond
	configMaxHealthTimeout      = time.Hour
	configDefaultHealthRise     = 2
	configDefaultHealthFall     = 3
	configMaxHealthCount        = 100
	configDefaultHealthPath     = "/"
	configDefaultExpectStatus   = 200
	configDefaultOnFailure      = "quiesce"
)

// What some values must be, in reasons "<key>: want <what>, got <v>".
const (
	configWantNode   = "1-64 letters, digits, '-' or '_', not starting with '_'"
	configWantIfname = `an interface name (1-15 bytes, no '/', ':' or whitespace, not "." or "..")`
	configWantHATime = `a duration ("100ms", "1s", "2m") or a number of seconds`
	configWantPrefix = `an IPv4 address with a prefix length ("192.168.56.10/24")`

	configWantHealthType = "tcp, http, https, command or none"
	configWantPath       = `a path starting with "/" ("/health")`
	configWantHost       = `a host name or address, with an optional port ("www.example.com")`
	configWantCommand    = "a list of strings (the program's absolute path, then its arguments)"

	configWantIPVSSched = "rr, wrr, lc, wlc, sh, dh, sed, nq, lblc, lblcr, mh, fo, ovf or twos"
)

// Values named by IPVS or by the design that this version does not
// implement, refused with their own reason.
var (
	configLaterDataplanes []string
	// configIPVSSchedulers are IPVS's schedulers that only the ipvs data
	// plane has.
	configIPVSSchedulers = []string{"lc", "wlc", "sh", "dh", "sed", "nq", "lblc", "lblcr", "mh", "fo", "ovf", "twos"}
	configIPVSProtocols  = []string{"sctp"}
)

// Values of the ha section.
var (
	configHAModes       = []string{"bcast", "mcast", "ucast"}
	configHAAuthMethods = []string{"sha256", "sha1", "md5"}
)

// Values and keys of health_check, its keys in the order their problems
// are reported within a line.
var (
	configHealthTypes    = []string{"tcp", "http", "https", "command", "none"}
	configHealthActions  = []string{"quiesce", "remove"}
	configHealthKeyNames = []string{"type", "interval", "timeout", "rise", "fall", "port", "path", "expect_status",
		"expect_body", "host", "command", "on_failure"}
)

var (
	configNodeName = regexp.MustCompile(`^[A-Za-z0-9-][A-Za-z0-9_-]{0,63}$`)
	// configYAMLLine is yaml.v3's "line N: " prefix.
	configYAMLLine = regexp.MustCompile(`^line (\d+): `)
	// configBigInt matches an integer that yaml resolves as a float
	// because it does not fit in 64 bits.
	configBigInt = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)
	// configSeconds matches a number of seconds where a duration is
	// expected.
	configSeconds = regexp.MustCompile(`^[-+]?[0-9]+(\.[0-9]+)?$`)
	// configHostHeader matches a Host header: a name or an IPv4 address,
	// or an IPv6 address in brackets, with an optional port.
	configHostHeader = regexp.MustCompile(`^([A-Za-z0-9_~-]+(\.[A-Za-z0-9_~-]+)*\.?|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$`)
)

// configParserProblems are the messages of yaml.v3's parser (parserc.go),
// as opposed to its scanner's: yaml.v3 prints the parser's zero-based
// line number as is, one less than the line meant.
var configParserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"found undefined tag handle",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

// configReaderProblems are the messages of yaml.v3's reader (readerc.go)
// about UTF-8 input, which say nothing of where.
var configReaderProblems = []string{
	"invalid leading UTF-8 octet",
	"incomplete UTF-8 octet sequence",
	"invalid trailing UTF-8 octet",
	"invalid length of a UTF-8 sequence",
	"invalid Unicode character",
	"control characters are not allowed",
}

// configSyntaxError turns a yaml.v3 parse error into a line and a reason
// "yaml: message" without yaml's own "line N: ".
func configSyntaxError(data []byte, err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := configYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
		if slices.Contains(configParserProblems, msg) {
			line++
		}
	} else if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		// The parser does not say where; find the alias.
		name, _, _ = strings.Cut(name, "'")
		if i := configFindAlias(data, name); i >= 0 {
			line = configLineAt(data, i)
		}
	} else if slices.Contains(configReaderProblems, msg) {
		// Errors of the reader carry no line; find the character.
		if i := configBadChar(data); i >= 0 {
			line = configLineAt(data, i)
		}
	}
	line = max(line, 1)
	if msg == "found character that cannot start any token" && configTabIndented(data, line) {
		msg += " (a tab: indent YAML with spaces)"
	}
	return line, "yaml: " + msg
}

// configFindAlias returns the offset of the first alias "*name", or -1.
func configFindAlias(data []byte, name string) int {
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte("*"+name))
		if i < 0 {
			return -1
		}
		end := off + i + 1 + len(name)
		if end == len(data) || strings.ContainsRune(" \t\r\n,]}", rune(data[end])) {
			return off + i
		}
		off = end
	}
}

// configBadChar returns the offset of the first byte that is not valid
// UTF-8 or is a character YAML does not allow, or -1.
func configBadChar(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		ok := r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0x7e) || r == 0x85 ||
			(r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd && !(i > 0 && r == 0xfeff)) ||
			(r >= 0x10000 && r <= 0x10ffff)
		if r == utf8.RuneError && size <= 1 || !ok {
			return i
		}
		i += size
	}
	return -1
}

// configLineAt returns the 1-based line of offset i.
func configLineAt(data []byte, i int) int { return bytes.Count(data[:i], []byte("\n")) + 1 }

// configTabIndented says whether line (1-based) starts with a tab after any
// spaces.
func configTabIndented(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line > len(lines) {
		return false
	}
	return bytes.HasPrefix(bytes.TrimLeft(lines[line-1], " "), []byte("\t"))
}

// configEmptyDocument says whether doc is an empty document such as the
// one a trailing "---" opens.
func configEmptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == ""
}

// configParser collects the problems of one file.
type configParser struct {
	file     string
	problems []Problem
	// reals counts real servers, which aliases can multiply.
	reals int
	// commands are the health check commands checked, by node: a list
	// that real servers share through an alias is checked once (nil:
	// invalid).
	commands map[*yaml.Node][]string
	// dataplane is the file's data plane as far as it is valid ("auto"
	// if not written or invalid), which decides the schedulers allowed.
	dataplane string
}

func (p *configParser) add(line int, format string, args ...any) {
	p.problems = append(p.problems, Problem{File: p.file, Line: line, Reason: fmt.Sprintf(format, args...)})
}

// sorted returns the problems in line order, each once (a node reached
// through several aliases is checked once per alias).
func (p *configParser) sorted() []Problem {
	out := slices.Clone(p.problems)
	slices.SortStableFunc(out, func(a, b Problem) int { return a.Line - b.Line })
	seen := map[Problem]bool{}
	return slices.DeleteFunc(out, func(pr Problem) bool {
		dup := seen[pr]
		seen[pr] = true
		return dup
	})
}

// configResolve follows aliases.
func configResolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func configIsNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// configDescribe says what n is, for "got ..." in reasons.
func configDescribe(n *yaml.Node) string {
	n = configResolve(n)
	switch {
	case configIsNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// configField is one key of a mapping and its value.
type configField struct {
	key, value *yaml.Node
}

// fields returns the keys of mapping m by name, reporting unknown and
// duplicate keys (where names the mapping: "in service") and following
// merge keys.
func (p *configParser) fields(m *yaml.Node, where string, known ...string) map[string]configField {
	got := map[string]configField{}
	p.collect(m, where, known, got, map[*yaml.Node]bool{})
	return got
}

// collect adds the fields of m not already in got: its own keys, then
// those it merges, earlier merges first.
func (p *configParser) collect(m *yaml.Node, where string, known []string, got map[string]configField, seen map[*yaml.Node]bool) {
	if seen[m] {
		return
	}
	seen[m] = true
	own := map[string]configField{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := configResolve(m.Content[i]), m.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			p.add(k.Line, "want a key name %s, got %s", where, configDescribe(k))
			continue
		case k.ShortTag() == "!!merge":
			merges = append(merges, v)
			continue
		}
		if first, dup := own[k.Value]; dup {
			p.add(k.Line, "duplicate key %q (first at line %d)", k.Value, first.key.Line)
			continue
		}
		own[k.Value] = configField{k, v}
		if !slices.Contains(known, k.Value) {
			p.add(k.Line, "unknown key %q %s", k.Value, where)
			continue
		}
		if _, ok := got[k.Value]; !ok {
			got[k.Value] = configField{k, v}
		}
	}
	for _, v := range merges {
		v = configResolve(v)
		switch v.Kind {
		case yaml.MappingNode:
			p.collect(v, where, known, got, seen)
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item = configResolve(item); item.Kind == yaml.MappingNode {
					p.collect(item, where, known, got, seen)
				} else {
					p.add(item.Line, "<<: want a mapping or a list of mappings, got %s", configDescribe(item))
				}
			}
		default:
			p.add(v.Line, "<<: want a mapping or a list of mappings, got %s", configDescribe(v))
		}
	}
}

// mapping returns v as a mapping (null is an empty one at line), or
// reports "name: want a mapping".
func (p *configParser) mapping(v *yaml.Node, name string, line int) (*yaml.Node, bool) {
	v = configResolve(v)
	if configIsNull(v) {
		return &yaml.Node{Kind: yaml.MappingNode, Line: line}, true
	}
	if v.Kind != yaml.MappingNode {
		p.add(v.Line, "%s: want a mapping, got %s", name, configDescribe(v))
		return nil, false
	}
	return v, true
}

// list returns the items of v as a list (null is an empty one), or
// reports "name: want a list".
func (p *configParser) list(v *yaml.Node, name string) ([]*yaml.Node, bool) {
	v = configResolve(v)
	if configIsNull(v) {
		return nil, true
	}
	if v.Kind != yaml.SequenceNode {
		p.add(v.Line, "%s: want a list, got %s", name, configDescribe(v))
		return nil, false
	}
	return v.Content, true
}

// scalar returns the text of v, or reports "name: want <want>" if v is not
// a scalar or is null.
func (p *configParser) scalar(v *yaml.Node, name, want string) (string, int, bool) {
	v = configResolve(v)
	if v.Kind != yaml.ScalarNode || configIsNull(v) {
		p.add(v.Line, "%s: want %s, got %s", name, want, configDescribe(v))
		return "", v.Line, false
	}
	return v.Value, v.Line, true
}

// integer returns v as an integer within lo..hi.
func (p *configParser) integer(v *yaml.Node, name string, lo, hi int64) (int64, bool) {
	v = configResolve(v)
	var n int64
	switch {
	case v.Kind == yaml.ScalarNode && v.ShortTag() == "!!float" && configBigInt.MatchString(v.Value),
		v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int" && v.Decode(&n) != nil:
		// Too large for 64 bits.
		p.add(v.Line, "%s: %s is outside %d..%d", name, v.Value, lo, hi)
		return 0, false
	case v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int":
		p.add(v.Line, "%s: want an integer %d-%d, got %s", name, lo, hi, configDescribe(v))
		return 0, false
	case n < lo || n > hi:
		p.add(v.Line, "%s: %s is outside %d..%d", name, v.Value, lo, hi)
		return 0, false
	}
	return n, true
}

// timeout returns v as a timeout: a Go duration or a number of seconds.
func (p *configParser) timeout(v *yaml.Node, name string) (time.Duration, bool) {
	s, line, ok := p.scalar(v, name, `a duration ("900s", "15m", "1h") or a number of seconds`)
	if !ok {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil {
		s += "s"
		if secs < 1 || secs > int64(configMaxTimeout/time.Second) {
			p.add(line, "%s: %s is outside 1s..%s", name, s, configFormatHours(configMaxTimeout))
			return 0, false
		}
		d = time.Duration(secs) * time.Second
	} else if d, err = time.ParseDuration(s); err != nil {
		p.add(line, `%s: want a duration ("900s", "15m", "1h") or a number of seconds, got %q`, name, s)
		return 0, false
	}
	if d < time.Second || d > configMaxTimeout {
		p.add(line, "%s: %s is outside 1s..%s", name, s, configFormatHours(configMaxTimeout))
		return 0, false
	}
	if d%time.Second != 0 {
		p.add(line, "%s: %s is not a whole number of seconds", name, s)
		return 0, false
	}
	return d, true
}

func configFormatHours(d time.Duration) string { return fmt.Sprintf("%dh", d/time.Hour) }

// ipv4 returns v as an IPv4 address a packet can be sent to.
func (p *configParser) ipv4(v *yaml.Node, name string) (netip.Addr, bool) {
	s, line, ok := p.scalar(v, name, "an IPv4 address")
	if !ok {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		p.add(line, "%s: invalid IPv4 address %q", name, s)
	case a.Is6():
		p.add(line, "%s: IPv6 address %q is not supported yet", name, s)
	case configSpecialAddr(a) != "":
		p.add(line, "%s: %s address %q is not allowed", name, configSpecialAddr(a), s)
	default:
		return a, true
	}
	return netip.Addr{}, false
}

// configSpecialAddr names what IPv4 address a is if no packet can be sent
// to it ("unspecified", "loopback", "multicast", "broadcast"), or is "".
func configSpecialAddr(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsMulticast():
		return "multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	return ""
}

// nodeName returns v as a node name.
func (p *configParser) nodeName(v *yaml.Node, name string) (string, bool) {
	s, line, ok := p.scalar(v, name, configWantNode)
	if !ok {
		return "", false
	}
	if !configNodeName.MatchString(s) {
		p.add(line, "%s: want %s, got %q", name, configWantNode, s)
		return "", false
	}
	return s, true
}

// ifname returns v as an interface name.
func (p *configParser) ifname(v *yaml.Node, name string) (string, bool) {
	s, line, ok := p.scalar(v, name, configWantIfname)
	if !ok {
		return "", false
	}
	if !configIfname(s) {
		p.add(line, "%s: want %s, got %q", name, configWantIfname, s)
		return "", false
	}
	return s, true
}

// choice returns v if it is one of valid; a value of later gets reason
// later (formatted with the value), anything else "name: want <want>".
func (p *configParser) choice(v *yaml.Node, name, want string, valid, later []string, laterReason string) (string, bool) {
	s, line, ok := p.scalar(v, name, want)
	switch {
	case !ok:
		return "", false
	case slices.Contains(valid, s):
		return s, true
	case slices.Contains(later, s):
		p.add(line, laterReason, s)
	default:
		p.add(line, "%s: want %s, got %q", name, want, s)
	}
	return "", false
}

// configIfname says whether s is a valid Linux interface name
// (dev_valid_name).
func configIfname(s string) bool {
	return len(s) >= 1 && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n\v\f\r\x00")
}

// configListen says whether s is an IP:port or :port to listen on.
func configListen(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return false
		}
	}
	n, err := strconv.Atoi(port)
	return err == nil && port[0] != '+' && port[0] != '-' && n >= 1 && n <= 65535
}

// config checks the document's root.
func (p *configParser) config(root *yaml.Node) *Config {
	cfg := &Config{Dataplane: configDefaultDataplane, TCAttach: configDefaultTCAttach, FlowTableSize: configDefaultFlowTable,
		Timeouts: DefaultTimeouts}
	root = configResolve(root)
	if configIsNull(root) {
		root = &yaml.Node{Kind: yaml.MappingNode, Line: 1}
	}
	if root.Kind != yaml.MappingNode {
		p.add(root.Line, "want a mapping at top level, got %s", configDescribe(root))
		return cfg
	}
	f := p.fields(root, "at top level", "node", "interfaces", "dataplane", "tc_attach", "ipvs", "control_socket", "flow_table",
		"timeouts", "services", "metrics", "ha")

	nodeOK := false
	if v, ok := f["node"]; ok {
		cfg.Node, nodeOK = p.nodeName(v.value, "node")
	} else {
		p.add(1, `missing key "node"`)
	}

	if v, ok := f["interfaces"]; ok {
		p.interfaces(cfg, v)
	} else {
		p.add(1, `missing key "interfaces"`)
	}

	if v, ok := f["dataplane"]; ok {
		if s, ok := p.choice(v.value, "dataplane", "auto, xdp, xdp-generic, tc or ipvs",
			[]string{"auto", "xdp", "xdp-generic", "tc", "ipvs"}, configLaterDataplanes,
			"data plane %q is not available in this version (use auto, xdp, xdp-generic, tc or ipvs)"); ok {
			cfg.Dataplane = s
		}
	}
	if v, ok := f["tc_attach"]; ok {
		if s, ok := p.choice(v.value, "tc_attach", "auto, tcx or clsact", []string{"auto", "tcx", "clsact"}, nil, ""); ok {
			cfg.TCAttach = s
		}
	}
	p.dataplane = cfg.Dataplane
	cfg.IPVS.SyncInterface = cfg.Internal
	if v, ok := f["ipvs"]; ok {
		p.ipvs(cfg, v)
	}

	if v, ok := f["control_socket"]; ok {
		if s, line, ok := p.scalar(v.value, "control_socket", "an absolute path"); ok {
			switch {
			case !filepath.IsAbs(s):
				p.add(line, "control_socket: want an absolute path, got %q", s)
			case len(s) > configMaxSocketPath:
				p.add(line, "control_socket: want a path of at most %d bytes (a unix socket's limit), got %q", configMaxSocketPath, s)
			default:
				cfg.ControlSocket = s
			}
		}
	} else if nodeOK {
		cfg.ControlSocket = filepath.Join(DefaultSocketDir, cfg.Node+".sock")
	}

	if v, ok := f["flow_table"]; ok {
		if m, ok := p.mapping(v.value, "flow_table", v.key.Line); ok {
			ff := p.fields(m, "in flow_table", "size")
			if v, ok := ff["size"]; ok {
				if n, ok := p.integer(v.value, "flow_table.size", configMinFlowTable, configMaxFlowTable); ok {
					cfg.FlowTableSize = int(n)
				}
			}
		}
	}

	if v, ok := f["timeouts"]; ok {
		if m, ok := p.mapping(v.value, "timeouts", v.key.Line); ok {
			tf := p.fields(m, "in timeouts", "tcp", "tcp_fin", "udp", "tcp_syn")
			for _, t := range []struct {
				key string
				to  *time.Duration
			}{
				{"tcp", &cfg.Timeouts.Established},
				{"tcp_fin", &cfg.Timeouts.FIN},
				{"udp", &cfg.Timeouts.UDP},
				{"tcp_syn", &cfg.Timeouts.SYN},
			} {
				if v, ok := tf[t.key]; ok {
					if d, ok := p.timeout(v.value, "timeouts."+t.key); ok {
						*t.to = d
					}
				}
			}
		}
	}

	if v, ok := f["services"]; ok {
		cfg.Services, cfg.Health = p.services(v.value)
	}

	if v, ok := f["metrics"]; ok {
		if m, ok := p.mapping(v.value, "metrics", v.key.Line); ok {
			mf := p.fields(m, "in metrics", "listen")
			if v, ok := mf["listen"]; ok {
				const want = "IP:port or :port (port 1-65535)"
				if s, line, ok := p.scalar(v.value, "metrics.listen", want); ok {
					if configListen(s) {
						cfg.MetricsListen = s
					} else {
						p.add(line, "metrics.listen: want %s, got %q", want, s)
					}
				}
			}
		}
	}

	if v, ok := f["ha"]; ok {
		node := ""
		if nodeOK {
			node = cfg.Node
		}
		cfg.HA = p.ha(v, node)
	}
	return cfg
}

// interfaces checks the interfaces section, whose key is field.key.
func (p *configParser) interfaces(cfg *Config, field configField) {
	m, ok := p.mapping(field.value, "interfaces", field.key.Line)
	if !ok {
		return
	}
	f := p.fields(m, "in interfaces", "public", "internal")
	for _, role := range []struct {
		key string
		to  *string
	}{{"public", &cfg.Public}, {"internal", &cfg.Internal}} {
		v, ok := f[role.key]
		if !ok {
			p.add(field.key.Line, "interfaces: missing key %q", role.key)
			continue
		}
		if s, ok := p.ifname(v.value, "interfaces."+role.key); ok {
			*role.to = s
		}
	}
}

// ipvs checks the ipvs section, whose key is field.key; cfg.Internal is
// the sync interface's default.
func (p *configParser) ipvs(cfg *Config, field configField) {
	m, ok := p.mapping(field.value, "ipvs", field.key.Line)
	if !ok {
		return
	}
	if p.dataplane != "ipvs" && p.dataplane != "auto" {
		p.add(field.key.Line, "ipvs: only for dataplane ipvs or auto, got dataplane %s", p.dataplane)
	}
	f := p.fields(m, "in ipvs", "sync_interface", "sync_id", "conntrack")
	if v, ok := f["sync_interface"]; ok {
		if s, ok := p.ifname(v.value, "ipvs.sync_interface"); ok {
			cfg.IPVS.SyncInterface = s
		}
	}
	if v, ok := f["sync_id"]; ok {
		if n, ok := p.integer(v.value, "ipvs.sync_id", 0, 255); ok {
			cfg.IPVS.SyncID = uint8(n)
		}
	}
	if v, ok := f["conntrack"]; ok {
		b := configResolve(v.value)
		if b.Kind != yaml.ScalarNode || b.ShortTag() != "!!bool" || b.Decode(&cfg.IPVS.Conntrack) != nil {
			p.add(b.Line, "ipvs.conntrack: want true or false, got %s", configDescribe(b))
		}
	}
}

// services checks the services list. It returns the services and their
// health checking, index for index.
func (p *configParser) services(v *yaml.Node) ([]Service, []ServiceHealth) {
	items, ok := p.list(v, "services")
	if !ok {
		return nil, nil
	}
	var out []Service
	var health []ServiceHealth
	first := map[ServiceKey]int{}
	for _, item := range items {
		s, h, ok := p.service(item)
		if !ok {
			continue
		}
		if line, dup := first[s.Key()]; dup {
			p.add(item.Line, "duplicate service %s (first at line %d)", s.Key(), line)
		} else {
			first[s.Key()] = item.Line
		}
		out = append(out, s)
		health = append(health, h)
	}
	return out, health
}

// service checks one item of the services list, and returns it with its
// health checking. It returns false if the service's key (vip, port,
// protocol) is not valid; other problems are reported but leave it
// comparable with the others.
func (p *configParser) service(item *yaml.Node) (Service, ServiceHealth, bool) {
	line := item.Line // the item's, even when it is an alias
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "service: want a mapping, got %s", configDescribe(m))
		return Service{}, ServiceHealth{}, false
	}
	f := p.fields(m, "in service", "vip", "port", "protocol", "scheduler", "health_check", "sorry_server", "real_servers")
	s := Service{Proto: TCP, Scheduler: SchedWRR}
	keyOK := true
	if v, ok := f["vip"]; ok {
		s.VIP, ok = p.ipv4(v.value, "vip")
		keyOK = keyOK && ok
	} else {
		p.add(line, `service: missing key "vip"`)
		keyOK = false
	}
	if v, ok := f["port"]; ok {
		n, ok := p.integer(v.value, "port", 1, 65535)
		s.Port = uint16(n)
		keyOK = keyOK && ok
	} else {
		p.add(line, `service: missing key "port"`)
		keyOK = false
	}
	if v, ok := f["protocol"]; ok {
		proto, ok := p.choice(v.value, "protocol", "tcp or udp", []string{"tcp", "udp"},
			configIPVSProtocols, "protocol %q is not implemented (tcp, udp)")
		if ok {
			s.Proto.UnmarshalText([]byte(proto))
		}
		keyOK = keyOK && ok
	}
	if v, ok := f["scheduler"]; ok {
		if p.dataplane == "ipvs" {
			valid := append([]string{SchedRR, SchedWRR}, configIPVSSchedulers...)
			if sched, ok := p.choice(v.value, "scheduler", configWantIPVSSched, valid, nil, ""); ok {
				s.Scheduler = sched
			}
		} else if sched, ok := p.choice(v.value, "scheduler", "rr or wrr", []string{SchedRR, SchedWRR},
			configIPVSSchedulers, "scheduler %q needs dataplane: ipvs (the BPF data planes implement rr and wrr)"); ok {
			s.Scheduler = sched
		}
	}
	health := configHealthDefault(s.Proto)
	if v, ok := f["health_check"]; ok {
		health = p.health(v, health)
	}
	sh := ServiceHealth{Default: health.check, PerReal: map[RealKey]HealthCheck{}}
	first := map[RealKey]int{}
	if v, ok := f["real_servers"]; ok {
		items, _ := p.list(v.value, "real_servers")
		for _, item := range items {
			if p.reals++; p.reals > configMaxReals {
				if p.reals == configMaxReals+1 {
					p.add(item.Line, "more than %d real servers in all", configMaxReals)
				}
				break
			}
			r, check, ok := p.real(item, s.Port, health)
			if !ok {
				continue
			}
			k := RealKey{r.Addr, r.Port}
			if at, dup := first[k]; dup && keyOK {
				p.add(item.Line, "duplicate real server %s in service %s (first at line %d)",
					netip.AddrPortFrom(r.Addr, r.Port), s.Key(), at)
			} else if !dup {
				first[k] = item.Line
				sh.PerReal[k] = check
			}
			s.Reals = append(s.Reals, r)
		}
	}
	if v, ok := f["sorry_server"]; ok {
		sh.Sorry = p.sorry(v, s.Port, first)
	}
	return s, sh, keyOK
}

// real checks one item of a real_servers list; port is the service's (0
// if invalid), health its health check. It returns the server and its
// effective check, or false if the server's address or port is not valid.
func (p *configParser) real(item *yaml.Node, port uint16, health *configHealth) (RealServer, HealthCheck, bool) {
	line := item.Line
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "real server: want a mapping, got %s", configDescribe(m))
		return RealServer{}, HealthCheck{}, false
	}
	f := p.fields(m, "in real server", "address", "port", "weight", "health_check")
	r := RealServer{Port: port, Weight: 1}
	addrOK, portOK := false, port != 0
	if v, ok := f["address"]; ok {
		r.Addr, addrOK = p.ipv4(v.value, "address")
	} else {
		p.add(line, `real server: missing key "address"`)
	}
	if v, ok := f["port"]; ok {
		var n int64
		n, portOK = p.integer(v.value, "port", 1, 65535)
		r.Port = uint16(n)
	}
	if v, ok := f["weight"]; ok {
		if n, ok := p.integer(v.value, "weight", 0, 65535); ok {
			r.Weight = uint32(n)
		}
	}
	check := health.check
	if v, ok := f["health_check"]; ok {
		check = p.health(v, health).check
	}
	return r, check, addrOK && portOK
}

// sorry checks sorry_server, whose key is field.key; port is the
// service's (0 if invalid), reals the lines of the service's valid real
// servers. It returns nil if the sorry server is not valid.
func (p *configParser) sorry(field configField, port uint16, reals map[RealKey]int) *RealServer {
	line := field.key.Line
	m, ok := p.mapping(field.value, "sorry_server", line)
	if !ok {
		return nil
	}
	f := p.fields(m, "in sorry_server", "address", "port")
	r := RealServer{Port: port, Weight: 1}
	addrOK, portOK := false, port != 0
	if v, ok := f["address"]; ok {
		r.Addr, addrOK = p.ipv4(v.value, "sorry_server.address")
	} else {
		p.add(line, `sorry_server: missing key "address"`)
	}
	if v, ok := f["port"]; ok {
		var n int64
		n, portOK = p.integer(v.value, "sorry_server.port", 1, 65535)
		r.Port = uint16(n)
	}
	if !addrOK || !portOK {
		return nil
	}
	if at, ok := reals[RealKey{r.Addr, r.Port}]; ok {
		p.add(line, "sorry_server: %s is also a real server of the service (line %d)", netip.AddrPortFrom(r.Addr, r.Port), at)
		return nil
	}
	return &r
}

// configHealth is the health check of a service or a real server while it
// is checked: the effective check so far and where its keys come from.
type configHealth struct {
	check HealthCheck
	// set are the keys given a valid value, by this mapping or (in a real
	// server's) by the service's, with their key nodes; the other keys
	// have their defaults.
	set map[string]*yaml.Node
	// bad are the keys given an invalid value (or "type" for a
	// health_check that is not a mapping): rules involving them are not
	// checked.
	bad map[string]bool
	// text are the interval and timeout as written, when set.
	text map[string]string
}

// configHealthDefault returns the default check of a service of proto:
// tcp for TCP, none for UDP.
func configHealthDefault(proto Proto) *configHealth {
	h := &configHealth{check: HealthCheck{Type: "tcp"}, set: map[string]*yaml.Node{}, bad: map[string]bool{},
		text: map[string]string{}}
	if proto == UDP {
		h.check.Type = "none"
	}
	h.defaults()
	return h
}

func (h *configHealth) clone() *configHealth {
	c := &configHealth{check: h.check, set: maps.Clone(h.set), bad: maps.Clone(h.bad), text: maps.Clone(h.text)}
	c.check.Command = slices.Clone(h.check.Command)
	return c
}

// defaults gives the keys not set their defaults, and zeroes those of
// other types.
func (h *configHealth) defaults() {
	c := &h.check
	if c.Type == "none" {
		*c = HealthCheck{Type: "none"}
		return
	}
	unset := func(k string) bool { _, ok := h.set[k]; return !ok }
	if unset("interval") {
		c.Interval = configDefaultHealthInterval
	}
	if unset("timeout") {
		c.Timeout = min(configDefaultHealthTimeout, c.Interval)
	}
	if unset("rise") {
		c.Rise = configDefaultHealthRise
	}
	if unset("fall") {
		c.Fall = configDefaultHealthFall
	}
	if unset("port") {
		c.Port = 0
	}
	if unset("on_failure") {
		c.OnFailure = configDefaultOnFailure
	}
	web := c.Type == "http" || c.Type == "https"
	if unset("path") || !web {
		c.Path = ""
		if web {
			c.Path = configDefaultHealthPath
		}
	}
	if unset("expect_status") || !web {
		c.ExpectStatus = 0
		if web {
			c.ExpectStatus = configDefaultExpectStatus
		}
	}
	if unset("expect_body") || !web {
		c.ExpectBody = ""
	}
	if unset("host") || !web {
		c.Host = ""
	}
	if unset("command") || c.Type != "command" {
		c.Command = nil
	}
}

// configHealthFor says whether health_check key k belongs to type t.
func configHealthFor(k, t string) bool {
	switch k {
	case "type":
		return true
	case "path", "expect_status", "expect_body", "host":
		return t == "http" || t == "https"
	case "command":
		return t == "command"
	}
	return t != "none"
}

// configHealthOnly names the types health_check key k belongs to.
func configHealthOnly(k string) string {
	switch k {
	case "path", "expect_status", "expect_body", "host":
		return "http or https"
	case "command":
		return "command"
	}
	return "tcp, http, https or command"
}

// health checks health_check, field, of a service (base: the default of
// its protocol) or of a real server (base: its service's check), and
// returns the effective check: base's keys replaced by those written, one
// by one.
func (p *configParser) health(field configField, base *configHealth) *configHealth {
	h := base.clone()
	line := field.key.Line
	m, ok := p.mapping(field.value, "health_check", line)
	if !ok {
		h.bad["type"] = true
		return h
	}
	f := p.fields(m, "in health_check", configHealthKeyNames...)
	if v, ok := f["type"]; ok {
		if t, ok := p.choice(v.value, "health_check.type", configWantHealthType, configHealthTypes, nil, ""); ok {
			if t != h.check.Type {
				// The service's keys of its own type only.
				for k := range h.set {
					if !configHealthFor(k, t) {
						delete(h.set, k)
					}
				}
				for k := range h.bad {
					if !configHealthFor(k, t) {
						delete(h.bad, k)
					}
				}
			}
			h.check.Type = t
			h.set["type"] = v.key
			delete(h.bad, "type")
		} else {
			h.bad["type"] = true
		}
	}
	for _, k := range configHealthKeyNames[1:] {
		if v, ok := f[k]; ok {
			if p.healthValue(h, k, v.value) {
				h.set[k] = v.key
				delete(h.bad, k)
			} else {
				delete(h.set, k)
				h.bad[k] = true
			}
		}
	}

	if !h.bad["type"] {
		t := h.check.Type
		if _, typeSet := h.set["type"]; !typeSet && t == "none" {
			if len(f) > 0 {
				p.add(line, `health_check: missing key "type" (a udp service has no default check)`)
			}
		} else {
			for _, k := range configHealthKeyNames[1:] {
				if v, ok := f[k]; ok && !configHealthFor(k, t) {
					p.add(v.key.Line, "health_check.%s: only for type %s", k, configHealthOnly(k))
					delete(h.set, k)
					delete(h.bad, k)
				}
			}
			_, typeOwn := f["type"]
			if _, ok := h.set["command"]; typeOwn && t == "command" && !ok && !h.bad["command"] {
				p.add(line, `health_check: missing key "command" (type command)`)
			}
		}
	}
	h.defaults()

	// The timeout is at most the interval, checked where either is
	// written.
	_, intervalOwn := f["interval"]
	_, timeoutOwn := f["timeout"]
	if h.check.Type != "none" && !h.bad["type"] && !h.bad["interval"] && !h.bad["timeout"] && (intervalOwn || timeoutOwn) {
		timer := func(k string, d time.Duration, own bool) *configHATimer {
			t := &configHATimer{name: "health_check." + k, d: d, ok: true}
			switch _, set := h.set[k]; {
			case own:
				t.key, t.text = f[k].key, h.text[k]
			case set:
				t.text = h.text[k] + ", the service's"
			default:
				t.text = configFormatDuration(d) + ", the default"
			}
			return t
		}
		at := f["interval"].key
		if timeoutOwn {
			at = f["timeout"].key
		}
		p.haOrder(at.Line, timer("timeout", h.check.Timeout, timeoutOwn), timer("interval", h.check.Interval, intervalOwn), true)
	}
	return h
}

// healthValue checks the value v of health_check key k (not "type") and
// sets it in h.check. It returns false if v is not valid.
func (p *configParser) healthValue(h *configHealth, k string, v *yaml.Node) bool {
	name := "health_check." + k
	c := &h.check
	switch k {
	case "interval", "timeout":
		lo, hi, to := configMinHealthInterval, configMaxHealthInterval, &c.Interval
		if k == "timeout" {
			lo, hi, to = configMinHealthTimeout, configMaxHealthTimeout, &c.Timeout
		}
		d, text, ok := p.duration(v, name, lo, hi)
		if ok {
			*to, h.text[k] = d, text
		}
		return ok
	case "rise", "fall":
		n, ok := p.integer(v, name, 1, configMaxHealthCount)
		if ok {
			if k == "rise" {
				c.Rise = int(n)
			} else {
				c.Fall = int(n)
			}
		}
		return ok
	case "port":
		n, ok := p.integer(v, name, 1, 65535)
		if ok {
			c.Port = uint16(n)
		}
		return ok
	case "expect_status":
		n, ok := p.integer(v, name, 100, 599)
		if ok {
			c.ExpectStatus = int(n)
		}
		return ok
	case "path":
		s, line, ok := p.scalar(v, name, configWantPath)
		if !ok {
			return false
		}
		if _, err := url.ParseRequestURI(s); err != nil || !strings.HasPrefix(s, "/") || strings.ContainsFunc(s, configSpaceOrControl) {
			p.add(line, "%s: want %s, got %q", name, configWantPath, s)
			return false
		}
		c.Path = s
	case "expect_body":
		s, _, ok := p.scalar(v, name, "a string")
		if !ok {
			return false
		}
		c.ExpectBody = s
	case "host":
		s, line, ok := p.scalar(v, name, configWantHost)
		if !ok {
			return false
		}
		if !configHostHeader.MatchString(s) {
			p.add(line, "%s: want %s, got %q", name, configWantHost, s)
			return false
		}
		c.Host = s
	case "command":
		return p.healthCommand(c, v, name)
	case "on_failure":
		s, ok := p.choice(v, name, "quiesce or remove", configHealthActions, nil, "")
		if ok {
			c.OnFailure = s
		}
		return ok
	}
	return true
}

// healthCommand checks health_check.command, v, and sets c.Command. A
// list is checked once however many real servers share it.
func (p *configParser) healthCommand(c *HealthCheck, v *yaml.Node, name string) bool {
	v = configResolve(v)
	if argv, seen := p.commands[v]; seen {
		c.Command = slices.Clone(argv)
		return argv != nil
	}
	if p.commands == nil {
		p.commands = map[*yaml.Node][]string{}
	}
	p.commands[v] = nil
	if v.Kind != yaml.SequenceNode {
		p.add(v.Line, "%s: want %s, got %s", name, configWantCommand, configDescribe(v))
		return false
	}
	if len(v.Content) == 0 {
		p.add(v.Line, "%s: want at least the program's path", name)
		return false
	}
	argv := make([]string, 0, len(v.Content))
	ok := true
	for _, item := range v.Content {
		s, _, itemOK := p.scalar(item, name, "a string")
		ok = ok && itemOK
		argv = append(argv, s)
	}
	if !ok {
		return false
	}
	if !filepath.IsAbs(argv[0]) {
		p.add(configResolve(v.Content[0]).Line, "%s: want an absolute path first, got %q", name, argv[0])
		return false
	}
	p.commands[v] = argv
	c.Command = slices.Clone(argv)
	return true
}

// configSpaceOrControl says whether r is whitespace or a control
// character.
func configSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// configHATimer is one of the ha section's timers while it is checked.
type configHATimer struct {
	name string
	d    time.Duration
	// text is the value as written ("<v>s" for a number of seconds), or
	// "<d>, the default".
	text string
	// key is the timer's key; nil for a default.
	key *yaml.Node
	ok  bool
}

// ha checks the ha section, whose key is field.key; node is the top-level
// node, "" if it is not valid.
func (p *configParser) ha(field configField, node string) *HAConfig {
	h := &HAConfig{
		AutoFailback: true,
		AuthMethod:   configDefaultAuthMethod,
		ARPCount:     configDefaultARPCount,
		ARPInterval:  configDefaultARPInterval,
		Line:         field.key.Line,
	}
	line := field.key.Line
	m, ok := p.mapping(field.value, "ha", line)
	if !ok {
		return h
	}
	f := p.fields(m, "in ha", "nodes", "transport", "keepalive", "deadtime", "warntime", "initdead", "auth",
		"auto_failback", "arp", "resources", "sync")

	nodesOK := false
	if v, ok := f["nodes"]; ok {
		h.Nodes, nodesOK = p.haNodes(v, node)
	} else {
		p.add(line, `ha: missing key "nodes"`)
	}

	if v, ok := f["transport"]; ok {
		h.Links = p.haTransport(v, "ha.transport", configDefaultHAPort)
	} else {
		p.add(line, `ha: missing key "transport"`)
	}

	p.haTimers(h, f)

	if v, ok := f["auth"]; ok {
		p.haAuth(h, v)
	} else {
		p.add(line, `ha: missing key "auth"`)
	}

	if v, ok := f["auto_failback"]; ok {
		b := configResolve(v.value)
		if b.Kind != yaml.ScalarNode || b.ShortTag() != "!!bool" || b.Decode(&h.AutoFailback) != nil {
			p.add(b.Line, "ha.auto_failback: want true or false, got %s", configDescribe(b))
		}
	}

	if v, ok := f["arp"]; ok {
		if m, ok := p.mapping(v.value, "ha.arp", v.key.Line); ok {
			af := p.fields(m, "in ha.arp", "count", "interval")
			if v, ok := af["count"]; ok {
				if n, ok := p.integer(v.value, "ha.arp.count", 1, configMaxARPCount); ok {
					h.ARPCount = int(n)
				}
			}
			if v, ok := af["interval"]; ok {
				if d, _, ok := p.duration(v.value, "ha.arp.interval", configMinARPInterval, configMaxARPInterval); ok {
					h.ARPInterval = d
				}
			}
		}
	}

	if v, ok := f["resources"]; ok {
		p.haResources(h, v, nodesOK)
	} else {
		p.add(line, `ha: missing key "resources"`)
	}
	h.Sync = p.haSync(f, h.Links)
	return h
}

// haSync checks ha.sync (fields f of ha; links are the heartbeat's): on by
// default, over the heartbeat links on their port + 1.
func (p *configParser) haSync(f map[string]configField, links []HALink) *HASync {
	s := &HASync{FailbackWait: configDefaultFailbackWait}
	var own []HALink
	if v, ok := f["sync"]; ok {
		m, ok := p.mapping(v.value, "ha.sync", v.key.Line)
		if !ok {
			return s
		}
		sf := p.fields(m, "in ha.sync", "enabled", "transport", "failback_wait")
		if v, ok := sf["enabled"]; ok {
			b := configResolve(v.value)
			on := true
			if b.Kind != yaml.ScalarNode || b.ShortTag() != "!!bool" || b.Decode(&on) != nil {
				p.add(b.Line, "ha.sync.enabled: want true or false, got %s", configDescribe(b))
			} else if !on {
				return nil
			}
		}
		if v, ok := sf["transport"]; ok {
			own = p.haTransport(v, "ha.sync.transport", configDefaultHAPort+1)
		}
		if v, ok := sf["failback_wait"]; ok {
			if d, _, ok := p.duration(v.value, "ha.sync.failback_wait", 0, configMaxFailbackWait); ok {
				s.FailbackWait = d
			}
		}
	}
	if own != nil {
		s.Links = own
		return s
	}
	for _, l := range links {
		if l.Port < 65535 {
			l.Port++
		}
		s.Links = append(s.Links, l)
	}
	return s
}

// haNodes checks ha.nodes; node is the top-level node ("" if invalid). It
// returns false unless the list is two valid distinct names, node one of
// them.
func (p *configParser) haNodes(field configField, node string) ([]string, bool) {
	items, ok := p.list(field.value, "ha.nodes")
	if !ok {
		return nil, false
	}
	var names []string
	first := map[string]int{}
	valid := true
	for _, item := range items {
		s, ok := p.nodeName(item, "ha.nodes")
		if !ok {
			valid = false
			continue
		}
		if at, dup := first[s]; dup {
			p.add(item.Line, "duplicate ha node %q (first at line %d)", s, at)
			valid = false
			continue
		}
		first[s] = item.Line
		names = append(names, s)
	}
	if len(items) != 2 {
		p.add(field.key.Line, "ha.nodes: want 2 node names, got %d", len(items))
		return names, false
	}
	if !valid {
		return names, false
	}
	if node != "" && !slices.Contains(names, node) {
		p.add(field.key.Line, "ha.nodes: this node %q is not in %v", node, names)
		return names, false
	}
	return names, true
}

// haTransport checks a transport (where: ha.transport or ha.sync.transport):
// one link or a list of links; port is the default port.
func (p *configParser) haTransport(field configField, where string, port int) []HALink {
	v := configResolve(field.value)
	switch {
	case configIsNull(v):
		v = &yaml.Node{Kind: yaml.MappingNode, Line: field.key.Line}
		fallthrough
	case v.Kind == yaml.MappingNode:
		if l, ok := p.haLink(v, field.key.Line, where, port); ok {
			return []HALink{l}
		}
		return nil
	case v.Kind != yaml.SequenceNode:
		p.add(v.Line, "%s: want a mapping or a list of mappings, got %s", where, configDescribe(v))
		return nil
	}
	if len(v.Content) == 0 {
		p.add(field.key.Line, "%s: want at least one link", where)
	}
	var links []HALink
	first := map[HALink]int{}
	for _, item := range v.Content {
		l, ok := p.haLink(item, item.Line, where, port)
		if !ok {
			continue
		}
		k := l
		k.TTL = 0
		if at, dup := first[k]; dup {
			p.add(item.Line, "duplicate ha link %s (first at line %d)", configLinkString(l), at)
			continue
		}
		first[k] = item.Line
		links = append(links, l)
	}
	return links
}

// configLinkString describes a link in duplicate link reasons, Heartbeat's
// way ("bcast enp0s3 port 694", "mcast enp0s3 239.0.0.1 port 694",
// "ucast enp0s8 192.168.200.252 port 694").
func configLinkString(l HALink) string {
	switch l.Mode {
	case "mcast":
		return fmt.Sprintf("mcast %s %s port %d", l.Interface, l.Group, l.Port)
	case "ucast":
		return fmt.Sprintf("ucast %s %s port %d", l.Interface, l.Peer, l.Port)
	}
	return fmt.Sprintf("%s %s port %d", l.Mode, l.Interface, l.Port)
}

// haLink checks one link of ha.transport; line is the line of the
// mapping (the transport key's or the list item's). It returns false if
// any part of the link is not valid.
func (p *configParser) haLink(item *yaml.Node, line int, where string, port int) (HALink, bool) {
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "%s: want a mapping, got %s", where, configDescribe(m))
		return HALink{}, false
	}
	f := p.fields(m, "in "+where, "mode", "interface", "port", "group", "ttl", "peer")
	l := HALink{Port: port}
	modeOK := false
	if v, ok := f["mode"]; ok {
		l.Mode, modeOK = p.choice(v.value, where+".mode", "bcast, mcast or ucast", configHAModes, nil, "")
	} else {
		p.add(line, `%s: missing key "mode"`, where)
	}
	valid := modeOK
	if v, ok := f["interface"]; ok {
		l.Interface, ok = p.ifname(v.value, where+".interface")
		valid = valid && ok
	} else {
		p.add(line, `%s: missing key "interface"`, where)
		valid = false
	}
	if v, ok := f["port"]; ok {
		n, ok := p.integer(v.value, where+".port", 1, 65535)
		l.Port = int(n)
		valid = valid && ok
	}
	if l.Mode == "mcast" {
		l.TTL = configDefaultHATTL
	}
	// Keys of one mode only: refused on the others, required where
	// marked, checked whatever the mode if the mode is not valid.
	for _, k := range []struct {
		key, mode string
		required  bool
	}{{"group", "mcast", true}, {"ttl", "mcast", false}, {"peer", "ucast", true}} {
		v, ok := f[k.key]
		switch {
		case !ok && modeOK && l.Mode == k.mode && k.required:
			p.add(line, "%s: missing key %q (mode %s)", where, k.key, k.mode)
			valid = false
			continue
		case !ok:
			continue
		case modeOK && l.Mode != k.mode:
			p.add(v.key.Line, "%s.%s: only for mode %s", where, k.key, k.mode)
			valid = false
			continue
		}
		name := where + "." + k.key
		switch k.key {
		case "group":
			const want = "an IPv4 multicast address"
			if s, line, ok := p.scalar(v.value, name, want); ok {
				if a, err := netip.ParseAddr(s); err == nil && a.Is4() && a.IsMulticast() {
					l.Group = a
				} else {
					p.add(line, "%s: want %s, got %q", name, want, s)
					valid = false
				}
			} else {
				valid = false
			}
		case "ttl":
			n, ok := p.integer(v.value, name, 1, 255)
			l.TTL = int(n)
			valid = valid && ok
		case "peer":
			l.Peer, ok = p.ipv4(v.value, name)
			valid = valid && ok
		}
	}
	return l, valid
}

// haTimers checks the timers of the ha section (fields f) and their
// order.
func (p *configParser) haTimers(h *HAConfig, f map[string]configField) {
	timer := func(key string) *configHATimer {
		t := &configHATimer{name: "ha." + key, ok: true}
		if v, ok := f[key]; ok {
			t.key = v.key
			t.d, t.text, t.ok = p.duration(v.value, t.name, configMinHATimer, configMaxHATimer)
		}
		return t
	}
	keepalive, deadtime, warntime, initdead := timer("keepalive"), timer("deadtime"), timer("warntime"), timer("initdead")
	deflt := func(t *configHATimer, d time.Duration) {
		if t.key == nil {
			t.d, t.text = d, configFormatDuration(d)+", the default"
		}
	}
	deflt(keepalive, configDefaultKeepalive)
	deflt(deadtime, configDefaultDeadtime)
	if deadtime.ok {
		deflt(warntime, deadtime.d/2)
		deflt(initdead, 2*deadtime.d)
	} else {
		warntime.ok, initdead.ok = warntime.ok && warntime.key != nil, initdead.ok && initdead.key != nil
	}
	p.haOrder(h.Line, keepalive, deadtime, false)
	p.haOrder(h.Line, warntime, deadtime, false)
	p.haOrder(h.Line, deadtime, initdead, true)
	h.Keepalive, h.Deadtime, h.Warntime, h.Initdead = keepalive.d, deadtime.d, warntime.d, initdead.d
}

// haOrder reports unless a is shorter than b (orEqual: at most b), at the
// line of the later key, or at line (the ha key's) if one is a default.
// The reason's subject is the later key, or the one written.
func (p *configParser) haOrder(line int, a, b *configHATimer, orEqual bool) {
	if !a.ok || !b.ok || a.d < b.d || orEqual && a.d == b.d {
		return
	}
	aLater := b.key == nil ||
		a.key != nil && (a.key.Line > b.key.Line || a.key.Line == b.key.Line && a.key.Column > b.key.Column)
	if a.key != nil && b.key != nil {
		line = max(a.key.Line, b.key.Line)
	}
	switch {
	case aLater && orEqual:
		p.add(line, "%s: %s must be at most %s (%s)", a.name, a.text, b.name, b.text)
	case aLater:
		p.add(line, "%s: %s must be shorter than %s (%s)", a.name, a.text, b.name, b.text)
	case orEqual:
		p.add(line, "%s: %s must be at least %s (%s)", b.name, b.text, a.name, a.text)
	default:
		p.add(line, "%s: %s must be longer than %s (%s)", b.name, b.text, a.name, a.text)
	}
}

// duration returns v as a duration within lo..hi, and the value as
// written ("<v>s" for a number of seconds): a Go duration or a number of
// seconds, which may have decimals.
func (p *configParser) duration(v *yaml.Node, name string, lo, hi time.Duration) (time.Duration, string, bool) {
	s, line, ok := p.scalar(v, name, configWantHATime)
	if !ok {
		return 0, "", false
	}
	text := s
	if configSeconds.MatchString(s) {
		text += "s"
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		p.add(line, "%s: want %s, got %q", name, configWantHATime, s)
		return 0, "", false
	}
	if d < lo || d > hi {
		p.add(line, "%s: %s is outside %s..%s", name, text, configFormatDuration(lo), configFormatDuration(hi))
		return 0, "", false
	}
	return d, text, true
}

// configFormatDuration formats d as written in a file: "1h", "5m", "2.5s",
// "200ms".
func configFormatDuration(d time.Duration) string {
	switch {
	case d != 0 && d%time.Hour == 0:
		return configFormatHours(d)
	case d != 0 && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// haAuth checks ha.auth.
func (p *configParser) haAuth(h *HAConfig, field configField) {
	m, ok := p.mapping(field.value, "ha.auth", field.key.Line)
	if !ok {
		return
	}
	f := p.fields(m, "in ha.auth", "method", "key_file")
	if v, ok := f["method"]; ok {
		if s, ok := p.choice(v.value, "ha.auth.method", "sha256, sha1 or md5", configHAAuthMethods, nil, ""); ok {
			h.AuthMethod = s
		}
	}
	if v, ok := f["key_file"]; ok {
		if s, line, ok := p.scalar(v.value, "ha.auth.key_file", "an absolute path"); ok {
			if filepath.IsAbs(s) {
				h.KeyFile = s
			} else {
				p.add(line, "ha.auth.key_file: want an absolute path, got %q", s)
			}
		}
	} else {
		p.add(field.key.Line, `ha.auth: missing key "key_file"`)
	}
}

// haResources checks ha.resources; nodesOK says whether h.Nodes is valid
// to check the owner against.
func (p *configParser) haResources(h *HAConfig, field configField, nodesOK bool) {
	m, ok := p.mapping(field.value, "ha.resources", field.key.Line)
	if !ok {
		return
	}
	f := p.fields(m, "in ha.resources", "owner", "addresses")
	if v, ok := f["owner"]; ok {
		if s, ok := p.nodeName(v.value, "ha.resources.owner"); ok {
			if nodesOK && !slices.Contains(h.Nodes, s) {
				p.add(configResolve(v.value).Line, "ha.resources.owner: %q is not in ha.nodes %v", s, h.Nodes)
			} else {
				h.Owner = s
			}
		}
	} else {
		p.add(field.key.Line, `ha.resources: missing key "owner"`)
	}
	v, ok := f["addresses"]
	if !ok {
		p.add(field.key.Line, `ha.resources: missing key "addresses"`)
		return
	}
	items, ok := p.list(v.value, "ha.resources.addresses")
	if ok && len(items) == 0 {
		p.add(v.key.Line, "ha.resources.addresses: want at least one address")
	}
	first := map[netip.Addr]int{}
	for _, item := range items {
		a, ok := p.haAddress(item)
		if !ok {
			continue
		}
		if at, dup := first[a.Prefix.Addr()]; dup {
			p.add(item.Line, "duplicate ha address %s (first at line %d)", a.Prefix.Addr(), at)
			continue
		}
		first[a.Prefix.Addr()] = item.Line
		h.Addresses = append(h.Addresses, a)
	}
}

// haAddress checks one item of ha.resources.addresses. It returns false if
// the address is not valid (a problem of its interface alone leaves it
// comparable with the others).
func (p *configParser) haAddress(item *yaml.Node) (HAAddress, bool) {
	line := item.Line
	m := configResolve(item)
	if m.Kind != yaml.MappingNode {
		p.add(m.Line, "ha.resources.addresses: want a mapping, got %s", configDescribe(m))
		return HAAddress{}, false
	}
	f := p.fields(m, "in ha.resources.addresses", "address", "interface")
	var a HAAddress
	addrOK := false
	if v, ok := f["address"]; ok {
		a.Prefix, addrOK = p.hostPrefix(v.value, "ha.resources.addresses.address")
	} else {
		p.add(line, `ha.resources.addresses: missing key "address"`)
	}
	if v, ok := f["interface"]; ok {
		a.Interface, _ = p.ifname(v.value, "ha.resources.addresses.interface")
	} else {
		p.add(line, `ha.resources.addresses: missing key "interface"`)
	}
	return a, addrOK
}

// hostPrefix returns v as an IPv4 host address with its prefix length
// (1-32): an address a packet can be sent to, neither the network nor the
// broadcast address of its prefix (prefixes /31 and /32 have neither).
func (p *configParser) hostPrefix(v *yaml.Node, name string) (netip.Prefix, bool) {
	s, line, ok := p.scalar(v, name, configWantPrefix)
	if !ok {
		return netip.Prefix{}, false
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		// A valid address with a prefix length too long for it?
		addr, bits, _ := strings.Cut(s, "/")
		a, aerr := netip.ParseAddr(addr)
		n, nerr := strconv.Atoi(bits)
		if aerr == nil && a.Is4() && nerr == nil && bits[0] != '+' && bits[0] != '-' && n > 32 {
			p.add(line, "%s: prefix length %s is outside 1..32", name, bits)
		} else if aerr == nil && a.Is6() {
			p.add(line, "%s: IPv6 address %q is not supported yet", name, s)
		} else {
			p.add(line, "%s: want %s, got %q", name, configWantPrefix, s)
		}
		return netip.Prefix{}, false
	}
	a := pf.Addr()
	var last [4]byte
	if a.Is4() {
		last = pf.Masked().Addr().As4()
		for i, host := 0, uint32(1)<<(32-pf.Bits())-1; i < 4; i++ {
			last[i] |= byte(host >> (24 - 8*i))
		}
	}
	switch {
	case a.Is6():
		p.add(line, "%s: IPv6 address %q is not supported yet", name, s)
	case pf.Bits() < 1:
		p.add(line, "%s: prefix length %d is outside 1..32", name, pf.Bits())
	case configSpecialAddr(a) != "":
		p.add(line, "%s: %s address %q is not allowed", name, configSpecialAddr(a), s)
	case pf.Bits() <= 30 && a == pf.Masked().Addr():
		p.add(line, "%s: %q is the network address of its prefix, not a host address", name, s)
	case pf.Bits() <= 30 && a == netip.AddrFrom4(last):
		p.add(line, "%s: %q is the broadcast address of its prefix, not a host address", name, s)
	default:
		return pf, true
	}
	return netip.Prefix{}, false
}
