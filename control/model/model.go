// Package model is the director's desired state: virtual services and
// their real servers, the whole validated configuration (Config: data
// plane, timeouts, health checks, the HA pair and its resources), the
// registry of schedulers, and the status types that the data planes, the
// control API and the metrics report.
//
// It imports no other package of the project, so that every other
// package can depend on it and it on none of them.
package model

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Service is one virtual service, as `ipvsadm -A` plus its `ipvsadm -a`
// lines.
type Service struct {
	VIP   netip.Addr `json:"vip"`
	Port  uint16     `json:"port"`
	Proto Proto      `json:"protocol"`
	// Scheduler names one of Schedulers (ipvsadm's -s).
	Scheduler string `json:"scheduler"`
	// SchedFlags are IPVS's scheduler flags (ipvsadm -b), comma-separated names: sh-fallback, sh-port, mh-fallback, mh-port.
	SchedFlags string `json:"scheduler_flags,omitempty"`
	// Persistence is ipvsadm's -p/-M; a zero Timeout means not persistent.
	Persistence Persistence `json:"persistence"`
	// MHTableSize is the size of scheduler mh's Maglev table, one of
	// MHTableSizes; 0 is the default, MHTableSize (see MHSize). Other
	// schedulers ignore it.
	MHTableSize int `json:"mh_table_size,omitempty"`
	// Reals in configuration order (the order of `ipvsadm -a`).
	Reals []RealServer `json:"real_servers"`
}

// RealServer is one real server of a service (masquerading forward).
type RealServer struct {
	Addr           netip.Addr `json:"address"`
	Port           uint16     `json:"port"`
	Weight         uint32     `json:"weight"`          // 0 = quiesced: no new connections, existing ones continue
	UpperThreshold uint32     `json:"upper_threshold"` // ipvsadm -x; 0 = none
	LowerThreshold uint32     `json:"lower_threshold"` // ipvsadm -y; 0 = none
}

// Persistence keeps a client on one real server (ipvsadm -p [timeout] -M
// netmask): new connections from the client's address, masked by Netmask,
// go to the server its previous ones went to, until Timeout after the last
// of them ended. A service that is not persistent has the zero value.
type Persistence struct {
	Timeout time.Duration `json:"timeout"`
	Netmask netip.Addr    `json:"netmask"` // 255.255.255.255 when unset
}

// DefaultPersistenceTimeout is ipvsadm's -p without a value: 300 s.
const DefaultPersistenceTimeout = 300 * time.Second

// HostNetmask is the persistence netmask when none is given: every client
// address on its own.
var HostNetmask = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// Persistent says whether the service keeps clients on their server.
func (s Service) Persistent() bool { return s.Persistence.Timeout > 0 }

// Proto is a service's transport protocol.
type Proto uint8

// Protocols, by IP protocol number.
const (
	TCP Proto = 6
	UDP Proto = 17
)

// Protos are the protocols a service can have.
var Protos = []Proto{TCP, UDP}

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

// Upper is the protocol as ipvsadm and node_exporter's IPVS collector
// write it: "TCP", "UDP".
func (p Proto) Upper() string { return strings.ToUpper(p.String()) }

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

// Key returns the real server's key.
func (r RealServer) Key() RealKey { return RealKey{r.Addr, r.Port} }

func (k RealKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Timeouts are the idle timeouts of tracked connections by state, as
// `ipvsadm --set tcp tcpfin udp` (plus the SYN state).
type Timeouts struct {
	SYN         time.Duration `json:"tcp_syn"`
	Established time.Duration `json:"tcp"`
	FIN         time.Duration `json:"tcp_fin"`
	UDP         time.Duration `json:"udp"`
}

// DefaultTimeouts are IPVS's: tcp 900s, tcp_fin 120s, udp 300s, tcp_syn
// 60s.
var DefaultTimeouts = Timeouts{
	SYN:         60 * time.Second,
	Established: 900 * time.Second,
	FIN:         120 * time.Second,
	UDP:         300 * time.Second,
}

// DefaultSocketDir holds the daemons' control sockets, <node>.sock.
const DefaultSocketDir = "/run/director"
