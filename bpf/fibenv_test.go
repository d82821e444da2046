package bpf

// The packet tables' environment: a namespace with routes and
// neighbours for bpf_fib_lookup, the program loaded there, and helpers
// that run a frame through it and compare what came out.

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/director-lb/director/test/testenv"
)

type fibEnv struct {
	entry      entry
	ns         netns.NsHandle
	pub, inter int // ifindexes
	objs       *Objects
	maps       *Maps
}

// inNS runs fn on a thread switched into the environment's namespace.
func (e *fibEnv) inNS(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer func() { _ = orig.Close() }()
		if err := netns.Set(e.ns); err != nil {
			errc <- err
			return
		}
		// One CPU for every run: the half-open table keeps one LRU
		// list per CPU, and the packet tables' eviction counts and
		// orders assume one list.
		restore, err := pinFirstCPU()
		if err != nil {
			errc <- err
			return
		}
		err = fn()
		restore()
		if serr := netns.Set(orig); serr == nil {
			runtime.UnlockOSThread()
		} // else the thread stays locked and dies with the goroutine
		errc <- err
	}()
	return <-errc
}

func newFibEnv(t testing.TB, ent entry) *fibEnv {
	t.Helper()
	return newFibEnvSized(t, ent, 4096, uint32(HalfOpenSize(4096)))
}

// newFibEnvSized is newFibEnv with flow tables of the given sizes.
func newFibEnvSized(t testing.TB, ent entry, flows, half uint32) *fibEnv {
	t.Helper()
	testenv.RequirePrivileged(t)
	e := &fibEnv{entry: ent}
	var err error
	ready := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		e.ns, err = netns.New()
		if err != nil {
			ready <- fmt.Errorf("new netns: %w", err)
			return
		}
		ready <- setupFibNetns(e)
	}()
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.ns.Close() })
	e.objs = loadUnpinnedSized(t, flows, half)
	e.maps = NewMaps(e.objs)
	hzOnce.Do(func() { hzProbed, hzErr = ProbeHZ() })
	if hzErr != nil {
		t.Fatal(hzErr)
	}
	if err := e.maps.InitClock(hzProbed); err != nil {
		t.Fatal(err)
	}
	if err := e.maps.SetTimeouts(DefaultTimeouts); err != nil {
		t.Fatal(err)
	}
	return e
}

func setupFibNetns(e *fibEnv) error {
	mk := func(name, peer string, hw []byte, addrs ...string) (int, error) {
		la := netlink.NewLinkAttrs()
		la.Name = name
		la.HardwareAddr = hw
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: peer}); err != nil {
			return 0, err
		}
		l, err := netlink.LinkByName(name)
		if err != nil {
			return 0, err
		}
		for _, a := range addrs {
			addr, err := netlink.ParseAddr(a)
			if err != nil {
				return 0, err
			}
			if err := netlink.AddrAdd(l, addr); err != nil {
				return 0, err
			}
		}
		p, _ := netlink.LinkByName(peer)
		if err := netlink.LinkSetUp(p); err != nil {
			return 0, err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return 0, err
		}
		return l.Attrs().Index, nil
	}
	var err error
	if lo, err := netlink.LinkByName("lo"); err == nil {
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
	}
	if e.pub, err = mk("pub0", "pub1", macPub, "192.168.56.11/24", "192.168.56.10/24"); err != nil {
		return fmt.Errorf("make pub0: %w", err)
	}
	if e.inter, err = mk("int0", "int1", macInt, "192.168.200.251/24"); err != nil {
		return fmt.Errorf("make int0: %w", err)
	}
	neigh := func(idx int, ip string, hw []byte) error {
		return netlink.NeighAdd(&netlink.Neigh{LinkIndex: idx, Family: netlink.FAMILY_V4,
			State: netlink.NUD_PERMANENT, IP: ip4(ip).AsSlice(), HardwareAddr: hw})
	}
	for _, n := range []struct {
		idx int
		ip  string
		hw  []byte
	}{{e.pub, "192.168.56.100", macClient}, {e.inter, "192.168.200.11", macRip1},
		{e.inter, "192.168.200.12", macRip2}, {e.inter, "192.168.200.254", macOther}} {
		if err := neigh(n.idx, n.ip, n.hw); err != nil {
			return fmt.Errorf("add neighbour %s: %w", n.ip, err)
		}
	}
	return os.WriteFile("/proc/sys/net/ipv4/conf/all/forwarding", []byte("1"), 0)
}

