// Package dataplane is the port through which the desired state reaches
// packets: the Dataplane interface every data plane implements (the BPF
// program on XDP or TC in package bpfplane, kernel IPVS in package
// ipvsplane), and small capability interfaces for what only some of them
// have. The daemon drives a Dataplane and asks for a capability with a
// type assertion on the capability's interface, never on an adapter's
// concrete type; an adapter's fields are its own.
package dataplane

import (
	"cmp"
	"net"
	"slices"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// Dataplane is a data plane as the daemon runs it. It is free of BPF and
// IPVS types.
type Dataplane interface {
	// Apply reconciles the data plane to services: the diff is written
	// in an order that never misroutes a packet, and applying the same
	// state twice writes nothing.
	Apply(services []model.Service) error
	// SetTimeouts sets the idle timeouts of tracked connections.
	SetTimeouts(model.Timeouts) error
	// Mode names the data plane ("xdp native", "xdp generic", "tc
	// (tcx)", "ipvs", ...).
	Mode() string
	Observer
	// Describe gives log attributes about how it was opened.
	Describe() []any
	// Remove removes what the data plane programmed (`director stop`);
	// its tracked connections are lost.
	Remove() error
	// Close releases the daemon's handles and leaves the data plane
	// forwarding (a restart adopts it).
	Close() error
}

// Observer is the read side of a data plane, for status and metrics.
type Observer interface {
	// Status reads back services, real servers and counters, ordered as
	// SortStatus orders them.
	Status() ([]model.ServiceStatus, error)
	// Flows lists tracked connections.
	Flows() ([]model.Flow, error)
	// Stats reads the data plane's own counters.
	Stats() (model.DataplaneStats, error)
}

// Hooks is a data plane attached to interfaces (the BPF planes; IPVS
// hooks the whole network stack and has none).
type Hooks interface {
	// Attachments lists the interfaces the data plane is attached to.
	Attachments() []model.InterfaceStatus
	// Fallbacks lists, per interface, the better hooks that could not
	// be used and why.
	Fallbacks() []model.DataplaneFallback
}

// Roles is a data plane that works differently on the active node of an
// HA pair and on the standby (IPVS: its connection sync daemon runs as
// master or backup). Without an ha section SetActive is never called.
type Roles interface {
	// SetActive says whether this node holds the floating addresses.
	SetActive(active bool)
}

// PeerForwarder is a data plane that can hand packets it has no connection
// for to the peer director during a handover window of an HA pair (the
// BPF planes; see docs/ha.md).
type PeerForwarder interface {
	// SetPeerForward opens or closes the handover window.
	SetPeerForward(on bool) error
	// SetPeerLinks sets, per interface index of this node, where the
	// peer is on that link; interfaces not listed have no peer.
	SetPeerLinks(links map[int]PeerLink) error
}

// PeerLink is the peer director's MAC on one of this node's links, and
// this node's interface MAC there.
type PeerLink struct {
	PeerMAC, OwnMAC net.HardwareAddr
}

// SyncTables is a data plane with a flow table of its own that conntrack
// sync (package heartbeat) can read and fill: the BPF planes. IPVS syncs
// through its own sync daemon instead.
type SyncTables interface {
	// SetSyncEvents turns the data plane's change notifications on or
	// off; they cost work on the packet path, so they are on only while
	// a sync table is open.
	SetSyncEvents(on bool) error
	// OpenSyncTable opens the flow table for conntrack sync.
	OpenSyncTable() (SyncTable, error)
}

// SyncTable is the flow table as conntrack sync reads and fills it.
type SyncTable interface {
	heartbeat.SyncTable
	// Close releases the table's readers.
	Close() error
}

// SortFlows orders connections as `ipvsadm -Lnc` users expect to scan
// them: by virtual service, then by client.
func SortFlows(flows []model.Flow) {
	slices.SortFunc(flows, func(a, b model.Flow) int {
		return cmp.Or(a.VIP.Compare(b.VIP), a.Client.Compare(b.Client))
	})
}

// ByKey indexes services by their keys.
func ByKey(services []model.Service) map[model.ServiceKey]model.Service {
	out := make(map[model.ServiceKey]model.Service, len(services))
	for _, s := range services {
		out[s.Key()] = s
	}
	return out
}

// SortStatus orders what a data plane reads back as the configuration
// lists it: services by VIP, port and protocol; each service's real
// servers in desired's order, then any it does not list (being removed) by
// address and port.
func SortStatus(out []model.ServiceStatus, desired map[model.ServiceKey]model.Service) {
	slices.SortFunc(out, func(a, b model.ServiceStatus) int {
		return cmp.Or(a.VIP.Compare(b.VIP), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Proto, b.Proto))
	})
	for _, st := range out {
		order := map[model.RealKey]int{}
		for i, r := range desired[st.ServiceKey].Reals {
			order[r.Key()] = i
		}
		rank := func(r model.RealStatus) int {
			if i, ok := order[r.Key()]; ok {
				return i
			}
			return len(order)
		}
		slices.SortFunc(st.Reals, func(a, b model.RealStatus) int {
			return cmp.Or(cmp.Compare(rank(a), rank(b)), a.Addr.Compare(b.Addr), cmp.Compare(a.Port, b.Port))
		})
	}
}
