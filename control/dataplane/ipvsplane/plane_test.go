package ipvsplane

// Tests of the IPVS adapter's reconcile against a fake of the netlink
// handle (the kernel's own IPVS runs in the QEMU VM: test/vmtests), of the
// connection table parser, and of the error on a kernel without IPVS.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/director-lb/director/control/model"
)

// fakeIPVS keeps services and destinations the way the kernel does (a new
// destination goes to the head of its service's list) and logs every
// write.
type fakeIPVS struct {
	svcs   []*ipvs.Service
	dests  map[string][]*ipvs.Destination
	conf   ipvs.Config
	writes []string
}

func newFakeIPVS() *fakeIPVS { return &fakeIPVS{dests: map[string][]*ipvs.Destination{}} }

func fakeKey(s *ipvs.Service) string {
	if s.FWMark != 0 {
		return fmt.Sprintf("fwm %d", s.FWMark)
	}
	return fmt.Sprintf("%d %s:%d", s.Protocol, s.Address, s.Port)
}

func (f *fakeIPVS) find(s *ipvs.Service) int {
	return slices.IndexFunc(f.svcs, func(x *ipvs.Service) bool { return fakeKey(x) == fakeKey(s) })
}

func (f *fakeIPVS) GetServices() ([]*ipvs.Service, error) {
	var out []*ipvs.Service
	for _, s := range f.svcs {
		c := *s
		out = append(out, &c)
	}
	return out, nil
}

func (f *fakeIPVS) GetDestinations(s *ipvs.Service) ([]*ipvs.Destination, error) {
	var out []*ipvs.Destination
	for _, d := range f.dests[fakeKey(s)] {
		c := *d
		out = append(out, &c)
	}
	return out, nil
}

func (f *fakeIPVS) NewService(s *ipvs.Service) error {
	if f.find(s) >= 0 {
		return syscall.EEXIST
	}
	c := *s
	f.svcs = append(f.svcs, &c)
	f.writes = append(f.writes, "new service "+fakeKey(s)+" "+s.SchedName)
	return nil
}

func (f *fakeIPVS) UpdateService(s *ipvs.Service) error {
	i := f.find(s)
	if i < 0 {
		return syscall.ESRCH
	}
	c := *s
	f.svcs[i] = &c
	f.writes = append(f.writes, "update service "+fakeKey(s)+" "+s.SchedName)
	return nil
}

func (f *fakeIPVS) DelService(s *ipvs.Service) error {
	i := f.find(s)
	if i < 0 {
		return syscall.ESRCH
	}
	f.svcs = slices.Delete(f.svcs, i, i+1)
	delete(f.dests, fakeKey(s))
	f.writes = append(f.writes, "delete service "+fakeKey(s))
	return nil
}

func (f *fakeIPVS) destIndex(s *ipvs.Service, d *ipvs.Destination) int {
	return slices.IndexFunc(f.dests[fakeKey(s)], func(x *ipvs.Destination) bool {
		return x.Address.Equal(d.Address) && x.Port == d.Port
	})
}

func (f *fakeIPVS) NewDestination(s *ipvs.Service, d *ipvs.Destination) error {
	if f.find(s) < 0 {
		return syscall.ESRCH
	}
	if f.destIndex(s, d) >= 0 {
		return syscall.EEXIST
	}
	c := *d
	f.dests[fakeKey(s)] = append([]*ipvs.Destination{&c}, f.dests[fakeKey(s)]...) // list_add: at the head
	f.writes = append(f.writes, fmt.Sprintf("new dest %s %s:%d w%d", fakeKey(s), d.Address, d.Port, d.Weight))
	return nil
}

func (f *fakeIPVS) UpdateDestination(s *ipvs.Service, d *ipvs.Destination) error {
	i := f.destIndex(s, d)
	if i < 0 {
		return syscall.ESRCH
	}
	c := *d
	f.dests[fakeKey(s)][i] = &c
	f.writes = append(f.writes, fmt.Sprintf("update dest %s %s:%d w%d", fakeKey(s), d.Address, d.Port, d.Weight))
	return nil
}