// run runs the program once on frame arriving on ifindex. The verdict is
// given as XDP's (see xdpVerdict).
func (e *fibEnv) run(t testing.TB, ifindex int, frame []byte) (uint32, []byte) {
	t.Helper()
	var ret uint32
	out := make([]byte, len(frame)+256)
	err := e.inNS(func() error {
		opts := &ebpf.RunOptions{Data: frame, DataOut: out, Repeat: 1}
		prog := e.objs.XdpDirector
		if e.entry == entryTC {
			opts.Context = skbCtx{IngressIfindex: uint32(ifindex), Ifindex: uint32(ifindex)}
			prog = e.objs.TcDirector
		} else {
			opts.Context = xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(ifindex)}
		}
		var err error
		ret, err = prog.Run(opts)
		out = opts.DataOut
		return err
	})
	if err != nil {
		t.Fatalf("run (%d bytes): %v", len(frame), err)
	}
	return e.xdpVerdict(t, ret), out
}

// xdpVerdict maps the TC program's return code to the XDP verdict the tables
// state: TC_ACT_OK is pass, TC_ACT_SHOT drop, TC_ACT_REDIRECT (bpf_redirect,
// to any interface) redirect; XDP codes are returned as they are.
func (e *fibEnv) xdpVerdict(t testing.TB, ret uint32) uint32 {
	if e.entry != entryTC {
		return ret
	}
	switch ret {
	case tcOK:
		return xdpPass
	case tcShot:
		return xdpDrop
	case tcRedirect:
		return xdpRedirect
	}
	t.Fatalf("tc program returned %d", ret)
	return 0
}

// skbCtx mirrors the head of struct __sk_buff (uapi) for an skb test run:
// up to ifindex, the device the frame arrives on.
type skbCtx struct {
	Len, PktType, Mark, QueueMapping, Protocol, VlanPresent, VlanTCI, VlanProto uint32
	Priority, IngressIfindex, Ifindex                                           uint32
}

// xdpMD mirrors struct xdp_md (uapi) for BPF_PROG_TEST_RUN's context.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// service programs a service with reals (id -> address, port) and a schedule.
func (e *fibEnv) service(t testing.TB, svcID uint32, key SvcKey, off uint32, sched []uint32) {
	t.Helper()
	if err := e.maps.WriteSchedule(off, sched); err != nil {
		t.Fatal(err)
	}
	if err := e.maps.PutService(key, SvcValue{Id: svcID, SchedOff: off, SchedLen: uint32(len(sched))}); err != nil {
		t.Fatal(err)
	}
	if err := e.maps.SetAddr(AddrFromBe32(key.Vip), AddrVIP); err != nil {
		t.Fatal(err)
	}
}

func (e *fibEnv) real(t testing.TB, id uint32, gen uint32, addr string, port uint16) {
	t.Helper()
	if err := e.maps.PutReal(id, Real{Addr: Be32(ip4(addr)), Port: Be16(port), Gen: gen}); err != nil {
		t.Fatal(err)
	}
	if err := e.maps.SetAddr(ip4(addr), AddrReal); err != nil {
		t.Fatal(err)
	}
}

func (e *fibEnv) paths(t testing.TB) []uint64 {
	t.Helper()
	p, err := e.maps.Paths()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// check runs frame and compares verdict, path and output.
func (e *fibEnv) check(t *testing.T, name string, ifindex int, in []byte, verdict uint32, path PktPath, want []byte) []byte {
	t.Helper()
	before := e.paths(t)
	got, out := e.run(t, ifindex, in)
	after := e.paths(t)
	if got != verdict {
		t.Errorf("%s: verdict %d, want %d (path counters moved: %v)", name, got, verdict, movedPaths(before, after))
	}
	if after[path] != before[path]+1 {
		t.Errorf("%s: path %s not counted once (moved: %v)", name, path, movedPaths(before, after))
	}
	if want != nil && !bytes.Equal(out, want) {
		t.Errorf("%s: output differs\n got %x\nwant %x\n%s", name, out, want, diffFrames(out, want))
	}
	return out
}

func movedPaths(before, after []uint64) []string {
	var out []string
	for i := range after {
		if after[i] != before[i] {
			out = append(out, fmt.Sprintf("%s+%d", PktPath(i), after[i]-before[i]))
		}
	}
	return out
}

func diffFrames(got, want []byte) string {
	var b bytes.Buffer
	if len(got) != len(want) {
		fmt.Fprintf(&b, "length %d, want %d\n", len(got), len(want))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		if got[i] != want[i] {
			fmt.Fprintf(&b, "byte %d: %02x, want %02x\n", i, got[i], want[i])
		}
	}
	return b.String()
}

// pinFirstCPU pins the calling (locked) thread to the first CPU it may run
// on and returns the function that gives it its CPUs back.
func pinFirstCPU() (func(), error) {
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return nil, fmt.Errorf("cpu affinity: %w", err)
	}
	for c := 0; c < len(all)*64; c++ {
		if all.IsSet(c) {
			one.Set(c)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		return nil, fmt.Errorf("pin to a cpu: %w", err)
	}
	return func() { _ = unix.SchedSetaffinity(0, &all) }, nil
}
