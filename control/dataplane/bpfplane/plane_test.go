package bpfplane

// Reconcile tests of the BPF adapter against real (unpinned, unattached)
// kernel maps: what Apply writes, what it leaves alone, and in what state
// it leaves the maps after adds, weight changes and removals.

import (
	"net/netip"
	"slices"
	"testing"
	"time"

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
	// The slots keep their generation (their flows go on); only the
	// weight the least-connection schedulers read changes in place.
	reals1, _ := m.Reals()
	for id, r := range reals0 {
		r.Weight = reals1[id].Weight
		if len(reals1) != 2 || reals1[id] != r {
			t.Errorf("weight change touched real-server slot %d beyond its weight: %v -> %v", id, reals0[id], reals1[id])
		}
	}
	if reals1[0].Weight == reals0[0].Weight {
		t.Errorf("weight change not written to the slot: %v -> %v", reals0, reals1)
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
		{{VIP: tVIP, Port: 80, Proto: model.TCP, Scheduler: "dh"}},
	} {
		if err := d.Apply(bad); err == nil {
			t.Errorf("Apply(%v) accepted", bad)
		}
	}
	if svcs, _ := m.Services(); len(svcs) != 0 {
		t.Errorf("a refused Apply wrote %d services", len(svcs))
	}
}

// TestApplyLeastConnAndSH: a least-connection service's region lists
// every real server in IPVS list order with the scheduler's kind, weights
// and thresholds in the slots; sh gets its 256-bucket table and flags; a
// change of scheduler alone rewrites the service.
func TestApplyLeastConnAndSH(t *testing.T) {
	d, m := newTestPlane(t)
	s := seedService(3, 1)
	s.Scheduler = "wlc"
	s.Reals[0].UpperThreshold, s.Reals[0].LowerThreshold = 10, 5
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	svcs, _ := m.Services()
	v := svcs[bpf.NewSvcKey(tVIP, 80, 6)]
	if v.Sched != uint32(bpf.SchedWLC) || v.SchedLen != 2 {
		t.Fatalf("wlc service %+v", v)
	}
	if got, want := scheduleAddrs(t, m, s), []string{"192.168.200.12", "192.168.200.11"}; !slices.Equal(got, want) {
		t.Errorf("wlc list %v, want %v (list order)", got, want)
	}
	reals, _ := m.Reals()
	for _, r := range reals {
		if bpf.AddrFromBe32(r.Addr) == s.Reals[0].Addr && (r.Weight != 3 || r.Upper != 10 || r.Lower != 5) {
			t.Errorf("slot of %s: %+v", s.Reals[0].Addr, r)
		}
	}
	s.Scheduler = "lc"
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	svcs, _ = m.Services()
	if v := svcs[bpf.NewSvcKey(tVIP, 80, 6)]; v.Sched != uint32(bpf.SchedLC) {
		t.Errorf("scheduler change not applied: %+v", v)
	}
	s.Scheduler = model.SchedSH
	s.SchedFlags = "sh-port"
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	svcs, _ = m.Services()
	if v := svcs[bpf.NewSvcKey(tVIP, 80, 6)]; v.Sched != uint32(bpf.SchedSH) || v.SchedLen != model.SHBuckets || v.Flags != bpf.SchedFlagPort {
		t.Errorf("sh service %+v", v)
	}
}

// TestRecount: connections the program did not count (installed by sync
// here) and ones that expired unnoticed are corrected: the program's count
// less the correction equals the live connections of the flow table.
func TestRecount(t *testing.T) {
	d, m := newTestPlane(t)
	if err := m.InitClock(250); err != nil {
		t.Fatal(err)
	}
	s := seedService(3, 1)
	s.Scheduler = "lc"
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	reals, _ := m.Reals()
	var id uint32
	var r bpf.Real
	for i, rr := range reals {
		if bpf.AddrFromBe32(rr.Addr) == s.Reals[0].Addr {
			id, r = i, rr
		}
	}
	now, err := bpf.Jiffies()
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("192.168.56.100")
	put := func(cport uint16, state uint8, lastSeen uint64) {
		fk := bpf.FlowKey{Saddr: bpf.Be32(client), Daddr: bpf.Be32(tVIP), Sport: bpf.Be16(cport), Dport: bpf.Be16(80), Proto: 6}
		f := bpf.Flow{NatAddr: r.Addr, NatPort: r.Port, Dir: bpf.DirForward, State: state, RealId: id, RealGen: r.Gen,
			LastSeen: lastSeen, Timeout: 1 << 20}
		rk := bpf.FlowKey{Saddr: r.Addr, Daddr: bpf.Be32(client), Sport: r.Port, Dport: bpf.Be16(cport), Proto: 6}
		rf := f
		rf.Dir, rf.NatAddr, rf.NatPort = bpf.DirReply, bpf.Be32(tVIP), bpf.Be16(80)
		if err := m.PutFlow(fk, f); err != nil {
			t.Fatal(err)
		}
		if err := m.PutFlow(rk, rf); err != nil {
			t.Fatal(err)
		}
	}
	// Timeouts of 2^20 jiffies (over 17 minutes at HZ 1000): the live
	// ones stay live however slow the test runs.
	put(1000, bpf.StateEstablished, now)       // live, active
	put(1001, bpf.StateSYN, now)               // live, inactive
	put(1002, bpf.StateFIN, now-1<<21)         // expired: not counted
	put(1003, bpf.StateEstablished, now-1<<21) // expired
	if err := d.Recount(); err != nil {
		t.Fatal(err)
	}
	c, _ := m.RealConns(id)
	a, _ := m.RealConnsAdj(id)
	if c.Active-a.Active != 1 || c.Inactive-a.Inactive != 1 {
		t.Errorf("counts %+v less correction %+v: want 1 active, 1 inactive", c, a)
	}
	if !needsCounts(map[model.ServiceKey]model.Service{s.Key(): s}) || needsCounts(map[model.ServiceKey]model.Service{}) {
		t.Error("needsCounts: lc needs the counts, no service does not")
	}
}

