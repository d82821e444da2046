package daemon

// The data plane's handover window (see docs/ha.md, "Planned moves"):
// while a resource group moves between the two directors, both forward,
// and a connection opened in that instant may send its packets to both;
// the node without the connection hands such packets to its peer at layer
// 2 instead of its own stack. This file opens and closes the window from
// the groups' heartbeats and maps the peer's link advertisements (the MAC
// of its interface carrying each group address) to this node's
// interfaces.

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// minHandoverSettle is the least time the window stays open after the
// last group stopped moving.
const minHandoverSettle = 2 * time.Second

// handoverSettle is how long the window stays open after a move ended:
// the connections opened during the move must reach both flow tables by
// sync (3-215 ms measured) and the ARP caches of clients and real servers
// must all have followed the gratuitous ARPs, including a SYN the client
// retransmits after its first RTO (1 s). 2 × deadtime also covers the peer
// noticing the end of the move by its heartbeats.
func handoverSettle(deadtime time.Duration) time.Duration {
	return max(minHandoverSettle, 2*deadtime)
}

// ownLink is this node's interface carrying a group address.
type ownLink struct {
	name  string
	index int
	mac   net.HardwareAddr
}

// handoverWindow drives dataplane.PeerForwarder from the groups' nodes.
type handoverWindow struct {
	fw     dataplane.PeerForwarder
	settle time.Duration
	log    *slog.Logger
	own    map[netip.Addr]ownLink // each group address -> this node's interface

	mu       sync.Mutex
	open     []bool               // per group: moving
	peer     [][]heartbeat.LinkAd // per group: the peer's advertisements
	heard    []bool               // per group: the peer was heard
	on       bool                 // the data plane's window is open
	timer    *time.Timer          // closes the window after settle
	timerGen int                  // which timer is current: an older one that fired late does nothing
	stopped  bool
	warnedNo bool // "the peer advertises no links" was logged
	applied  string
}

// newHandoverWindow finds this node's interface for every group address
// and returns the window and the advertisements of each group (for its
// heartbeats). An address whose interface is missing or has no Ethernet
// address is not advertised (logged).
func newHandoverWindow(cfg *model.HAConfig, fw dataplane.PeerForwarder, log *slog.Logger) (*handoverWindow, [][]heartbeat.LinkAd) {
	w := &handoverWindow{fw: fw, settle: handoverSettle(cfg.Deadtime), log: log, own: map[netip.Addr]ownLink{},
		open: make([]bool, len(cfg.Groups)), peer: make([][]heartbeat.LinkAd, len(cfg.Groups)),
		heard: make([]bool, len(cfg.Groups))}
	ads := make([][]heartbeat.LinkAd, len(cfg.Groups))
	for i, g := range cfg.Groups {
		for _, a := range g.Addresses {
			addr := a.Prefix.Addr()
			ifi, err := net.InterfaceByName(a.Interface)
			if err != nil || len(ifi.HardwareAddr) != 6 {
				log.Warn("ha: peer forwarding: interface not advertised (no Ethernet address)", "interface", a.Interface,
					"address", addr, "error", err)
				continue
			}
			ad := heartbeat.LinkAd{Addr: addr, MAC: [6]byte(ifi.HardwareAddr)}
			if ad.Check() != nil || len(ads[i]) >= heartbeat.MaxLinkAds {
				continue
			}
			w.own[addr] = ownLink{name: ifi.Name, index: ifi.Index, mac: ifi.HardwareAddr}
			ads[i] = append(ads[i], ad)
		}
	}
	return w, ads
}

// set records whether group i is moving, and whether its peer is alive.
// The window opens at once; it closes settle after the last group stopped
// moving, or at once when the peer is not alive (nobody to hand to).
func (w *handoverWindow) set(i int, open, peerAlive bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.open[i] = open
	anyOpen := false
	for _, o := range w.open {
		anyOpen = anyOpen || o
	}
	switch {
	case anyOpen:
		if w.timer != nil {
			w.timer.Stop()
			w.timer = nil
		}
		if !w.on {
			w.apply(true, "a resource group is moving between the nodes")
		}
	case !w.on:
	case !peerAlive:
		if w.timer != nil {
			w.timer.Stop()
			w.timer = nil
		}
		w.apply(false, "the peer is not alive")
	case w.timer == nil:
		w.timerGen++
		gen := w.timerGen
		w.timer = time.AfterFunc(w.settle, func() { w.expire(gen) })
	}
}

// expire closes the window once settle has passed without a move, if
// timer gen is still the current one.
func (w *handoverWindow) expire(gen int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen != w.timerGen {
		return
	}
	w.timer = nil
	for _, o := range w.open {
		if o {
			return
		}
	}
	if w.on && !w.stopped {
		w.apply(false, fmt.Sprintf("settled (%v after the move)", w.settle))
	}
}

// apply writes the flag; called with mu held.
func (w *handoverWindow) apply(on bool, why string) {
	if err := w.fw.SetPeerForward(on); err != nil {
		w.log.Error("ha: peer forwarding: set the handover window", "open", on, "error", err)
		return
	}
	w.on = on
	w.log.Info("ha: handover window", "open", on, "reason", why)
}

// setPeerLinks records the peer's advertisements for group i and writes
// the union of all groups' into the data plane: each advertised address
// that this node has too gives the peer's MAC on this node's interface
// for it.
func (w *handoverWindow) setPeerLinks(i int, links []heartbeat.LinkAd) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.peer[i], w.heard[i] = links, true
	out := map[int]dataplane.PeerLink{}
	desc := ""
	none := true
	for _, ads := range w.peer {
		for _, ad := range ads {
			none = false
			own, ok := w.own[ad.Addr]
			if !ok {
				continue // an address this node does not have, or no MAC of its own
			}
			mac := net.HardwareAddr(ad.MAC[:])
			if prev, dup := out[own.index]; dup {
				if prev.PeerMAC.String() != mac.String() {
					w.log.Warn("ha: peer forwarding: the peer advertises two MACs on one link; keeping the first",
						"interface", own.name, "first", prev.PeerMAC, "other", mac, "address", ad.Addr)
				}
				continue
			}
			out[own.index] = dataplane.PeerLink{PeerMAC: mac, OwnMAC: own.mac}
			desc += fmt.Sprintf(" %s->%s", own.name, mac)
		}
	}
	if none {
		if !w.warnedNo {
			w.warnedNo = true
			w.log.Warn("ha: peer forwarding: the peer advertises no interface (a release without it?): no peer forwarding in handovers")
		}
	} else {
		w.warnedNo = false
	}
	if desc == w.applied {
		return
	}
	if err := w.fw.SetPeerLinks(out); err != nil {
		w.log.Error("ha: peer forwarding: write the peer's links", "error", err)
		return
	}
	w.applied = desc
	w.log.Info("ha: peer forwarding: the peer's links", "links", desc)
}

// stop closes the window for good (the heartbeat stopped).
func (w *handoverWindow) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if w.on {
		w.apply(false, "heartbeat stopped")
	}
}
