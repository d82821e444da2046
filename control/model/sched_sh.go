package model

// sh: IPVS's source hashing. The service keeps a table of SHBuckets
// buckets; walking the real servers in IPVS list order (see
// scheduler.go), each takes as many consecutive buckets as its weight (a
// server of weight 0 takes one, which it never serves), round and round
// until the table is full. A new connection goes to the server of bucket
// SHHash(client address, port), port being 0 unless the sh-port flag is
// set. An unavailable server (weight 0 or overloaded) refuses the
// connection, unless sh-fallback is set: then the buckets after the
// client's are tried in turn, (offset + 2*hash) mod SHBuckets for offset
// 0, 1, ... (IPVS adds the hash to the offset twice), stopping at the
// first available server.

import "net/netip"

// SHBuckets is the size of sh's table (IPVS's CONFIG_IP_VS_SH_TAB_BITS 8).
const SHBuckets = 256

// shGoldenRatio is the kernel's GOLDEN_RATIO_32, hash_32's multiplier.
const shGoldenRatio = 0x61C88647

// SHHash is the bucket of a client address (and port, with sh-port):
// the kernel's hash_32 of their sum in host order, on 8 bits.
func SHHash(addr netip.Addr, port uint16) int {
	b := addr.As4()
	a := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	return int((a + uint32(port)) * shGoldenRatio >> (32 - 8))
}

// expandSH is sh's Scheduler.Expand: the bucket table, as indexes into
// weights (IPVS list order). maxLen must leave room for it.
func expandSH(weights []uint32, maxLen int) ([]uint32, error) {
	if len(weights) == 0 {
		return nil, nil
	}
	if maxLen < SHBuckets {
		return nil, scheduleTooLong(SchedSH, SHBuckets, maxLen)
	}
	out := make([]uint32, SHBuckets)
	server, filled := 0, uint32(0)
	for i := range out {
		out[i] = uint32(server)
		if filled++; filled >= weights[server] {
			server = (server + 1) % len(weights)
			filled = 0
		}
	}
	return out, nil
}

// PickSH is sh's choice for a client with the bucket table of expandSH:
// the list index of its server, or -1. available says whether the server
// at a list index can take a connection.
func PickSH(table []uint32, available func(int) bool, addr netip.Addr, port uint16, fallback bool) int {
	if len(table) != SHBuckets {
		return -1
	}
	h := SHHash(addr, port)
	if s := int(table[h]); available(s) {
		return s
	} else if !fallback {
		return -1
	}
	for offset := range SHBuckets {
		if s := int(table[(offset+2*h)%SHBuckets]); available(s) {
			return s
		}
	}
	return -1
}