func (f *fakeIPVS) DelDestination(s *ipvs.Service, d *ipvs.Destination) error {
	i := f.destIndex(s, d)
	if i < 0 {
		return syscall.ESRCH
	}
	k := fakeKey(s)
	f.dests[k] = slices.Delete(f.dests[k], i, i+1)
	f.writes = append(f.writes, fmt.Sprintf("delete dest %s %s:%d", k, d.Address, d.Port))
	return nil
}

func (f *fakeIPVS) GetConfig() (*ipvs.Config, error) { c := f.conf; return &c, nil }

func (f *fakeIPVS) SetConfig(c *ipvs.Config) error {
	f.conf = *c
	f.writes = append(f.writes, fmt.Sprintf("set config %s %s %s", c.TimeoutTCP, c.TimeoutTCPFin, c.TimeoutUDP))
	return nil
}

// take returns the writes since the last call.
func (f *fakeIPVS) take() []string {
	w := f.writes
	f.writes = nil
	return w
}

func ipvsSeed(w1, w2 uint32) model.Service {
	return model.Service{VIP: netip.MustParseAddr("192.168.56.10"), Port: 80, Proto: model.TCP, Scheduler: model.SchedWRR,
		Reals: []model.RealServer{
			{Addr: netip.MustParseAddr("192.168.200.11"), Port: 80, Weight: w1},
			{Addr: netip.MustParseAddr("192.168.200.12"), Port: 80, Weight: w2},
		}}
}