// TestPersistenceTemplates: a persistent service's value carries its mask
// and timeout; Recount refreshes the template of a client with a live
// connection; Flows lists templates as ipvsadm -Lnc does (state NONE).
func TestPersistenceTemplates(t *testing.T) {
	d, m := newTestPlane(t)
	s := seedService(1, 1)
	s.Persistence = model.Persistence{Timeout: 600 * time.Second, Netmask: netip.MustParseAddr("255.255.255.0")}
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	svcs, _ := m.Services()
	v := svcs[bpf.NewSvcKey(tVIP, 80, 6)]
	if v.Ptimeout != 600 || bpf.AddrFromBe32(v.Pmask) != s.Persistence.Netmask {
		t.Fatalf("service value %+v", v)
	}
	reals, _ := m.Reals()
	var id uint32
	var r bpf.Real
	for i, rr := range reals {
		id, r = i, rr
		break
	}
	now, err := bpf.Jiffies()
	if err != nil {
		t.Fatal(err)
	}
	client := netip.MustParseAddr("192.168.56.100")
	fk := bpf.FlowKey{Saddr: bpf.Be32(client), Daddr: bpf.Be32(tVIP), Sport: bpf.Be16(1000), Dport: bpf.Be16(80), Proto: 6}
	f := bpf.Flow{NatAddr: r.Addr, NatPort: r.Port, Dir: bpf.DirForward, State: bpf.StateEstablished, SvcId: v.Id,
		RealId: id, RealGen: r.Gen, LastSeen: now, Timeout: 1 << 20}
	if err := m.PutFlow(fk, f); err != nil {
		t.Fatal(err)
	}
	pk := bpf.PersistKey{SvcId: v.Id, Client: bpf.Be32(netip.MustParseAddr("192.168.56.0"))}
	if err := m.PutTemplate(pk, bpf.Persist{RealId: id, RealGen: r.Gen, LastSeen: now - 1000}); err != nil {
		t.Fatal(err)
	}
	if err := d.Recount(); err != nil {
		t.Fatal(err)
	}
	if err := m.Templates(func(k bpf.PersistKey, p bpf.Persist) bool {
		if k == pk && p.LastSeen < now {
			t.Errorf("template not refreshed: last seen %d, live connection at %d", p.LastSeen, now)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	flows, err := d.Flows()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, fl := range flows {
		if fl.State == "NONE" {
			found = fl.Client == netip.MustParseAddrPort("192.168.56.0:0") && fl.VIP.Port() == 80 &&
				fl.Expires > 500*time.Second
		}
	}
	if !found {
		t.Errorf("no template listed in %+v", flows)
	}
	// A synced connection of another client, without a template (the
	// standby's case): the recount makes its template.
	fk2 := fk
	fk2.Saddr = bpf.Be32(netip.MustParseAddr("192.168.57.9"))
	if err := m.PutFlow(fk2, f); err != nil {
		t.Fatal(err)
	}
	if err := d.Recount(); err != nil {
		t.Fatal(err)
	}
	made := false
	if err := m.Templates(func(k bpf.PersistKey, p bpf.Persist) bool {
		if bpf.AddrFromBe32(k.Client) == netip.MustParseAddr("192.168.57.0") && p.RealId == id && p.RealGen == r.Gen {
			made = true
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !made {
		t.Error("no template made for a live connection without one")
	}
	st, err := d.Status()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, rs := range st[0].Reals {
		n += rs.PersistentConns
	}
	if n != 2 {
		t.Errorf("status counts %d persistence templates, want 2", n)
	}
}
