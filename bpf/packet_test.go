package bpf

// A small packet builder for the tests: Ethernet + IPv4 (+ options,
// fragments) + TCP/UDP/ICMP, with every checksum computed from scratch.
// Expected outputs are built with it independently of the program's
// incremental updates, so a wrong incremental checksum shows as a byte
// difference.

import (
	"encoding/binary"
	"net"
	"net/netip"
)

type pktSpec struct {
	srcMAC, dstMAC net.HardwareAddr
	src, dst       netip.Addr
	ttl            uint8
	tos            uint8
	id             uint16
	proto          uint8
	sport, dport   uint16
	tcpFlags       uint8
	seq            uint32
	payload        []byte
	options        []byte // IP options, multiple of 4 bytes
	fragOff        uint16 // flags+offset field, host order (0x2000 = MF)
	noUDPCsum      bool
	// ICMP
	icmpType, icmpCode uint8
	icmpRest           uint32
	inner              []byte // ICMP payload: the quoted IP packet
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// csum is the Internet checksum of b (RFC 1071), folded and complemented.
func csum(parts ...[]byte) uint16 {
	var sum uint32
	var odd bool
	var last byte
	for _, b := range parts {
		for _, c := range b {
			if odd {
				sum += uint32(last)<<8 | uint32(c)
			} else {
				last = c
			}
			odd = !odd
		}
	}
	if odd {
		sum += uint32(last) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ipPacket builds the IPv4 packet (no Ethernet header).
func (s pktSpec) ipPacket() []byte {
	var l4 []byte
	switch s.proto {
	case ProtoTCP:
		l4 = make([]byte, 20+len(s.payload))
		binary.BigEndian.PutUint16(l4[0:], s.sport)
		binary.BigEndian.PutUint16(l4[2:], s.dport)
		binary.BigEndian.PutUint32(l4[4:], s.seq)
		l4[12] = 5 << 4
		l4[13] = s.tcpFlags
		binary.BigEndian.PutUint16(l4[14:], 65535)
		copy(l4[20:], s.payload)
	case ProtoUDP:
		l4 = make([]byte, 8+len(s.payload))
		binary.BigEndian.PutUint16(l4[0:], s.sport)
		binary.BigEndian.PutUint16(l4[2:], s.dport)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		copy(l4[8:], s.payload)
	case 1: // ICMP
		l4 = make([]byte, 8+len(s.inner))
		l4[0], l4[1] = s.icmpType, s.icmpCode
		binary.BigEndian.PutUint32(l4[4:], s.icmpRest)
		copy(l4[8:], s.inner)
		binary.BigEndian.PutUint16(l4[2:], csum(l4))
	default:
		l4 = append([]byte(nil), s.payload...)
	}
	src, dst := s.src.As4(), s.dst.As4()
	if s.fragOff&0x1fff == 0 {
		pseudo := make([]byte, 12)
		copy(pseudo[0:], src[:])
		copy(pseudo[4:], dst[:])
		pseudo[9] = s.proto
		binary.BigEndian.PutUint16(pseudo[10:], uint16(len(l4)))
		switch s.proto {
		case ProtoTCP:
			binary.BigEndian.PutUint16(l4[16:], csum(pseudo, l4))
		case ProtoUDP:
			if !s.noUDPCsum {
				c := csum(pseudo, l4)
				if c == 0 {
					c = 0xffff
				}
				binary.BigEndian.PutUint16(l4[6:], c)
			}
		}
	}
	hl := 20 + len(s.options)
	ip := make([]byte, hl+len(l4))
	ip[0] = 0x40 | byte(hl/4)
	ip[1] = s.tos
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[4:], s.id)
	binary.BigEndian.PutUint16(ip[6:], s.fragOff)
	ip[8] = s.ttl
	ip[9] = s.proto
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	copy(ip[20:], s.options)
	binary.BigEndian.PutUint16(ip[10:], csum(ip[:hl]))
	copy(ip[hl:], l4)
	return ip
}

// frame builds the Ethernet frame.
func (s pktSpec) frame() []byte {
	ip := s.ipPacket()
	f := make([]byte, 14+len(ip))
	copy(f[0:], s.dstMAC)
	copy(f[6:], s.srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	copy(f[14:], ip)
	return f
}

func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func ip4(s string) netip.Addr { return netip.MustParseAddr(s) }
