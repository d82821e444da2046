package bpf

// The HA pair's handover window in the data plane (see peer_forward in
// director.h): the flag that opens it (dp_config.peer_forward) and the
// peer director's MAC per link of this node (peer_links).

import (
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
)

// PeerLink is the value of the peer_links map.
type PeerLink = directorPeerLink

// PathPeerForward counts packets handed to the peer director in a handover
// window.
const PathPeerForward = directorPktPathPATH_PEER_FORWARD

// NewPeerLink builds a peer_links value from the peer's MAC on a link and
// this node's interface MAC there. Both must be 6-byte unicast addresses.
func NewPeerLink(peer, own net.HardwareAddr) (PeerLink, error) {
	var l PeerLink
	for _, a := range []struct {
		what string
		hw   net.HardwareAddr
	}{{"peer", peer}, {"own", own}} {
		if len(a.hw) != 6 {
			return l, fmt.Errorf("peer link: %s MAC %q is not a 6-byte Ethernet address", a.what, a.hw)
		}
		if a.hw[0]&1 != 0 || [6]byte(a.hw) == [6]byte{} {
			return l, fmt.Errorf("peer link: %s MAC %s is not a unicast address", a.what, a.hw)
		}
	}
	copy(l.PeerMac[:], peer)
	copy(l.OwnMac[:], own)
	return l, nil
}

// SetPeerForward opens (on) or closes the handover window.
func (m *Maps) SetPeerForward(on bool) error {
	m.cfgMu.Lock()
	defer m.cfgMu.Unlock()
	c, err := m.readConfig()
	if err != nil {
		return err
	}
	c.PeerForward = 0
	if on {
		c.PeerForward = 1
	}
	if err := m.config.Put(uint32(0), c); err != nil {
		return fmt.Errorf("put config: %w", err)
	}
	return nil
}

// PeerForward says whether the handover window is open.
func (m *Maps) PeerForward() (bool, error) {
	c, err := m.readConfig()
	return c.PeerForward != 0, err
}

// SetPeerLinks makes peer_links hold exactly links (ifindex -> addresses).
func (m *Maps) SetPeerLinks(links map[uint32]PeerLink) error {
	var stale []uint32
	var k uint32
	var v PeerLink
	it := m.peerLinks.Iterate()
	for it.Next(&k, &v) {
		if _, ok := links[k]; !ok {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read peer links: %w", err)
	}
	for _, k := range stale {
		if err := m.peerLinks.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete peer link %d: %w", k, err)
		}
	}
	for k, v := range links {
		if err := m.peerLinks.Put(k, v); err != nil {
			return fmt.Errorf("put peer link %d: %w", k, err)
		}
	}
	return nil
}

// PeerLinks reads peer_links.
func (m *Maps) PeerLinks() (map[uint32]PeerLink, error) {
	out := map[uint32]PeerLink{}
	var k uint32
	var v PeerLink
	it := m.peerLinks.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read peer links: %w", err)
	}
	return out, nil
}
