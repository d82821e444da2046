// Package control is the director's control plane: the desired state
// (services and their real servers), and the Dataplane port through which
// that state reaches packets, with a BPF adapter (this package's
// bpfdataplane.go) and, later, an IPVS one.
package control

import (
	"fmt"
	"net/netip"
	"time"
)

// Service is one virtual service, as `ipvsadm -A` plus its `ipvsadm -a`
// lines.
type Service struct {
	VIP   netip.Addr
	Port  uint16
	Proto Proto
	// Scheduler is "rr" or "wrr".
	Scheduler string
	// Reals in configuration order (the order of `ipvsadm -a`).
	Reals []RealServer
}

// RealServer is one real server of a service (masquerading forward).
type RealServer struct {
	Addr   netip.Addr
	Port   uint16
	Weight uint32 // 0 = quiesced: no new connections, existing ones continue
}

// Proto is a service's transport protocol.
type Proto uint8

// Protocols, by IP protocol number.
const (
	TCP Proto = 6
	UDP Proto = 17
)

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
	VIP   netip.Addr
	Port  uint16
	Proto Proto
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
	SYN, Established, FIN, UDP time.Duration
}

// Counters are traffic counters of a service or real server.
type Counters struct {
	PacketsIn, BytesIn, PacketsOut, BytesOut, Connections uint64
}

// RealStatus is a real server as the data plane has it.
type RealStatus struct {
	RealServer
	Counters
	// ActiveConns are established TCP connections, InactiveConns the
	// others (as ipvsadm's ActiveConn / InActConn).
	ActiveConns, InactiveConns uint64
}

// ServiceStatus is a service as the data plane has it.
type ServiceStatus struct {
	ServiceKey
	Scheduler string
	Counters
	Reals []RealStatus
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
	Proto  Proto
	Client netip.AddrPort
	VIP    netip.AddrPort
	Real   netip.AddrPort
	// State is "SYN", "ESTABLISHED", "FIN" (also after RST) or "UDP".
	State string
	// Expires is the time left before the flow expires if idle.
	Expires time.Duration
}

// DataplaneStats are the data plane's own counters.
type DataplaneStats struct {
	// Mode names the data plane ("xdp native", "xdp generic", ...).
	Mode string
	// Packets counts packets by what happened to them (path name, see the
	// README's packet rules), Verdicts by verdict (pass, drop, forward).
	Packets  map[string]uint64
	Verdicts map[string]uint64
	// Drops is the subset of Packets whose verdict is drop.
	Drops map[string]uint64
	// FlowEntries is the number of flow-table entries (two per
	// connection), FlowCapacity the table's size.
	FlowEntries, FlowCapacity int
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
