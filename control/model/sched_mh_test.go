package model

// Maglev's properties, measured: IPVS's mh hashes with a per-boot siphash
// key, so its picks cannot be reproduced; what matters is that shares
// follow the weights and that a change of servers moves few clients.

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestMHTableSizes(t *testing.T) {
	// IPVS's list: CONFIG_IP_VS_MH_TAB_INDEX 8..17, each a prime near 2^index.
	for i, size := range MHTableSizes {
		idx, ok := MHTabIndex(size)
		if !ok || idx != 8+i || size >= 1<<idx || size < 1<<(idx-1) {
			t.Errorf("size %d: index %d %v", size, idx, ok)
		}
		for d := 2; d*d <= size; d++ {
			if size%d == 0 {
				t.Errorf("size %d is not a prime (%d)", size, d)
			}
		}
	}
	if idx, ok := MHTabIndex(MHTableSize); !ok || idx != 12 {
		t.Errorf("the default is CONFIG_IP_VS_MH_TAB_INDEX %d %v, want 12", idx, ok)
	}
	if _, ok := MHTabIndex(4000); ok {
		t.Error("4000 has an index")
	}
	if got := (Service{}).MHSize(); got != MHTableSize {
		t.Errorf("the default size is %d", got)
	}
	if got := (Service{MHTableSize: 251}).MHSize(); got != 251 {
		t.Errorf("a set size reads %d", got)
	}
}

func mhKeys(n int) []RealKey {
	keys := make([]RealKey, n)
	for i := range keys {
		keys[i] = RealKey{Addr: netip.AddrFrom4([4]byte{192, 168, 200, byte(11 + i)}), Port: 80}
	}
	return keys
}

// mhClients are 100k client addresses, 10.0.0.0 upwards.
func mhClients() [][4]byte {
	out := make([][4]byte, 100000)
	for i := range out {
		out[i] = [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
	}
	return out
}

// mhTestSizes are the table sizes the property tests measure: the default
// and other primes of IPVS's list (mh_table_size), small and large.
var mhTestSizes = []int{MHTableSize, 1021, 16381, 131071}

func TestMaglevLoadFollowsWeights(t *testing.T) {
	for _, size := range mhTestSizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) { testMaglevLoad(t, size) })
	}
}

func testMaglevLoad(t *testing.T, size int) {
	all := func(int) bool { return true }
	for _, weights := range [][]uint32{{1, 1, 1, 1}, {3, 1}, {5, 3, 2, 1, 1}, {1, 0, 2}} {
		keys := mhKeys(len(weights))
		table := MaglevTable(keys, weights, size)
		if len(table) != size {
			t.Fatalf("table of %d entries, want %d", len(table), size)
		}
		var sum uint32
		for _, w := range weights {
			sum += w
		}
		got := make([]int, len(weights))
		clients := mhClients()
		for _, c := range clients {
			got[PickMH(table, all, c, 0, false)]++
		}
		for i, w := range weights {
			share, want := float64(got[i])/float64(len(clients)), float64(w)/float64(sum)
			if d := share - want; d > 0.01 || d < -0.01 {
				t.Errorf("weights %v: server %d got %.4f of the clients, want %.4f (within 0.01)", weights, i, share, want)
			}
		}
		t.Logf("weights %v: clients %v", weights, got)
	}
}

// TestMaglevDisruption removes one of N servers: its clients move, and
// only a small fraction of the others' (Maglev bounds it; it is not zero).
func TestMaglevDisruption(t *testing.T) {
	for _, size := range mhTestSizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) { testMaglevDisruption(t, size) })
	}
}

func testMaglevDisruption(t *testing.T, size int) {
	all := func(int) bool { return true }
	for _, n := range []int{3, 5, 10} {
		keys := mhKeys(n)
		weights := make([]uint32, n)
		for i := range weights {
			weights[i] = 1
		}
		before := MaglevTable(keys, weights, size)
		gone := n / 2
		rest := append(append([]RealKey{}, keys[:gone]...), keys[gone+1:]...)
		after := MaglevTable(rest, weights[:n-1], size)
		moved, others := 0, 0
		for _, c := range mhClients() {
			b := PickMH(before, all, c, 0, false)
			a := PickMH(after, all, c, 0, false)
			if b == gone {
				continue // must move, anywhere
			}
			others++
			if rest[a] != keys[b] {
				moved++
			}
		}
		frac := float64(moved) / float64(others)
		t.Logf("%d servers, one removed: %.2f%% of the other servers' clients moved", n, 100*frac)
		if frac > 0.05 {
			t.Errorf("%d servers: %.2f%% of the other servers' clients moved, want at most 5%%", n, 100*frac)
		}
	}
}

func TestMaglevFallbackAndEmpty(t *testing.T) {
	keys := mhKeys(2)
	table := MaglevTable(keys, []uint32{1, 1}, 251)
	notFirst := func(i int) bool { return i != 0 }
	for i := range 200 {
		c := [4]byte{10, 9, 0, byte(i)}
		plain := PickMH(table, notFirst, c, 0, false)
		fb := PickMH(table, notFirst, c, 0, true)
		if fb != 1 || (plain != -1 && plain != 1) {
			t.Fatalf("%v: plain %d, fallback %d", c, plain, fb)
		}
	}
	if MaglevTable(keys, []uint32{0, 0}, 251) != nil {
		t.Error("a table without a positive weight")
	}
	if _, err := expandMH(keys, []uint32{1, 1}, 0, 100); err == nil {
		t.Error("a schedule limit below the table size was accepted")
	}
	if _, err := expandMH(keys, []uint32{1, 1}, 65521, 65520); err == nil {
		t.Error("a schedule limit below a configured table size was accepted")
	}
	if _, err := expandMH(keys, []uint32{1, 1}, 4000, 1<<20); err == nil ||
		!strings.Contains(err.Error(), "251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521 or 131071") {
		t.Errorf("a table size not in IPVS's list: %v", err)
	}
	for _, size := range []int{0, 251, 131071} {
		got, err := expandMH(keys, []uint32{1, 1}, size, 1<<20)
		want := size
		if size == 0 {
			want = MHTableSize
		}
		if err != nil || len(got) != want {
			t.Errorf("size %d: %d entries, %v; want %d", size, len(got), err, want)
		}
	}
	// The same servers give the same table on every director.
	a, b := MaglevTable(keys, []uint32{2, 1}, MHTableSize), MaglevTable(keys, []uint32{2, 1}, MHTableSize)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("MaglevTable is not deterministic")
	}
}
