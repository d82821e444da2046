package model

// The least-connection family's rules, case by case as IPVS documents
// them, and a sequence of connections opened and closed that shows how
// the counts steer consecutive picks.

import (
	"net/netip"
	"slices"
	"testing"
)

func TestPickLeastConn(t *testing.T) {
	type st = ConnState
	for _, c := range []struct {
		name, sched string
		servers     []ConnState
		want        int
	}{
		{"lc: all idle, the first in list order", "lc", []st{{Weight: 1}, {Weight: 1}}, 0},
		{"lc: least overhead", "lc", []st{{Weight: 1, Active: 1}, {Weight: 1, Inactive: 200}}, 1},
		{"lc: one active outweighs 255 inactive", "lc", []st{{Weight: 1, Active: 1}, {Weight: 1, Inactive: 255}}, 1},
		{"lc: 256 inactive equal one active, first wins", "lc", []st{{Weight: 1, Active: 1}, {Weight: 1, Inactive: 256}}, 0},
		{"lc: weight ignored but for 0", "lc", []st{{Weight: 100, Active: 2}, {Weight: 1, Active: 1}, {Weight: 0}}, 1},
		{"lc: overloaded passed over", "lc", []st{{Weight: 1, Overloaded: true}, {Weight: 1, Active: 9}}, 1},
		{"lc: none available", "lc", []st{{Weight: 0}, {Weight: 1, Overloaded: true}}, -1},
		{"wlc: per weight", "wlc", []st{{Weight: 1, Active: 1}, {Weight: 3, Active: 2}}, 1},
		{"wlc: tie keeps the first", "wlc", []st{{Weight: 1, Active: 1}, {Weight: 2, Active: 2}}, 0},
		{"wlc: inactive counts", "wlc", []st{{Weight: 1, Inactive: 3}, {Weight: 1, Inactive: 2}}, 1},
		{"wlc: all idle, the first", "wlc", []st{{Weight: 1}, {Weight: 5}}, 0},
		{"wlc: weight 0 skipped", "wlc", []st{{Weight: 0}, {Weight: 2, Active: 5}}, 1},
		{"sed: idle heavier server wins", "sed", []st{{Weight: 1}, {Weight: 3}}, 1},
		{"sed: (a+1)/w", "sed", []st{{Weight: 1, Active: 1}, {Weight: 3, Active: 4}}, 1},
		{"sed: (a+1)/w tie keeps the first", "sed", []st{{Weight: 1, Active: 1}, {Weight: 3, Active: 5}}, 0},
		{"sed: inactive ignored", "sed", []st{{Weight: 1, Inactive: 50}, {Weight: 1, Active: 1}}, 0},
		{"nq: first idle at once", "nq", []st{{Weight: 5, Active: 1}, {Weight: 1}, {Weight: 9}}, 1},
		{"nq: none idle, as sed", "nq", []st{{Weight: 1, Active: 1}, {Weight: 3, Active: 2}}, 1},
		{"nq: idle but overloaded", "nq", []st{{Weight: 1, Overloaded: true}, {Weight: 1, Active: 3}}, 1},
	} {
		s, _ := LookupScheduler(c.sched)
		if got := s.Pick(c.servers); got != c.want {
			t.Errorf("%s: picked %d, want %d", c.name, got, c.want)
		}
	}
}

// TestPickSequence opens connections one by one (each becomes active at
// once, as an established connection does), closes the first one after
// the sixth pick, and checks the order of picks of each scheduler on
// weights 1, 2, 3 in list order (worked out by hand from the rules).
func TestPickSequence(t *testing.T) {
	for _, c := range []struct {
		sched string
		want  []int
	}{
		{"lc", []int{0, 1, 2, 0, 1, 2, 0, 1}},
		{"wlc", []int{0, 1, 2, 2, 1, 2, 0, 1}},
		{"sed", []int{2, 1, 2, 0, 1, 2, 2, 2}},
		{"nq", []int{0, 1, 2, 2, 1, 2, 0, 2}},
	} {
		s, _ := LookupScheduler(c.sched)
		servers := []ConnState{{Weight: 1}, {Weight: 2}, {Weight: 3}}
		var got []int
		for n := range len(c.want) {
			i := s.Pick(servers)
			got = append(got, i)
			servers[i].Active++
			if n == 5 { // the first connection closes: active -> inactive
				servers[got[0]].Active--
				servers[got[0]].Inactive++
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: picks %v, want %v", c.sched, got, c.want)
		}
	}
}

func TestSourceHashTable(t *testing.T) {
	table, err := expandSH([]uint32{1, 2, 0}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	// Each server takes weight buckets in turn, weight 0 one.
	want := []uint32{0, 1, 1, 2}
	for i := range table {
		if table[i] != want[i%4] {
			t.Fatalf("bucket %d = %d, want %d (table starts %v)", i, table[i], want[i%4], table[:8])
		}
	}
	if _, err := expandSH([]uint32{1}, 100); err == nil {
		t.Error("a schedule limit below 256 buckets was accepted")
	}
	// hash_32(x, 8) of 0.0.0.1 is the top byte of the golden ratio.
	if got := SHHash(netip.MustParseAddr("0.0.0.1"), 0); got != 0x61 {
		t.Errorf("SHHash(0.0.0.1) = %#x, want 0x61", got)
	}
	// sh-port: the port adds to the address before hashing.
	if SHHash(netip.MustParseAddr("0.0.0.1"), 1) != SHHash(netip.MustParseAddr("0.0.0.2"), 0) {
		t.Error("SHHash: address + port is not hashed as one sum")
	}
	avail := func(i int) bool { return i != 1 }
	a := netip.MustParseAddr("192.168.56.100")
	plain := PickSH(table, avail, a, 0, false)
	fb := PickSH(table, avail, a, 0, true)
	if h := SHHash(a, 0); int(table[h]) == 1 {
		if plain != -1 || fb == 1 || fb < 0 {
			t.Errorf("unavailable bucket: plain %d, fallback %d", plain, fb)
		}
	} else if plain != int(table[h]) || fb != plain {
		t.Errorf("available bucket: plain %d, fallback %d, want %d", plain, fb, table[h])
	}
}