func wantWrites(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: writes\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestIPVSApplyDiff(t *testing.T) {
	f := newFakeIPVS()
	// Someone else's services: another address, and a firewall mark.
	for _, s := range []*ipvs.Service{
		{Address: net.ParseIP("10.9.9.9").To4(), Protocol: 6, Port: 80, SchedName: "rr", AddressFamily: syscall.AF_INET},
		{FWMark: 7, SchedName: "rr", AddressFamily: syscall.AF_INET},
	} {
		if err := f.NewService(s); err != nil {
			t.Fatal(err)
		}
	}
	f.take()
	d := newPlane(f, nil)

	const svc = "6 192.168.56.10:80"
	if err := d.Apply([]model.Service{ipvsSeed(3, 1)}); err != nil {
		t.Fatal(err)
	}
	wantWrites(t, "first apply", f.take(),
		"new service "+svc+" wrr",
		"new dest "+svc+" 192.168.200.11:80 w3",
		"new dest "+svc+" 192.168.200.12:80 w1")
	// The kernel's list is newest first, as model.ListOrder says.
	list := f.dests[svc]
	if len(list) != 2 || list[0].Address.String() != "192.168.200.12" {
		t.Errorf("list order: got %v first, want 192.168.200.12", list[0].Address)
	}

	if err := d.Apply([]model.Service{ipvsSeed(3, 1)}); err != nil {
		t.Fatal(err)
	}
	wantWrites(t, "same state again", f.take())

	if err := d.Apply([]model.Service{ipvsSeed(1, 3)}); err != nil {
		t.Fatal(err)
	}
	wantWrites(t, "weights 1:3", f.take(),
		"update dest "+svc+" 192.168.200.11:80 w1",
		"update dest "+svc+" 192.168.200.12:80 w3")

	// rr, web2 removed, web3 added, a UDP service on the same VIP.
	s := ipvsSeed(1, 3)
	s.Scheduler = model.SchedRR
	s.Reals = []model.RealServer{s.Reals[0], {Addr: netip.MustParseAddr("192.168.200.13"), Port: 8080, Weight: 0}}
	u := model.Service{VIP: s.VIP, Port: 53, Proto: model.UDP, Scheduler: "sh"}
	if err := d.Apply([]model.Service{s, u}); err != nil {
		t.Fatal(err)
	}
	wantWrites(t, "changes", f.take(),
		"update service "+svc+" rr",
		"new dest "+svc+" 192.168.200.13:8080 w0",
		"new service 17 192.168.56.10:53 sh",
		"delete dest "+svc+" 192.168.200.12:80")
	if err := d.Apply([]model.Service{s, u}); err != nil {
		t.Fatal(err)
	}
	wantWrites(t, "same state again", f.take())

	// A service added behind the director's back on its VIP is its own.
	if err := f.NewService(&ipvs.Service{Address: net.ParseIP("192.168.56.10").To4(), Protocol: 6, Port: 443, SchedName: "rr", AddressFamily: syscall.AF_INET}); err != nil {
		t.Fatal(err)
	}
	f.take()
	// Dropping every service of the VIP removes them all; the others stay.
	if err := d.Apply(nil); err != nil {
		t.Fatal(err)
	}
	got := f.take()
	slices.Sort(got)
	wantWrites(t, "empty", got,
		"delete service 17 192.168.56.10:53",
		"delete service 6 192.168.56.10:443",
		"delete service "+svc)
	if len(f.svcs) != 2 {
		t.Errorf("foreign services: %d left, want 2", len(f.svcs))
	}
}

func TestIPVSStatusAndRemove(t *testing.T) {
	f := newFakeIPVS()
	d := newPlane(f, nil)
	if err := d.Apply([]model.Service{ipvsSeed(3, 1)}); err != nil {
		t.Fatal(err)
	}
	st, err := d.Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].Scheduler != "wrr" || len(st[0].Reals) != 2 ||
		st[0].Reals[0].Addr.String() != "192.168.200.11" || st[0].Reals[0].Weight != 3 || st[0].Reals[1].Weight != 1 {
		t.Errorf("status: %+v", st)
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if len(f.svcs) != 0 {
		t.Errorf("after remove: %d services", len(f.svcs))
	}
}

func TestIPVSTimeouts(t *testing.T) {
	f := newFakeIPVS()
	d := newPlane(f, nil)
	for range 2 {
		if err := d.SetTimeouts(model.DefaultTimeouts); err != nil {
			t.Fatal(err)
		}
	}
	wantWrites(t, "timeouts twice", f.take(), "set config 15m0s 2m0s 5m0s")
}

func TestParseIPVSConns(t *testing.T) {
	const table = `Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP C0A83864 A1B2 C0A8380A 0050 C0A8C80B 0050 ESTABLISHED     899
TCP C0A83864 A1B4 C0A8380A 0050 C0A8C80C 0050 TIME_WAIT       119
UDP C0A83864 9C40 C0A8380A 0035 C0A8C80B 0035 UDP             299
TCP C0A83864 0000 C0A8380A 0050 C0A8C80B 0050 NONE            359
TCP 20010db8000000000000000000000001 A1B2 20010db8000000000000000000000002 0050 20010db8000000000000000000000003 0050 ESTABLISHED 899
`
	flows, err := parseIPVSConns(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Flow{
		{Proto: model.TCP, Client: netip.MustParseAddrPort("192.168.56.100:41394"), VIP: netip.MustParseAddrPort("192.168.56.10:80"),
			Real: netip.MustParseAddrPort("192.168.200.11:80"), State: "ESTABLISHED", KernelState: "ESTABLISHED", Expires: 899 * time.Second},
		{Proto: model.TCP, Client: netip.MustParseAddrPort("192.168.56.100:41396"), VIP: netip.MustParseAddrPort("192.168.56.10:80"),
			Real: netip.MustParseAddrPort("192.168.200.12:80"), State: "FIN", KernelState: "TIME_WAIT", Expires: 119 * time.Second},
		{Proto: model.UDP, Client: netip.MustParseAddrPort("192.168.56.100:40000"), VIP: netip.MustParseAddrPort("192.168.56.10:53"),
			Real: netip.MustParseAddrPort("192.168.200.11:53"), State: "UDP", KernelState: "UDP", Expires: 299 * time.Second},
		{Proto: model.TCP, Client: netip.MustParseAddrPort("192.168.56.100:0"), VIP: netip.MustParseAddrPort("192.168.56.10:80"),
			Real: netip.MustParseAddrPort("192.168.200.11:80"), State: "NONE", KernelState: "NONE", Expires: 359 * time.Second},
	}
	if !slices.Equal(flows, want) {
		t.Errorf("got %+v\nwant %+v", flows, want)
	}
}

// TestIPVSSchedulerKeys: scheduler flags, persistence and thresholds reach
// the kernel's service and destinations, and change live like weights.
func TestIPVSSchedulerKeys(t *testing.T) {
	f := newFakeIPVS()
	d := newPlane(f, nil)
	s := ipvsSeed(3, 1)
	s.Scheduler = model.SchedSH
	s.SchedFlags = "sh-fallback,sh-port"
	s.Persistence = model.Persistence{Timeout: 600 * time.Second, Netmask: netip.MustParseAddr("255.255.255.0")}
	s.Reals[0].UpperThreshold, s.Reals[0].LowerThreshold = 100, 50
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	const svc = "6 192.168.56.10:80"
	got := f.svcs[0]
	mask := [4]byte{255, 255, 255, 0}
	if got.Flags != 0x1|0x8|0x10 || got.Timeout != 600 || got.Netmask != binary.NativeEndian.Uint32(mask[:]) {
		t.Errorf("service flags %#x timeout %d netmask %#x, want persistent|sched1|sched2, 600, 255.255.255.0", got.Flags, got.Timeout, got.Netmask)
	}
	var d11 *ipvs.Destination
	for _, dst := range f.dests[svc] {
		if dst.Address.String() == "192.168.200.11" {
			d11 = dst
		}
	}
	if d11 == nil || d11.UpperThreshold != 100 || d11.LowerThreshold != 50 {
		t.Fatalf("destination thresholds: %+v", d11)
	}
	st, err := d.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st[0].SchedFlags != "sh-fallback,sh-port" || st[0].Persistence != s.Persistence {
		t.Errorf("status: flags %q persistence %+v", st[0].SchedFlags, st[0].Persistence)
	}
	f.take()
	// The kernel reports HASHED too: the same config is no write.
	f.svcs[0].Flags |= 0x2
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	wantWrites(t, "same config", f.take())
	// Thresholds and persistence change live.
	s.Reals[0].UpperThreshold = 10
	s.Persistence = model.Persistence{}
	if err := d.Apply([]model.Service{s}); err != nil {
		t.Fatal(err)
	}
	wantWrites(t, "changed", f.take(), "update service "+svc+" sh", "update dest "+svc+" 192.168.200.11:80 w3")
	if f.svcs[0].Flags&0x1 != 0 || f.svcs[0].Timeout != 0 {
		t.Errorf("persistence not removed: flags %#x timeout %d", f.svcs[0].Flags, f.svcs[0].Timeout)
	}
}

// TestIPVSRefusesMHTableSize: the kernel's mh table size is a compile
// option, so a service asking for another one is refused before any write,
// and the default (written or not) is applied.
func TestIPVSRefusesMHTableSize(t *testing.T) {
	f := newFakeIPVS()
	d := newPlane(f, nil)
	s := ipvsSeed(1, 1)
	s.Scheduler = model.SchedMH
	s.MHTableSize = 8191
	err := d.Apply([]model.Service{s})
	if err == nil || !strings.Contains(err.Error(), "mh table size 8191") || !strings.Contains(err.Error(), "CONFIG_IP_VS_MH_TAB_INDEX") {
		t.Fatalf("got %v, want a refusal naming the size and the kernel option", err)
	}
	wantWrites(t, "refused", f.take())
	for _, size := range []int{0, model.MHTableSize} {
		s.MHTableSize = size
		if err := d.Apply([]model.Service{s}); err != nil {
			t.Errorf("size %d: %v", size, err)
		}
	}
}
