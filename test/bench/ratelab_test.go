package bench

// The forwarding-rate benchmark's topology: namespaces, veths and the
// programs loaded into them.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"

	"github.com/director-lb/director/test/lab"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/director-lb/director/loader"
)

// nsWorker is a goroutine locked to an OS thread that lives in its own new
// network namespace: everything it runs (netlink, sysctls, XDP attach,
// BPF_PROG_RUN, exec) happens in that namespace. The thread is never
// unlocked, so it ends with the goroutine and is never reused elsewhere.
type nsWorker struct {
	name string
	ns   netns.NsHandle
	reqs chan func()
	done chan struct{}
}

// newNSWorker starts a worker in a new anonymous network namespace.
func newNSWorker(name string) (*nsWorker, error) {
	w := &nsWorker{name: name, ns: -1, reqs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(w.done)
		runtime.LockOSThread() // never unlocked: see nsWorker
		ns, err := netns.New()
		if err != nil {
			ready <- fmt.Errorf("new namespace for %s: %w", name, err)
			return
		}
		w.ns = ns
		ready <- nil
		for fn := range w.reqs {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		<-w.done
		return nil, err
	}
	return w, nil
}

// do runs fn in the worker's namespace and returns its error.
func (w *nsWorker) do(fn func() error) error {
	errc := make(chan error, 1)
	w.reqs <- func() { errc <- fn() }
	if err := <-errc; err != nil {
		return fmt.Errorf("%s: %w", w.name, err)
	}
	return nil
}

// close ends the worker's thread and drops the namespace handle; the
// namespace and its interfaces go away with the last reference.
func (w *nsWorker) close() {
	close(w.reqs)
	<-w.done
	if w.ns >= 0 {
		_ = w.ns.Close()
	}
}

// rateLab is the benchmark's topology and its BPF objects.
type rateLab struct {
	gen, lb, sink *nsWorker
	node          string // loader node name

	genIfindex, pubIfindex, intIfindex int

	genProg   *ebpf.Program // generator (XDP_TX)
	seq       *ebpf.Map     // generator's per-CPU frame counter
	templates *ebpf.Map     // generator's frames
	sinkCnt   *ebpf.Map     // receiver's per-CPU counters by destination
	bareProg  *ebpf.Program // bare redirect arm
	dropProg  *ebpf.Program // lb_drop arm

	dp      *loader.Dataplane // director arm, while set up
	paths0  []uint64          // director's path counters before the timed run
	pubLink link.Link         // bare_redirect or lb_drop program on lb:pub, while set up
}

// sysctl writes a value under /proc/sys of the calling thread's network
// namespace.
func sysctl(path, value string) error {
	return os.WriteFile("/proc/sys/"+path, []byte(value), 0)
}

// disableIPv6 keeps router solicitations, DAD and MLD off the lab's links.
// A kernel without IPv6 has nothing to disable.
func disableIPv6() error {
	for _, p := range []string{"net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"} {
		if err := sysctl(p, "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disable IPv6: %w", err)
		}
	}
	return nil
}

// addVeth creates, in the calling thread's namespace, the veth name with
// its peer created directly in the namespace peerNS.
func addVeth(name string, mac net.HardwareAddr, peer string, peerMAC net.HardwareAddr, peerNS netns.NsHandle) error {
	la := netlink.NewLinkAttrs()
	la.Name = name
	la.HardwareAddr = mac
	v := &netlink.Veth{LinkAttrs: la, PeerName: peer, PeerHardwareAddr: peerMAC,
		PeerNamespace: netlink.NsFd(int(peerNS))}
	if err := netlink.LinkAdd(v); err != nil {
		return fmt.Errorf("add veth %s/%s: %w", name, peer, err)
	}
	return nil
}

// setupLink brings ifname up with its addresses and permanent neighbours,
// in the calling thread's namespace, and returns its ifindex.
func setupLink(ifname string, addrs []string, neigh map[netip.Addr]net.HardwareAddr) (int, error) {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("find %s: %w", ifname, err)
	}
	for _, a := range addrs {
		addr, err := netlink.ParseAddr(a)
		if err != nil {
			return 0, err
		}
		if err := netlink.AddrAdd(l, addr); err != nil {
			return 0, fmt.Errorf("add %s to %s: %w", a, ifname, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return 0, fmt.Errorf("set %s up: %w", ifname, err)
	}
	for ip, hw := range neigh {
		n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4,
			State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: hw}
		if err := netlink.NeighAdd(n); err != nil {
			return 0, fmt.Errorf("add neighbour %s on %s: %w", ip, ifname, err)
		}
	}
	return l.Attrs().Index, nil
}

