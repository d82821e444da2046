package model

// The validated configuration: what `director run` applies, as package
// config builds it from the YAML file with every default filled in.

import (
	"net/netip"
	"strings"
	"time"
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
// check, every other field zero. It is comparable: two checks are the
// same check exactly when they are ==, so no field can be left out of a
// comparison.
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
	Command Argv
	// OnFailure is "quiesce" (a down server gets weight 0: no new
	// connections, existing ones continue) or "remove" (a down server is
	// left out as if removed from the configuration: its flows are
	// dropped).
	OnFailure string
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
	// Groups are the resource groups, in file order, at least one:
	// ha.resources is the one group of the single-group form, ha.groups
	// lists several (Heartbeat's haresources lines). Each group is held by
	// one node at a time; names and addresses are unique across groups.
	Groups []HAGroup
	// AutoFailback moves each group back to its owner when the owner comes
	// back after a failover.
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
	// ARPCount gratuitous ARPs are sent ARPInterval apart for each of a
	// group's addresses at takeover.
	ARPCount int
	// ARPInterval is the time between two gratuitous ARPs.
	ARPInterval time.Duration
	// Sync is the conntrack sync of the pair; nil when disabled
	// (ha.sync.enabled: false).
	Sync *HASync
	// Notify is run at every transition; nil without.
	Notify *HAScript
	// Nice is the daemon's CPU priority while it runs the pair (-20..19,
	// the nice value of every thread): heartbeats must go out and be taken
	// in on time when the machine is busy.
	Nice int
	// Ping is the pair's ping nodes (Heartbeat's ping and ping_group);
	// nil without.
	Ping *HAPing
	// Line is the line of the ha key, for later messages about the
	// section.
	Line int
}

// HAGroup is one resource group of the pair: its addresses and scripts
// move together, and its owner holds them when both nodes are up.
type HAGroup struct {
	// Name names the group (ha.resources.name, "default"; required in
	// ha.groups): notify hooks, status and metrics name it.
	Name string
	// Owner is the node, one of HAConfig.Nodes, that holds the group when
	// both nodes are up.
	Owner string
	// Addresses are the floating addresses in file order (at least one,
	// each address once in the whole section).
	Addresses []HAAddress
	// Scripts are the group's script resources, started in order after
	// the addresses are added, stopped in reverse before they are removed.
	Scripts []HAScript
	// Line is the line of the group (ha.resources' key, or the item of
	// ha.groups).
	Line int
}

// HAScript is an LSB-style script (haresources' `ipvsadm`, an init
// script): run as Path Args... start|stop|status, or for a notify hook as
// Path Args... <state> <group> <reason>.
type HAScript struct {
	Path    string
	Args    []string
	Timeout time.Duration
	// Line is where it is configured, for the daemon's messages.
	Line int
}

// HAPing is the reference addresses each node of the pair pings: a node
// reaching fewer of them than its peer does not take or keep the group.
type HAPing struct {
	// Groups are the ping nodes: each one address, or several (a
	// ping_group) that count as one reached while any answers.
	Groups [][]netip.Addr
	// Interval is the time between echo requests to each address.
	Interval time.Duration
	// Deadping is the silence after which an address counts as lost.
	Deadping time.Duration
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

// Argv is a command line: the program's absolute path, then its
// arguments. It is kept as one string, the items joined by NUL bytes
// (which no argument of a program can hold), so that a HealthCheck stays
// comparable with ==.
type Argv string

// NewArgv makes an Argv of args; no item may hold a NUL byte.
func NewArgv(args ...string) Argv { return Argv(strings.Join(args, "\x00")) }

// Args returns the items of a; nil for the empty Argv.
func (a Argv) Args() []string {
	if a == "" {
		return nil
	}
	return strings.Split(string(a), "\x00")
}

// HealthTypes are the kinds of health check, as health_check.type takes
// them (besides "none"); package health has a checker for each.
var HealthTypes = []string{"tcp", "http", "https", "command"}
