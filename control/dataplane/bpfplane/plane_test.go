package bpfplane

// Reconcile tests of the BPF adapter against real (unpinned, unattached)
// kernel maps: what Apply writes, what it leaves alone, and in what state
// it leaves the maps after adds, weight changes and removals.

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/test/testenv"

	"github.com/cilium/ebpf"

	"github.com/director-lb/director/bpf"
)

func newTestPlane(t *testing.T) (*Plane, *bpf.Maps) {
	t.Helper()
	objs := loadTestObjects(t, 1024)
	m := bpf.NewMaps(objs)
	return New(m, "test"), m
}

// loadTestObjects loads the program's maps unpinned, with a flow table
// of flows entries, its clock at 250 Hz; they are closed when the test
// ends.
func loadTestObjects(tb testing.TB, flows uint32) *bpf.Objects {
	tb.Helper()
	testenv.RequirePrivileged(tb)
	spec, err := bpf.LoadSpec()
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	spec.Maps["flows"].MaxEntries = flows
	var objs bpf.Objects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := objs.Close(); err != nil {
			tb.Error(err)
		}
	})
	if err := bpf.NewMaps(&objs).InitClock(250); err != nil {
		tb.Fatal(err)
	}
	return &objs
}

var (
	tVIP  = netip.MustParseAddr("192.168.56.10")
	tWeb1 = netip.MustParseAddr("192.168.200.11")
	tWeb2 = netip.MustParseAddr("192.168.200.12")
)

func seedService(w1, w2 uint32) model.Service {
	return model.Service{VIP: tVIP, Port: 80, Proto: model.TCP, Scheduler: model.SchedWRR, Reals: []model.RealServer{
		{Addr: tWeb1, Port: 80, Weight: w1}, {Addr: tWeb2, Port: 80, Weight: w2}}}
}

// scheduleAddrs reads a service's schedule back as real-server addresses.
func scheduleAddrs(t *testing.T, m *bpf.Maps, s model.Service) []string {
	t.Helper()
	svcs, err := m.Services()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := svcs[bpf.NewSvcKey(s.VIP, s.Port, uint8(s.Proto))]
	if !ok {
		t.Fatalf("service %s not in the map", s.Key())
	}
	ids, err := m.ReadSchedule(v.SchedOff, v.SchedLen)
	if err != nil {
		t.Fatal(err)
	}
	reals, _ := m.Reals()
	var out []string
	for _, id := range ids {
		out = append(out, bpf.AddrFromBe32(reals[id].Addr).String())
	}
	return out
}

func TestApplyWritesIPVSScheduleAndIsIdempotent(t *testing.T) {
	d, m := newTestPlane(t)
	s := seedService(3, 1)
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	want := []string{"192.168.200.12", "192.168.200.11", "192.168.200.11", "192.168.200.11"}
	if got := scheduleAddrs(t, m, s); !slices.Equal(got, want) {
		t.Errorf("schedule %v, want %v", got, want)
	}
	// Mark the service value as the program would after 5 connections;
	// applying the same state must not rewrite it (the cursor stays).
	key := bpf.NewSvcKey(tVIP, 80, 6)
	svcs, _ := m.Services()
	v := svcs[key]
	v.Cursor = 5
	if err := m.PutService(key, v); err != nil {
		t.Fatal(err)
	}
	realsBefore, _ := m.Reals()
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	svcs, _ = m.Services()
	if svcs[key].Cursor != 5 {
		t.Errorf("re-applying the same services rewrote the service (cursor %d)", svcs[key].Cursor)
	}
	realsAfter, _ := m.Reals()
	if len(realsAfter) != 2 || realsAfter[0] != realsBefore[0] || realsAfter[1] != realsBefore[1] {
		t.Errorf("re-applying rewrote real servers: %v -> %v", realsBefore, realsAfter)
	}
	// A weight change that expands to the same schedule (6:2 = 3:1)
	// writes nothing either.
	if err := d.Apply([]model.Service{seedService(6, 2)}); err != nil {
		t.Fatal(err)
	}
	if svcs, _ = m.Services(); svcs[key].Cursor != 5 {
		t.Error("an equivalent weight change rewrote the service")
	}
}

