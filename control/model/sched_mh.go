package model

// mh: Maglev hashing (Eisenbud et al., NSDI 2016), as in IPVS's mh and
// the XDP load balancers. The service keeps a lookup table of
// Service.MHSize() entries (a prime of MHTableSizes, MHTableSize unless the
// configuration says otherwise); each real server with a positive weight has a
// permutation of the table, from two hashes of its address and port
// (offset, skip), and the servers take turns claiming the next free entry
// of their permutation, a server of reduced weight r (weight / gcd)
// claiming r entries per turn, until the table is full. A new connection
// goes to the entry MHHash(client address, port) mod the table size (port
// 0 unless mh-port). Because a server's permutation depends only on its
// own identity, removing or adding one server moves few clients of the
// others, and every director with the same servers builds the same table.
//
// IPVS's mh hashes with a siphash keyed per boot, so its choices cannot be
// reproduced; the tests check Maglev's properties instead (load shares
// follow the weights, little disruption).

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
)

// MHTableSize is the lookup table's default size: IPVS's default (its
// CONFIG_IP_VS_MH_TAB_INDEX 12).
const MHTableSize = 4093

// MHTableSizes are the sizes a table may have: the primes IPVS's mh offers,
// one per value of its CONFIG_IP_VS_MH_TAB_INDEX, 8 to 17 in order. The
// BPF program's walk is bounded by the largest (sched.h's MH_MAX_TABLE).
var MHTableSizes = []int{251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071}

// mhFirstTabIndex is the CONFIG_IP_VS_MH_TAB_INDEX of MHTableSizes[0].
const mhFirstTabIndex = 8

// MHTabIndex returns the CONFIG_IP_VS_MH_TAB_INDEX of a table size, or
// false when size is not one of MHTableSizes.
func MHTabIndex(size int) (int, bool) {
	i := slices.Index(MHTableSizes, size)
	return mhFirstTabIndex + i, i >= 0
}

// MHTableSizeList writes MHTableSizes for a reason: "251, 509, ... or
// 131071".
func MHTableSizeList() string {
	names := make([]string, len(MHTableSizes))
	for i, n := range MHTableSizes {
		names[i] = strconv.Itoa(n)
	}
	return JoinNames(names, "or")
}

// MHSize is the size of the service's Maglev table: MHTableSize when it
// sets none.
func (s Service) MHSize() int {
	if s.MHTableSize == 0 {
		return MHTableSize
	}
	return s.MHTableSize
}

// checkMHSize says why size cannot be a table's size.
func checkMHSize(size int) error {
	if _, ok := MHTabIndex(size); !ok {
		return fmt.Errorf("scheduler %s: table size %d is not one of IPVS's (%s)", SchedMH, size,
			MHTableSizeList())
	}
	return nil
}

// MHHash is the client's hash: murmur3's 32-bit finalizer of address plus
// port in host order (the BPF program computes the same).
func MHHash(addr [4]byte, port uint16) uint32 {
	h := binary.BigEndian.Uint32(addr[:]) + uint32(port)
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// mhPermutation returns a server's offset and skip in a table of size m.
func mhPermutation(k RealKey, m uint32) (uint32, uint32) {
	h := fnv.New64a()
	b := k.Addr.As4()
	_, _ = h.Write(b[:]) // a hash.Hash never fails
	_ = binary.Write(h, binary.BigEndian, k.Port)
	s := h.Sum64()
	return uint32(s) % m, uint32(s>>32)%(m-1) + 1
}

// MaglevTable builds the lookup table of size m (a prime) for servers
// (their keys and weights, in IPVS list order): each entry is a list
// index. Servers of weight 0 take no entry; with none positive the table
// is empty.
func MaglevTable(keys []RealKey, weights []uint32, m int) []uint32 {
	pos := positiveServers(weights)
	if len(pos) == 0 || m < 2 {
		return nil
	}
	var g uint32
	for _, i := range pos {
		g = scheduleGCD(g, weights[i])
	}
	offset := make([]uint32, len(pos))
	skip := make([]uint32, len(pos))
	next := make([]uint32, len(pos))
	for j, i := range pos {
		offset[j], skip[j] = mhPermutation(keys[i], uint32(m))
	}
	table := make([]uint32, m)
	taken := make([]bool, m)
	filled := 0
	for filled < m {
		for j, i := range pos {
			for turn := uint32(0); turn < weights[i]/g && filled < m; turn++ {
				// The next entry of j's permutation that is free.
				for {
					e := (uint64(offset[j]) + uint64(next[j])*uint64(skip[j])) % uint64(m)
					next[j]++
					if !taken[e] {
						taken[e] = true
						table[e] = i
						filled++
						break
					}
				}
			}
		}
	}
	return table
}

// PickMH is mh's choice for a client with a table of MaglevTable: the list
// index of its server, or -1. available says whether the server at a list
// index can take a connection; with fallback the following entries are
// tried in turn.
func PickMH(table []uint32, available func(int) bool, addr [4]byte, port uint16, fallback bool) int {
	if len(table) == 0 {
		return -1
	}
	h := int(MHHash(addr, port) % uint32(len(table)))
	if s := int(table[h]); available(s) {
		return s
	} else if !fallback {
		return -1
	}
	for i := 1; i < len(table); i++ {
		if s := int(table[(h+i)%len(table)]); available(s) {
			return s
		}
	}
	return -1
}

// expandMH is mh's Scheduler.Keyed: the table of size entries (one of
// MHTableSizes; 0 is MHTableSize).
func expandMH(keys []RealKey, weights []uint32, size, maxLen int) ([]uint32, error) {
	if size == 0 {
		size = MHTableSize
	}
	if err := checkMHSize(size); err != nil {
		return nil, err
	}
	if maxLen < size {
		return nil, scheduleTooLong(SchedMH, uint64(size), maxLen)
	}
	return MaglevTable(keys, weights, size), nil
}
