// Package control is the director's control plane: the desired state
// (services and their real servers), and the Dataplane port through which
// that state reaches packets, with a BPF adapter (this package's
// bpfdataplane.go) and an IPVS one (ipvs.go).
package control

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/director-lb/director/heartbeat"
)

// Service is one virtual service, as `ipvsadm -A` plus its `ipvsadm -a`
// lines.
type Service struct {
	VIP   netip.Addr `json:"vip"`
	Port  uint16     `json:"port"`
	Proto Proto      `json:"protocol"`
	// Scheduler is "rr" or "wrr".
	Scheduler string `json:"scheduler"`
	// Reals in configuration order (the order of `ipvsadm -a`).
	Reals []RealServer `json:"real_servers"`
}

// RealServer is one real server of a service (masquerading forward).
type RealServer struct {
	Addr   netip.Addr `json:"address"`
	Port   uint16     `json:"port"`
	Weight uint32     `json:"weight"` // 0 = quiesced: no new connections, existing ones continue
}

// Proto is a service's transport protocol.
type Proto uint8

// Protocols, by IP protocol number.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// MarshalText writes "tcp" or "udp".
func (p Proto) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads "tcp" or "udp".
func (p *Proto) UnmarshalText(b []byte) error {
	switch string(b) {
	case "tcp":
		*p = TCP
	case "udp":
		*p = UDP
	default:
		return fmt.Errorf("unknown protocol %q", b)
	}
	return nil
}

func (p Proto) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto-%d", uint8(p))
}

// ServiceKey identifies a service.
type ServiceKey struct {
	VIP   netip.Addr `json:"vip"`
	Port  uint16     `json:"port"`
	Proto Proto      `json:"protocol"`
}

// Key returns the service's key.
func (s Service) Key() ServiceKey { return ServiceKey{s.VIP, s.Port, s.Proto} }

func (k ServiceKey) String() string {
	return fmt.Sprintf("%s %s", k.Proto, netip.AddrPortFrom(k.VIP, k.Port))
}

// RealKey identifies a real server within its service.
type RealKey struct {
	Addr netip.Addr
	Port uint16
}

// Timeouts are the idle timeouts of tracked connections by state, as
// `ipvsadm --set tcp tcpfin udp` (plus the SYN state).
type Timeouts struct {
	SYN         time.Duration `json:"tcp_syn"`
	Established time.Duration `json:"tcp"`
	FIN         time.Duration `json:"tcp_fin"`
	UDP         time.Duration `json:"udp"`
}

// Counters are traffic counters of a service or real server.
type Counters struct {
	PacketsIn   uint64 `json:"packets_in"`
	BytesIn     uint64 `json:"bytes_in"`
	PacketsOut  uint64 `json:"packets_out"`
	BytesOut    uint64 `json:"bytes_out"`
	Connections uint64 `json:"connections"` // new connections scheduled
}

// RealStatus is a real server as the data plane has it.
type RealStatus struct {
	RealServer
	Counters
	// ActiveConns are established TCP connections, InactiveConns the
	// others (as ipvsadm's ActiveConn / InActConn).
	ActiveConns   uint64 `json:"active_connections"`
	InactiveConns uint64 `json:"inactive_connections"`
	// Health is "up", "down" or "" (not checked); the weight above is the
	// one in force (0 while quiesced by a failed check), ConfiguredWeight
	// the file's.
	Health           string        `json:"health,omitempty"`
	HealthResult     string        `json:"health_last_result,omitempty"`
	HealthSince      time.Time     `json:"health_since,omitempty"`
	ConfiguredWeight uint32        `json:"configured_weight"`
	CheckDuration    time.Duration `json:"check_duration_ns,omitempty"`
	// Checks counts health checks by result.
	Checks CheckCounts `json:"checks"`
}

// CheckCounts counts a real server's health checks by result.
type CheckCounts struct {
	Success uint64 `json:"success"`
	Failure uint64 `json:"failure"`
	Timeout uint64 `json:"timeout"`
}

// ServiceStatus is a service as the data plane has it.
type ServiceStatus struct {
	ServiceKey
	Scheduler string `json:"scheduler"`
	Counters
	Reals []RealStatus `json:"real_servers"`
}

// Dataplane is the port through which desired state reaches packets. It is
// free of BPF types so that an IPVS implementation can satisfy it.
type Dataplane interface {
	// Apply reconciles the data plane to services: the diff is written
	// in an order that never misroutes a packet, and applying the same
	// state twice writes nothing.
	Apply(services []Service) error
	// SetTimeouts sets the idle timeouts of tracked connections.
	SetTimeouts(Timeouts) error
	// Mode names the data plane ("xdp native", "xdp generic", ...).
	Mode() string
	Observer
}

// Flow is one tracked connection, as `ipvsadm -Lnc` shows it.
type Flow struct {
	Proto  Proto          `json:"protocol"`
	Client netip.AddrPort `json:"client"`
	VIP    netip.AddrPort `json:"virtual"`
	Real   netip.AddrPort `json:"real_server"`
	// State is "SYN", "ESTABLISHED", "FIN" (also after RST) or "UDP".
	State string `json:"state"`
	// Expires is the time left before the flow expires if idle.
	Expires time.Duration `json:"expires_ns"`
}