func TestApplyWeightChangeRemovalAndAddresses(t *testing.T) {
	d, m := newTestPlane(t)
	if err := d.Apply([]model.Service{seedService(3, 1)}); err != nil {
		t.Fatal(err)
	}
	reals0, _ := m.Reals()
	svcs, _ := m.Services()
	old := svcs[bpf.NewSvcKey(tVIP, 80, 6)]

	// 1:3: a new region, the same real-server slots (their flows go on).
	if err := d.Apply([]model.Service{seedService(1, 3)}); err != nil {
		t.Fatal(err)
	}
	want := []string{"192.168.200.12", "192.168.200.11", "192.168.200.12", "192.168.200.12"}
	if got := scheduleAddrs(t, m, seedService(1, 3)); !slices.Equal(got, want) {
		t.Errorf("schedule after 1:3: %v, want %v", got, want)
	}
	svcs, _ = m.Services()
	if nv := svcs[bpf.NewSvcKey(tVIP, 80, 6)]; nv.SchedOff == old.SchedOff || nv.Id != old.Id {
		t.Errorf("weight change: region %d -> %d, id %d -> %d; want a new region, the same id",
			old.SchedOff, nv.SchedOff, old.Id, nv.Id)
	}
	if reals1, _ := m.Reals(); len(reals1) != 2 || reals1[0] != reals0[0] || reals1[1] != reals0[1] {
		t.Errorf("weight change touched real-server slots: %v -> %v", reals0, reals1)
	}

	// Weight 0 drains: out of the schedule, slot kept.
	if err := d.Apply([]model.Service{seedService(0, 1)}); err != nil {
		t.Fatal(err)
	}
	if got := scheduleAddrs(t, m, seedService(0, 1)); !slices.Equal(got, []string{"192.168.200.12"}) {
		t.Errorf("drained schedule %v", got)
	}
	if reals2, _ := m.Reals(); len(reals2) != 2 {
		t.Errorf("draining removed a real-server slot: %v", reals2)
	}

	// Removing web1 frees its slot (its flows are dropped from now on).
	one := seedService(0, 1)
	one.Reals = one.Reals[1:]
	if err := d.Apply([]model.Service{one}); err != nil {
		t.Fatal(err)
	}
	reals3, _ := m.Reals()
	if len(reals3) != 1 {
		t.Errorf("after removing web1: %d real-server slots, want 1", len(reals3))
	}
	addrs, _ := m.Addrs()
	if addrs[tWeb1] != 0 || addrs[tWeb2] != bpf.AddrReal || addrs[tVIP] != bpf.AddrVIP {
		t.Errorf("address flags %v", addrs)
	}

	// Removing the service empties every map.
	if err := d.Apply(nil); err != nil {
		t.Fatal(err)
	}
	svcs, _ = m.Services()
	reals4, _ := m.Reals()
	addrs, _ = m.Addrs()
	if len(svcs) != 0 || len(reals4) != 0 || len(addrs) != 0 {
		t.Errorf("after removing everything: %d services, %d reals, %d addresses", len(svcs), len(reals4), len(addrs))
	}
}

func TestApplyRefusesInvalidServices(t *testing.T) {
	d, m := newTestPlane(t)
	dup := seedService(1, 1)
	dup.Reals = append(dup.Reals, dup.Reals[0])
	for _, bad := range [][]model.Service{
		{dup},
		{seedService(1, 1), seedService(2, 2)},
		{{VIP: netip.MustParseAddr("2001:db8::1"), Port: 80, Proto: model.TCP, Scheduler: model.SchedRR}},
		{{VIP: tVIP, Port: 80, Proto: model.TCP, Scheduler: "wlc"}},
	} {
		if err := d.Apply(bad); err == nil {
			t.Errorf("Apply(%v) accepted", bad)
		}
	}
	if svcs, _ := m.Services(); len(svcs) != 0 {
		t.Errorf("a refused Apply wrote %d services", len(svcs))
	}
}
