package bpf

// Packet tables of fragmented datagrams through the VIP: the fragments after
// the first follow it to the same real server (and the replies' back to the
// client), in every order of arrival; a fragment that arrives before its
// first is dropped and counted.

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// fragments splits the datagram of s (built whole, so its L4 checksum
// covers all of it) into frames whose IP payloads start at the given byte
// offsets (multiples of 8, the first 0). Each keeps s's IP id.
func fragments(s pktSpec, offs []int) [][]byte {
	ip := s.ipPacket()
	hl := int(ip[0]&0x0f) * 4
	payload := ip[hl:]
	var out [][]byte
	for i, off := range offs {
		end := len(payload)
		if i+1 < len(offs) {
			end = offs[i+1]
		}
		h := append([]byte(nil), ip[:hl]...)
		binary.BigEndian.PutUint16(h[2:], uint16(hl+end-off))
		fo := uint16(off / 8)
		if i+1 < len(offs) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], csum(h))
		f := make([]byte, 0, 14+len(h)+end-off)
		f = append(f, s.dstMAC...)
		f = append(f, s.srcMAC...)
		f = append(f, 0x08, 0x00)
		f = append(f, h...)
		f = append(f, payload[off:end]...)
		out = append(out, f)
	}
	return out
}

// permutations of 0..n-1.
func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestFragmentChainsEveryOrder(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		offs := []int{0, 512, 1024}
		for n, order := range permutations(len(offs)) {
			sport := uint16(7000 + n)
			q := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: ProtoUDP,
				id: uint16(100 + n), sport: sport, dport: 53, payload: make([]byte, 1400)}
			for i := range q.payload {
				q.payload[i] = byte(i * 7)
			}
			in := fragments(q, offs)
			// rr over rip1:5353, rip2:5353, starting with rip1.
			addr, rmac := "192.168.200.11", macRip1
			if n%2 == 1 {
				addr, rmac = "192.168.200.12", macRip2
			}
			want := fragments(toReal(q, addr, rmac, 5353), offs)
			firstSeen := false
			for _, i := range order {
				name := fmt.Sprintf("order %v: fragment %d", order, i)
				switch {
				case i == 0:
					e.check(t, name, e.pub, in[0], xdpRedirect, PathNewFlow, want[0])
					firstSeen = true
				case firstSeen:
					e.check(t, name, e.pub, in[i], xdpRedirect, PathFragmentForward, want[i])
				default:
					e.check(t, name+" before the first", e.pub, in[i], xdpDrop, PathFragment, nil)
				}
			}
			// The reply, fragmented by the real server, goes back
			// SNATed, every fragment.
			ans := pktSpec{srcMAC: rmac, dstMAC: macInt, src: ip4(addr), dst: client, ttl: 64, proto: ProtoUDP,
				id: uint16(900 + n), sport: 5353, dport: sport, payload: q.payload}
			back := ans
			back.src, back.sport, back.ttl, back.srcMAC, back.dstMAC = vip, 53, 63, macPub, macClient
			ain, awant := fragments(ans, offs), fragments(back, offs)
			e.check(t, fmt.Sprintf("reply %d first fragment", n), e.inter, ain[0], xdpRedirect, PathReply, awant[0])
			for i := 1; i < len(ain); i++ {
				e.check(t, fmt.Sprintf("reply %d fragment %d", n, i), e.inter, ain[i], xdpRedirect, PathFragmentForward, awant[i])
			}
		}
	})
}

// A fragmented ICMP echo to the VIP is the kernel's to answer: every
// fragment passes unchanged. A fragmented datagram to a non-service port
// of the VIP passes too, once its first fragment has.
func TestFragmentsOfOtherTrafficPass(t *testing.T) {
	forEachEntry(t, func(t *testing.T, ent entry) {
		e := seedEnv(t, ent)
		echo := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: 1, id: 77,
			icmpType: 8, inner: make([]byte, 2000)}
		for i, f := range fragments(echo, []int{0, 1480}) {
			path := PathICMPOther
			if i > 0 {
				path = PathFragmentPass
			}
			e.check(t, fmt.Sprintf("echo fragment %d", i), e.pub, f, xdpPass, path, f)
		}
		other := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: vip, ttl: 64, proto: ProtoUDP, id: 78,
			sport: 5000, dport: 9999, payload: make([]byte, 2000)}
		for i, f := range fragments(other, []int{0, 1480}) {
			path := PathNoService
			if i > 0 {
				path = PathFragmentPass
			}
			e.check(t, fmt.Sprintf("udp to another port, fragment %d", i), e.pub, f, xdpPass, path, f)
		}
	})
}