// DataplaneStats are the data plane's own counters.
type DataplaneStats struct {
	// Mode names the data plane ("xdp native", "xdp generic", ...).
	Mode string `json:"mode"`
	// Packets counts packets by what happened to them (path name, see the
	// README's packet rules), Verdicts by verdict (pass, drop, forward).
	Packets  map[string]uint64 `json:"packets"`
	Verdicts map[string]uint64 `json:"verdicts"`
	// Drops is the subset of Packets whose verdict is drop.
	Drops map[string]uint64 `json:"drops"`
	// FlowEntries is the number of flow-table entries (two per
	// connection), FlowCapacity the table's size.
	FlowEntries  int `json:"flow_entries"`
	FlowCapacity int `json:"flow_capacity"`
	// Sysctls are the kernel settings the data plane set at start, with
	// their values read back (IPVS).
	Sysctls []Sysctl `json:"sysctls,omitempty"`
	// Sync are the IPVS connection sync daemons running (IPVS).
	Sync []SyncDaemon `json:"sync_daemons,omitempty"`
}

// Observer is the read side of a data plane, for status and metrics.
type Observer interface {
	// Status reads back services, real servers and counters.
	Status() ([]ServiceStatus, error)
	// Flows lists tracked connections.
	Flows() ([]Flow, error)
	// Stats reads the data plane's own counters.
	Stats() (DataplaneStats, error)
}

// InterfaceStatus is one interface the data plane is attached to.
type InterfaceStatus struct {
	Name string `json:"name"`
	Role string `json:"role"` // "public", "internal" or "public+internal"
	Mode string `json:"mode"` // "xdp native", "xdp generic"
}

// Status is what `director status` shows: the node, its data plane and its
// services, as `ipvsadm -Ln` plus the director's own facts.
type Status struct {
	Node      string `json:"node"`
	Config    string `json:"config"`
	Dataplane string `json:"dataplane"`
	// DataplaneReason says why dataplane auto runs a fallback ("" when
	// it runs what was asked for).
	DataplaneReason string            `json:"dataplane_reason,omitempty"`
	Interfaces      []InterfaceStatus `json:"interfaces"`
	// DataplaneFallbacks says, per interface, which better BPF hooks were
	// tried before the one in use and why each failed.
	DataplaneFallbacks []DataplaneFallback `json:"dataplane_fallbacks,omitempty"`
	Version            string              `json:"version"`
	Started            time.Time           `json:"started"`
	// Uptime is how long this control plane has run.
	Uptime   time.Duration   `json:"uptime_ns"`
	Services []ServiceStatus `json:"services"`
	Stats    DataplaneStats  `json:"stats"`
	// HA is the heartbeat pair's state; nil without an ha section.
	HA *HAStatus `json:"ha,omitempty"`
}

// DataplaneFallback is a data plane that could not be used on an interface.
type DataplaneFallback struct {
	Interface string `json:"interface"`
	Mode      string `json:"mode"` // "xdp native", "xdp generic", "tc (tcx)", ...
	Reason    string `json:"reason"`
}

// HAStatus is the heartbeat pair as this node sees it.
type HAStatus struct {
	State     string          `json:"state"` // init, standby, acquiring, active, releasing, stopped
	Owner     string          `json:"owner"`
	Peers     []HAPeer        `json:"peers"`
	Addresses []HAAddressHeld `json:"addresses"`
	// Transitions counts state changes since start; LastTransition says
	// when and why the last one happened.
	Transitions    uint64    `json:"transitions"`
	LastTransition time.Time `json:"last_transition"`
	LastReason     string    `json:"last_reason"`
	// Message counters.
	HeartbeatsSent     uint64 `json:"heartbeats_sent"`
	HeartbeatsReceived uint64 `json:"heartbeats_received"`
	AuthFailures       uint64 `json:"auth_failures"`
	Replays            uint64 `json:"replays"`
	Malformed          uint64 `json:"malformed"`
	// Sync is the conntrack sync (nil when disabled).
	Sync *SyncStatus `json:"sync,omitempty"`
}

// SyncStatus is the conntrack sync of the pair, as this node sees it.
type SyncStatus struct {
	// Role is "sending" (this node holds the group) or "receiving".
	Role string `json:"role"`
	// Ready says the standby holds a complete copy of the active's table
	// (always true while sending).
	Ready bool `json:"ready"`
	// LastFullTable is when the last complete full table was received.
	LastFullTable time.Time `json:"last_full_table"`
	// Lag is the delay between the data plane reporting the last batch
	// of changes and its sending; MaxLag the largest since start.
	Lag    time.Duration `json:"lag_ns"`
	MaxLag time.Duration `json:"max_lag_ns"`
	// Told is how many connections the peer was told about.
	Told int `json:"told"`
	// What the syncer sent, received and refused.
	heartbeat.SyncCounters
}

// HAPeer is the other node of the pair.
type HAPeer struct {
	Name  string `json:"name"`
	Alive bool   `json:"alive"`
	State string `json:"state"` // as the peer last reported it
	// LastHeard is how long ago the peer was last heard (-1 if never).
	LastHeard time.Duration `json:"last_heard_ns"`
}

// HAAddressHeld is one floating address and whether this node holds it.
type HAAddressHeld struct {
	Address   netip.Prefix `json:"address"`
	Interface string       `json:"interface"`
	Held      bool         `json:"held"`
}

// sortStatus orders what a data plane reads back as the configuration
// lists it: services by VIP, port and protocol; each service's real
// servers in desired's order, then any it does not list (being removed) by
// address and port.
func sortStatus(out []ServiceStatus, desired map[ServiceKey]Service) {
	slices.SortFunc(out, func(a, b ServiceStatus) int {
		return cmp.Or(a.VIP.Compare(b.VIP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
	})
	for _, st := range out {
		order := map[RealKey]int{}
		for i, r := range desired[st.ServiceKey].Reals {
			order[RealKey{r.Addr, r.Port}] = i
		}
		rank := func(r RealStatus) int {
			if i, ok := order[RealKey{r.Addr, r.Port}]; ok {
				return i
			}
			return len(order)
		}
		slices.SortFunc(st.Reals, func(a, b RealStatus) int {
			return cmp.Or(cmp.Compare(rank(a), rank(b)), a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
		})
	}
}