// newRateLab builds the namespaces, links, generator and receiver; b's
// cleanup tears everything down, also on failure.
func newRateLab(b *testing.B) *rateLab {
	b.Helper()
	l := &rateLab{node: fmt.Sprintf("bench-rate%d", os.Getpid())}
	for _, p := range []struct {
		w    **nsWorker
		name string
	}{{&l.gen, "gen"}, {&l.lb, "lb"}, {&l.sink, "sink"}} {
		w, err := newNSWorker(p.name)
		if err != nil {
			b.Fatal(err)
		}
		*p.w = w
		b.Cleanup(w.close)
	}
	for _, w := range []*nsWorker{l.gen, l.lb, l.sink} {
		must(b, w.do(disableIPv6))
	}
	// Both ends of each pair are created inside the lab namespaces.
	must(b, l.gen.do(func() error { return addVeth("eth0", macGen, "pub", macPub, l.lb.ns) }))
	must(b, l.sink.do(func() error { return addVeth("eth0", macSink, "int", macInt, l.lb.ns) }))

	must(b, l.gen.do(func() error {
		var err error
		l.genIfindex, err = setupLink("eth0", []string{"192.168.56.100/24"},
			map[netip.Addr]net.HardwareAddr{vipIP: macPub, pubIP: macPub})
		return err
	}))
	must(b, l.lb.do(func() error {
		var err error
		if l.pubIfindex, err = setupLink("pub", []string{"192.168.56.11/24", "192.168.56.10/24"},
			map[netip.Addr]net.HardwareAddr{clientIP: macGen}); err != nil {
			return err
		}
		if l.intIfindex, err = setupLink("int", []string{"192.168.200.251/24", "192.168.200.250/24"},
			map[netip.Addr]net.HardwareAddr{rip1: macSink, rip2: macSink}); err != nil {
			return err
		}
		// NAPI on pub for every arm, with or without an XDP program.
		if err := lab.SetGRO("pub", true); err != nil {
			return err
		}
		return sysctl("net/ipv4/conf/all/forwarding", "1")
	}))
	must(b, l.sink.do(func() error {
		if _, err := setupLink("eth0", []string{"192.168.200.11/24", "192.168.200.12/24"},
			map[netip.Addr]net.HardwareAddr{gwIP: macInt, intIP: macInt}); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{Gw: gwIP.AsSlice()})
	}))

	l.loadPrograms(b)

	// Receiver on sink:eth0, in native mode: it also gives the veth the
	// NAPI needed to receive redirected XDP frames.
	sinkProg := receiverProgram(b, l.sinkCnt)
	must(b, l.sink.do(func() error {
		lk, err := link.AttachXDP(link.XDPOptions{Program: sinkProg, Interface: ifindexOf("eth0"),
			Flags: link.XDPDriverMode})
		if err != nil {
			return fmt.Errorf("attach receiver: %w", err)
		}
		b.Cleanup(func() { _ = lk.Close() })
		return nil
	}))

	// Registered last, so it runs first: the director's pinned state
	// and links go before the namespaces.
	b.Cleanup(func() {
		if l.pubLink != nil {
			_ = l.pubLink.Close()
		}
		if l.dp != nil {
			if err := l.dp.Remove(); err != nil {
				b.Errorf("remove director state: %v", err)
			}
		}
		if err := loader.Remove("", l.node); err != nil {
			b.Errorf("remove director state: %v", err)
		}
	})
	return l
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// ifindexOf returns ifname's index in the calling thread's namespace, or 0.
func ifindexOf(ifname string) int {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return 0
	}
	return l.Attrs().Index
}

func newMap(tb testing.TB, spec *ebpf.MapSpec) *ebpf.Map {
	tb.Helper()
	m, err := ebpf.NewMap(spec)
	if err != nil {
		tb.Fatalf("create map %s: %v", spec.Name, err)
	}
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

func newProg(tb testing.TB, name string, insns asm.Instructions) *ebpf.Program {
	tb.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: name, Type: ebpf.XDP, License: "GPL",
		Instructions: insns})
	if err != nil {
		tb.Fatalf("load %s: %v", name, err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// loadPrograms creates the generator, its maps, the receiver's counters
// and the bare redirect program.
func (l *rateLab) loadPrograms(b *testing.B) {
	l.seq = newMap(b, &ebpf.MapSpec{Name: "gen_seq", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	l.templates = newMap(b, &ebpf.MapSpec{Name: "gen_frames", Type: ebpf.Array, KeySize: 4,
		ValueSize: templateSize, MaxEntries: flows})
	l.sinkCnt = newMap(b, &ebpf.MapSpec{Name: "sink_cnt", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8,
		MaxEntries: numSlots})
	l.genProg = newProg(b, "bench_gen", generatorInsns(l.seq, l.templates))
	l.bareProg = newProg(b, "bench_bare", bareRedirectInsns(macSink, macInt, l.intIfindex))
	l.dropProg = newProg(b, "bench_drop", asm.Instructions{asm.Mov.Imm(asm.R0, xdpDrop), asm.Return()})
}
