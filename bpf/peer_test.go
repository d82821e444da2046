package bpf

// The handover window (peer_forward in director.h): in the window a packet
// without a flow that would go to this node's stack goes to the peer
// director's MAC on the same link; outside it, and for a frame that came
// from the peer, nothing changes. Through both entry points.

import (
	"net"
	"testing"
)

var (
	macPeerPub = mac("02:00:00:00:56:0c")
	macPeerInt = mac("02:00:00:00:c8:fc")
	lbInt      = ip4("192.168.200.251")
)

// peerEnv is seedEnv with the peer's MACs on both links.
func peerEnv(t *testing.T, ent entry) *fibEnv {
	e := seedEnv(t, ent)
	pub, err := NewPeerLink(macPeerPub, macPub)
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewPeerLink(macPeerInt, macInt)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.maps.SetPeerLinks(map[uint32]PeerLink{uint32(e.pub): pub, uint32(e.inter): in}); err != nil {
		t.Fatal(err)
	}
	return e
}

// toPeer is s as sent to the peer: only the MACs change.
func toPeer(s pktSpec, own, peer net.HardwareAddr) pktSpec {
	s.srcMAC, s.dstMAC = own, peer
	return s
}

// txVerdict is the verdict of a frame sent back out of its interface:
// XDP_TX, or TC's bpf_redirect.
func txVerdict(ent entry) uint32 {
	if ent == entryTC {
		return xdpRedirect
	}
	return xdpTX
}

func TestPeerForwardInHandoverWindow(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := peerEnv(t, ent)
		ack := clientSYN(42000)
		ack.tcpFlags = tcpACK
		ack.payload = []byte("GET / HTTP/1.0\r\n\r\n")
		synack := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: rip1, dst: client, ttl: 64, proto: ProtoTCP,
			sport: 80, dport: 42001, tcpFlags: tcpSYN | tcpACK, seq: 5000}
		udp := pktSpec{srcMAC: macRip2, dstMAC: macInt, src: rip2, dst: client, ttl: 64, proto: ProtoUDP,
			sport: 5353, dport: 42002, payload: []byte("answer")}

		// Outside the window: today's paths, frames untouched.
		e.check(t, "ack, window closed", e.pub, ack.frame(), xdpPass, PathTCPNotSYN, ack.frame())
		e.check(t, "syn-ack, window closed", e.inter, synack.frame(), xdpPass, PathNoService, synack.frame())

		if err := e.maps.SetPeerForward(true); err != nil {
			t.Fatal(err)
		}
		if on, err := e.maps.PeerForward(); err != nil || !on {
			t.Fatalf("PeerForward() = %v, %v after SetPeerForward(true)", on, err)
		}
		// (a) TCP to a service, no flow, not a SYN: to the peer on the
		// public link, TTL and payload unchanged.
		e.check(t, "ack in window", e.pub, ack.frame(), txVerdict(ent), PathPeerForward,
			toPeer(ack, macPub, macPeerPub).frame())
		rst := ack
		rst.tcpFlags, rst.payload = tcpRST, nil
		e.check(t, "rst in window", e.pub, rst.frame(), txVerdict(ent), PathPeerForward,
			toPeer(rst, macPub, macPeerPub).frame())
		// (b) TCP and UDP from a real server, no flow: to the peer on the
		// internal link.
		e.check(t, "syn-ack in window", e.inter, synack.frame(), txVerdict(ent), PathPeerForward,
			toPeer(synack, macInt, macPeerInt).frame())
		e.check(t, "udp reply in window", e.inter, udp.frame(), txVerdict(ent), PathPeerForward,
			toPeer(udp, macInt, macPeerInt).frame())

		// Never back to the peer: the same frames from the peer's MAC
		// take today's paths.
		fromPeer := ack
		fromPeer.srcMAC = macPeerPub
		e.check(t, "ack from the peer", e.pub, fromPeer.frame(), xdpPass, PathTCPNotSYN, fromPeer.frame())
		synackPeer := synack
		synackPeer.srcMAC = macPeerInt
		e.check(t, "syn-ack from the peer", e.inter, synackPeer.frame(), xdpPass, PathNoService, synackPeer.frame())

		// What stays here in the window: a real server's packet to this
		// node's own address (a health check's reply), a packet from an
		// address that is no real server, and a SYN, which is scheduled.
		check := synack
		check.dst, check.dport = lbInt, 33000
		e.check(t, "health check reply", e.inter, check.frame(), xdpPass, PathNoService, check.frame())
		other := pktSpec{srcMAC: macOther, dstMAC: macInt, src: router, dst: client, ttl: 64, proto: ProtoUDP,
			sport: 53, dport: 42003, payload: []byte("x")}
		e.check(t, "not a real server", e.inter, other.frame(), xdpPass, PathNoService, other.frame())
		syn := clientSYN(42004)
		e.check(t, "syn in window", e.pub, syn.frame(), xdpRedirect, PathNewFlow,
			toReal(syn, "192.168.200.11", macRip1, 80).frame())
		// A tracked connection is forwarded as always.
		ack4 := syn
		ack4.tcpFlags = tcpACK
		e.check(t, "tracked ack in window", e.pub, ack4.frame(), xdpRedirect, PathForward,
			toReal(ack4, "192.168.200.11", macRip1, 80).frame())

		// A first fragment keeps today's path (its other fragments
		// follow what the first did, which knows no peer).
		frag := udp
		frag.fragOff = 0x2000 // MF
		e.check(t, "first fragment in window", e.inter, frag.frame(), xdpPass, PathNoService, frag.frame())

		// A link without a peer entry keeps today's path.
		if err := e.maps.SetPeerLinks(map[uint32]PeerLink{}); err != nil {
			t.Fatal(err)
		}
		e.check(t, "ack, no peer on the link", e.pub, ack.frame(), xdpPass, PathTCPNotSYN, ack.frame())

		// Window closed again: back to today's paths.
		e = peerEnv(t, ent)
		if err := e.maps.SetPeerForward(true); err != nil {
			t.Fatal(err)
		}
		if err := e.maps.SetPeerForward(false); err != nil {
			t.Fatal(err)
		}
		e.check(t, "ack, window closed again", e.pub, ack.frame(), xdpPass, PathTCPNotSYN, ack.frame())
	})
}

func TestNewPeerLinkRefusesBadMACs(t *testing.T) {
	for _, c := range []struct {
		name      string
		peer, own net.HardwareAddr
	}{
		{"short", net.HardwareAddr{2, 0, 0}, macPub},
		{"multicast peer", mac("01:00:5e:00:00:01"), macPub},
		{"broadcast own", macPeerPub, mac("ff:ff:ff:ff:ff:ff")},
		{"zero", mac("00:00:00:00:00:00"), macPub},
	} {
		if _, err := NewPeerLink(c.peer, c.own); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := NewPeerLink(macPeerPub, macPub); err != nil {
		t.Errorf("good link refused: %v", err)
	}
}
