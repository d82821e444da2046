package bpf

// The batched walk of the flow table against the entry-by-entry one: the
// same entries, each once, whatever the batch size (a batch smaller than
// a hash bucket makes the kernel answer ENOSPC and the walk grow it), and
// an early stop.

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/director-lb/director/test/testenv"
)

// newFlowMap makes an unpinned map shaped like the flow table, of size
// entries, filled with n distinct forward entries.
func newFlowMap(tb testing.TB, size, n int) *ebpf.Map {
	tb.Helper()
	testenv.RequirePrivileged(tb)
	spec, err := LoadSpec()
	if err != nil {
		tb.Fatal(err)
	}
	ms := spec.Maps["flows"].Copy()
	ms.Pinning = ebpf.PinNone
	ms.MaxEntries = uint32(size)
	m, err := ebpf.NewMap(ms)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	fillFlows(tb, m, n)
	return m
}

// testFlowKey is the i-th distinct key: 10.x.y.z:port -> 192.168.56.10:80.
func testFlowKey(i int) FlowKey {
	return FlowKey{Saddr: uint32(10) | uint32(i>>16&0xff)<<8 | uint32(i>>8&0xff)<<16 | uint32(i&0xff)<<24,
		Daddr: 0x0a38a8c0, Sport: uint16(1024 + i%50000), Dport: 0x5000, Proto: ProtoTCP}
}

// fillFlows writes n entries in batches.
func fillFlows(tb testing.TB, m *ebpf.Map, n int) {
	tb.Helper()
	const chunk = 65536
	keys, vals := make([]FlowKey, 0, chunk), make([]Flow, 0, chunk)
	for i := 0; i < n; i++ {
		keys = append(keys, testFlowKey(i))
		vals = append(vals, Flow{Dir: DirForward, State: StateEstablished, RealId: uint32(i % 7), NatAddr: uint32(i)})
		if len(keys) == chunk || i == n-1 {
			if _, err := m.BatchUpdate(keys, vals, nil); err != nil {
				tb.Fatalf("fill %d flows: %v", n, err)
			}
			keys, vals = keys[:0], vals[:0]
		}
	}
}

func TestWalkBatched(t *testing.T) {
	const n = 5000
	m := newFlowMap(t, 8192, n)
	want := map[FlowKey]uint32{}
	if err := walkIterate(m, func(k []FlowKey, v []Flow) bool {
		want[k[0]] = v[0].NatAddr
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(want) != n {
		t.Fatalf("iterate: %d entries, want %d", len(want), n)
	}
	for _, size := range []int{1, 7, 1000, batchEntries} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			got := map[FlowKey]uint32{}
			err := walkBatchedFrom(m, size, func(keys []FlowKey, vals []Flow) bool {
				for i, k := range keys {
					if _, dup := got[k]; dup {
						t.Errorf("entry %+v seen twice", k)
					}
					got[k] = vals[i].NatAddr
				}
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d entries, want %d", len(got), len(want))
			}
			for k, v := range want {
				if got[k] != v {
					t.Fatalf("entry %+v: value %d, want %d", k, got[k], v)
				}
			}
		})
	}
	t.Run("stop", func(t *testing.T) {
		calls := 0
		if err := walkBatchedFrom(m, 100, func(keys []FlowKey, _ []Flow) bool { calls++; return false }); err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Fatalf("fn called %d times after returning false, want 1", calls)
		}
	})
	t.Run("Maps.Flows", func(t *testing.T) {
		// The established table full, the half-open one empty.
		maps := &Maps{flows: m, halfOpen: newFlowMap(t, 1024, 0)}
		seen := 0
		if err := maps.Flows(func(e FlowEntry) bool {
			if want[e.Key] != e.Value.NatAddr {
				t.Fatalf("entry %+v: value %d, want %d", e.Key, e.Value.NatAddr, want[e.Key])
			}
			seen++
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if seen != n {
			t.Fatalf("Flows: %d entries, want %d", seen, n)
		}
	})
}

// BenchmarkFlowWalk (make bench): reading a flow table of 1M entries
// batch by batch, against Map.Iterate's entry-by-entry walk in the same
// run (the reference arm: what Flows did before batch.go).
func BenchmarkFlowWalk(b *testing.B) {
	const n = 1 << 20
	m := newFlowMap(b, n, n)
	count := func(k []FlowKey, _ []Flow) bool { return true }
	for _, arm := range []struct {
		name string
		walk func() error
	}{
		{"batched", func() error { return walkBatched(m, count) }},
		{"iterate", func() error { return walkIterate(m, count) }},
	} {
		b.Run(arm.name, func(b *testing.B) {
			for range b.N {
				if err := arm.walk(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N), "s/walk")
		})
	}
}
