package bpfplane

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/control/model"
)

// mhWant is the schedule region the service's Maglev table must be, as
// real-server addresses: the Go model's table at the service's size, its
// list indexes mapped back to the configuration's servers.
func mhWant(s model.Service) []string {
	order := model.ListOrder(len(s.Reals))
	keys := make([]model.RealKey, len(order))
	weights := make([]uint32, len(order))
	for i, ci := range order {
		keys[i], weights[i] = s.Reals[ci].Key(), s.Reals[ci].Weight
	}
	var out []string
	for _, li := range model.MaglevTable(keys, weights, s.MHSize()) {
		out = append(out, s.Reals[order[li]].Addr.String())
	}
	return out
}

// TestApplyMHTableSize: a service's mh_table_size is the length of the
// Maglev table Apply writes, entry for entry the Go model's; status shows
// it; a reload to another size swaps in a new table while the real-server
// slots (ids, generations) and an established connection's flow entries
// stay as they were, so the connection keeps its server.
func TestApplyMHTableSize(t *testing.T) {
	d, m := newTestPlane(t)
	if err := m.InitClock(250); err != nil {
		t.Fatal(err)
	}
	s := seedService(3, 1)
	s.Scheduler = model.SchedMH
	s.MHTableSize = 8191
	key := bpf.NewSvcKey(tVIP, 80, 6)
	check := func(step string, size int) {
		t.Helper()
		svcs, _ := m.Services()
		v := svcs[key]
		if v.Sched != uint32(bpf.SchedMH) || v.SchedLen != uint32(size) {
			t.Fatalf("%s: service %+v, want scheduler mh, a table of %d", step, v, size)
		}
		if got, want := scheduleAddrs(t, m, s), mhWant(s); !slices.Equal(got, want) {
			t.Errorf("%s: the table written differs from the Go model's", step)
		}
		st, err := d.Status()
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 1 || st[0].MHTableSize != size {
			t.Fatalf("%s: status %+v, want mh_table_size %d", step, st, size)
		}
		b, _ := json.Marshal(st[0])
		if want := fmt.Sprintf(`"mh_table_size":%d`, size); !strings.Contains(string(b), want) {
			t.Errorf("%s: status JSON %s lacks %s", step, b, want)
		}
	}
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	check("size 8191", 8191)

	// An established connection to web1, as the program would have left it.
	realsBefore, _ := m.Reals()
	var id uint32
	for i, r := range realsBefore {
		if bpf.AddrFromBe32(r.Addr) == tWeb1 {
			id = i
		}
	}
	now, err := bpf.Jiffies()
	if err != nil {
		t.Fatal(err)
	}
	r := realsBefore[id]
	fk := bpf.FlowKey{Saddr: bpf.Be32(tVIP.Prev()), Daddr: bpf.Be32(tVIP), Sport: bpf.Be16(40000), Dport: bpf.Be16(80), Proto: 6}
	flow := bpf.Flow{NatAddr: r.Addr, NatPort: r.Port, Dir: bpf.DirForward, State: bpf.StateEstablished, RealId: id,
		RealGen: r.Gen, LastSeen: now, Timeout: 1 << 20}
	if err := m.PutFlow(fk, flow); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		set, size int
	}{{131071, 131071}, {0, model.MHTableSize}, {251, 251}} {
		s.MHTableSize = c.set
		if err := d.Apply([]model.Service{s}); err != nil {
			t.Fatalf("reload to size %d: %v", c.set, err)
		}
		step := fmt.Sprintf("reload to size %d", c.size)
		check(step, c.size)
		if reals, _ := m.Reals(); !maps.Equal(reals, realsBefore) {
			t.Errorf("%s: real-server slots changed: %v -> %v", step, realsBefore, reals)
		}
		got, ok, err := m.LookupFlow(fk)
		if err != nil || !ok || got != flow {
			t.Errorf("%s: the established connection's entry is %+v (%v, %v), want %+v", step, got, ok, err, flow)
		}
	}
}
