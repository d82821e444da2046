// Package bench holds the director's whole-path benchmarks (make bench).
//
// BenchmarkForwardingRate measures the packet rate of the director's XDP
// forwarding path on veth, side by side with reference arms on the same
// topology, and reports ratios, never a single absolute number as the
// result. The benchmark builds its own lab of three anonymous network
// namespaces joined by direct veth pairs (no bridge, nothing in the host's
// namespace, static neighbours, so no ARP):
//
//	gen  eth0 192.168.56.100  <-->  pub 192.168.56.11 + VIP .10   lb
//	                                int 192.168.200.251 + .250    lb  <-->  eth0 .11 + .12  sink
//
// The generator is an XDP program run in gen through BPF_PROG_RUN with
// BPF_F_TEST_XDP_LIVE_FRAMES: each repetition writes one of 16 prebuilt
// 60-byte UDP frames (192.168.56.100:40000+i -> VIP:53, correct checksums,
// the 16 flows interleaved packet by packet) into a live frame and returns
// XDP_TX, which transmits it out of gen:eth0 to lb:pub. The program writes
// the whole frame each time because live-frame pages are recycled with the
// contents the forwarders left in them (NAT, MACs, TTL). It counts the
// frames it sends. On sink:eth0 a receiver XDP program counts arriving
// frames by destination address (192.168.200.11, .12, other) and drops
// them. An arm's rate is frames delivered to sink divided by the wall time
// of the generator's run. The whole path of a frame (generator, lb, sink)
// runs on the generator's CPU: the veths' NAPI is scheduled on the CPU
// that queues to them, and its softirq runs as each generator batch ends.
// A rate is therefore that of a one-CPU pipeline in which the generator
// and the receiver cost the same for every arm.
//
// Arms, set up alike (GRO on lb:pub so that it has NAPI with or without an
// XDP program, the same receiver, the same frames):
//   - director: this build's program (loader.Open, native XDP on pub and
//     int), service VIP:53/udp -> 192.168.200.11:53 and .12:53, wrr 3:1;
//   - nftables: no XDP on lb; the kernel forwards, and nftables NATs
//     through conntrack: dnat to numgen inc mod 4 map { 0-2 : .11, 3 : .12 };
//   - bare_redirect: an XDP program on lb:pub that rewrites the MACs and
//     bpf_redirect()s to lb:int, with no lookup (the ceiling);
//   - routing: no XDP, no nftables, frames sent straight to 192.168.200.11,
//     forwarded by the kernel (what the stack costs without NAT);
//   - lb_drop: XDP_DROP on lb:pub, rated by frames sent: the cost of the
//     generator and the first veth hop, which every arm includes.
//
// The arms alternate, rounds times, each run sending about ratePackets
// frames; the table gives each arm's median rate and the medians of its
// per-round ratios to nftables and to bare_redirect. These ratios are of
// the whole one-CPU pipeline, so the common cost (lb_drop's ns/pkt) makes
// them closer to 1 than the ratios of the lb stage alone would be; the
// last column, ns/pkt over lb_drop's, estimates the cost of the lb stage
// plus the receiver. The targets
// (director >= 4x nftables, >= 0.8x bare_redirect) are printed, not
// asserted. Each run is checked to have done its job: NAT arms deliver 3/4
// of the frames to .11 and 1/4 to .12, the director's path counters match
// what sink received.
//
// Run it as root:
//
//	go test -run '^$' -bench ForwardingRate -benchtime 1x -count=1 -v ./test/bench/
package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/testenv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/loader"
)

// Benchmark size: rounds of alternating arms, frames per timed run, and
// untimed frames sent after an arm is set up (flows, conntrack, caches).
const (
	rounds       = 5
	ratePackets  = 2_000_000
	warmPackets  = 50_000
	flows        = 16 // a power of two: the generator masks its counter
	frameLen     = 60 // Ethernet minimum without FCS
	templateSize = 64 // value size of the template map
	basePort     = 40000
	servicePort  = 53
	genBatchSize = 64 // BPF_PROG_RUN live-frame batch (the kernel's default)
)

// XDP verdicts.
const (
	xdpAborted = 0
	xdpDrop    = 1
	xdpTX      = 3
)

// The lab's addresses and fixed MACs (locally administered).
var (
	clientIP = netip.MustParseAddr("192.168.56.100")
	vipIP    = netip.MustParseAddr("192.168.56.10")
	pubIP    = netip.MustParseAddr("192.168.56.11")
	gwIP     = netip.MustParseAddr("192.168.200.250")
	intIP    = netip.MustParseAddr("192.168.200.251")
	rip1     = netip.MustParseAddr("192.168.200.11")
	rip2     = netip.MustParseAddr("192.168.200.12")

	macGen  = net.HardwareAddr{0x02, 0xbe, 0x00, 0x56, 0x00, 0x64}
	macPub  = net.HardwareAddr{0x02, 0xbe, 0x00, 0x56, 0x00, 0x0b}
	macInt  = net.HardwareAddr{0x02, 0xbe, 0x00, 0xc8, 0x00, 0xfb}
	macSink = net.HardwareAddr{0x02, 0xbe, 0x00, 0xc8, 0x00, 0x0b}
)

// Receiver counter slots: frames to rip1, to rip2, anything else.
const (
	slotRip1 = iota
	slotRip2
	slotOther
	numSlots
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

// generatorInsns: take frame number n from the per-CPU counter (and count
// it), copy template n % flows over the live frame, return XDP_TX.
func generatorInsns(seq, templates *ebpf.Map) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.R10, -4, 0, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, seq.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "abort"),
		asm.LoadMem(asm.R7, asm.R0, 0, asm.DWord),
		asm.Mov.Reg(asm.R8, asm.R7),
		asm.Add.Imm(asm.R8, 1),
		asm.StoreMem(asm.R0, 0, asm.R8, asm.DWord),
		asm.And.Imm(asm.R7, flows-1),
		asm.StoreMem(asm.R10, -4, asm.R7, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, templates.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "abort"),
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // xdp_md.data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // xdp_md.data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, frameLen),
		asm.JGT.Reg(asm.R4, asm.R3, "abort"),
	}
	off := int16(0)
	for ; off+8 <= frameLen; off += 8 {
		insns = append(insns, asm.LoadMem(asm.R5, asm.R0, off, asm.DWord), asm.StoreMem(asm.R2, off, asm.R5, asm.DWord))
	}
	for ; off+4 <= frameLen; off += 4 {
		insns = append(insns, asm.LoadMem(asm.R5, asm.R0, off, asm.Word), asm.StoreMem(asm.R2, off, asm.R5, asm.Word))
	}
	return append(insns,
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpAborted).WithSymbol("abort"),
		asm.Return(),
	)
}

// u32At and u16At read bytes as the BPF machine (native order) would.
func u32At(b []byte) int64 { return int64(int32(binary.NativeEndian.Uint32(b))) }
func u16At(b []byte) int64 { return int64(binary.NativeEndian.Uint16(b)) }

// receiverProgram counts each frame in its destination's slot of cnt and
// drops it.
func receiverProgram(tb testing.TB, cnt *ebpf.Map) *ebpf.Program {
	ethIP := []byte{0x08, 0x00}
	r1, r2 := rip1.As4(), rip2.As4()
	return newProg(tb, "bench_sink", asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Mov.Imm(asm.R6, slotOther),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 34), // Ethernet + IPv4 header
		asm.JGT.Reg(asm.R4, asm.R3, "count"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R5, int32(u16At(ethIP)), "count"),
		asm.LoadMem(asm.R5, asm.R2, 30, asm.Word), // daddr
		asm.JNE.Imm32(asm.R5, int32(u32At(r1[:])), "not1"),
		asm.Mov.Imm(asm.R6, slotRip1),
		asm.Ja.Label("count"),
		asm.JNE.Imm32(asm.R5, int32(u32At(r2[:])), "count").WithSymbol("not1"),
		asm.Mov.Imm(asm.R6, slotRip2),
		asm.StoreMem(asm.R10, -4, asm.R6, asm.Word).WithSymbol("count"),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, cnt.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("out"),
		asm.Return(),
	})
}

// bareRedirectInsns: rewrite the MACs, bpf_redirect to ifindex. No lookup.
func bareRedirectInsns(dst, src net.HardwareAddr, ifindex int) asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "drop"),
		asm.StoreImm(asm.R2, 0, u32At(dst[0:4]), asm.Word),
		asm.StoreImm(asm.R2, 4, u16At(dst[4:6]), asm.Half),
		asm.StoreImm(asm.R2, 6, u16At(src[0:2]), asm.Half),
		asm.StoreImm(asm.R2, 8, u32At(src[2:6]), asm.Word),
		asm.Mov.Imm(asm.R1, int32(ifindex)),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("drop"),
		asm.Return(),
	}
}

// csum folds a one's complement sum over b into sum.
func csum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// udpFrame builds a frameLen-byte Ethernet/IPv4/UDP frame with correct
// IPv4 and UDP checksums; the payload is zeros.
func udpFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16) []byte {
	f := make([]byte, frameLen)
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(frameLen-14))
	binary.BigEndian.PutUint16(ip[4:], sport) // IP ID
	ip[8] = 64
	ip[9] = unix.IPPROTO_UDP
	s, d := src.As4(), dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:], fold(csum(0, ip)))
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	pseudo := csum(0, s[:])
	pseudo = csum(pseudo, d[:])
	pseudo += unix.IPPROTO_UDP + uint32(len(udp))
	c := fold(csum(pseudo, udp))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	return f
}

// framesTo returns the generator's flows: client:basePort+i -> dst:53.
func framesTo(dst netip.Addr) [][]byte {
	out := make([][]byte, flows)
	for i := range out {
		out[i] = udpFrame(macGen, macPub, clientIP, dst, uint16(basePort+i), servicePort)
	}
	return out
}

// setFrames loads frames into the generator's template map.
func (l *rateLab) setFrames(frames [][]byte) error {
	for i, f := range frames {
		var v [templateSize]byte
		copy(v[:], f)
		if err := l.templates.Put(uint32(i), v); err != nil {
			return fmt.Errorf("put frame %d: %w", i, err)
		}
	}
	return nil
}

// sumPerCPU returns the per-CPU counters of slots 0..n-1, summed.
func sumPerCPU(m *ebpf.Map, n int) ([]uint64, error) {
	out := make([]uint64, n)
	for i := range out {
		var per []uint64
		if err := m.Lookup(uint32(i), &per); err != nil {
			return nil, fmt.Errorf("read counter %d: %w", i, err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}

// xdpMD mirrors struct xdp_md for BPF_PROG_RUN's context.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// runResult is one generator run: frames sent (counted by the generator),
// frames received by sink per slot when the run returned and once the
// counters settled, and the run's wall time.
type runResult struct {
	sent     uint64
	received [numSlots]uint64 // at the end of the run
	late     uint64           // received after the run returned
	wall     time.Duration
	// atLB: the arm drops at lb, so its rate counts frames sent.
	atLB bool
}

func (r runResult) delivered() uint64 {
	var n uint64
	for _, v := range r.received {
		n += v
	}
	return n
}

// mpps is frames delivered per second (sent, for an arm that drops at
// lb), in millions.
func (r runResult) mpps() float64 {
	n := r.delivered()
	if r.atLB {
		n = r.sent
	}
	return float64(n) / r.wall.Seconds() / 1e6
}

// generate sends about n frames from gen:eth0 and measures what sink got.
func (l *rateLab) generate(n uint32) (runResult, error) {
	var res runResult
	frame := make([]byte, frameLen) // overwritten by the generator
	sent0, err := sumPerCPU(l.seq, 1)
	if err != nil {
		return res, err
	}
	recv0, err := sumPerCPU(l.sinkCnt, numSlots)
	if err != nil {
		return res, err
	}
	var recv1 []uint64
	err = l.gen.do(func() error {
		opts := &ebpf.RunOptions{
			Data:      frame,
			Repeat:    n,
			Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
			BatchSize: genBatchSize,
			Context:   xdpMD{DataEnd: frameLen, IngressIfindex: uint32(l.genIfindex)},
		}
		start := time.Now()
		_, err := l.genProg.Run(opts)
		res.wall = time.Since(start)
		if err != nil {
			return fmt.Errorf("run generator: %w", err)
		}
		recv1, err = sumPerCPU(l.sinkCnt, numSlots)
		return err
	})
	if err != nil {
		return res, err
	}
	sent1, err := sumPerCPU(l.seq, 1)
	if err != nil {
		return res, err
	}
	res.sent = sent1[0] - sent0[0]
	for i := range res.received {
		res.received[i] = recv1[i] - recv0[i]
	}
	// Frames still queued in a veth ring: wait until the counters stop.
	last := recv1
	for range 50 {
		time.Sleep(2 * time.Millisecond)
		now, err := sumPerCPU(l.sinkCnt, numSlots)
		if err != nil {
			return res, err
		}
		same := true
		for i := range now {
			same = same && now[i] == last[i]
		}
		if same {
			break
		}
		last = now
	}
	for i := range last {
		res.late += last[i] - recv1[i]
	}
	return res, nil
}

// arm is one forwarding setup on lb.
type arm struct {
	name string
	// dst is where the generator sends (the VIP, or a real server for
	// plain routing).
	dst netip.Addr
	// nat: frames must arrive 3:1 at rip1:rip2, as wrr 3:1 schedules
	// 16 flows; otherwise they arrive unchanged (to dst, or to slot other
	// when dst is the VIP).
	nat bool
	// dropAtLB: lb drops every frame (the lb_drop arm).
	dropAtLB bool
	setup    func(*rateLab) error
	teardown func(*rateLab) error
	// check verifies arm-specific counters around a run (optional).
	before func(*rateLab) error
	check  func(*rateLab, runResult) error
}

// nftRuleset is the reference NAT: conntrack and a 3:1 numgen map, the
// nftables rendering of the service.
const nftRuleset = `table ip dirbench {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 192.168.56.10 udp dport 53 dnat to numgen inc mod 4 map { 0-2 : 192.168.200.11, 3 : 192.168.200.12 }
	}
}
`

// nft runs the nft command in the calling thread's namespace (the child
// is forked from this locked thread, so it inherits the namespace).
func nft(stdin string, args ...string) error {
	cmd := exec.Command("nft", args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func arms() []arm {
	return []arm{
		{
			name: "director", dst: vipIP, nat: true,
			setup: func(l *rateLab) error {
				return l.lb.do(func() error {
					dp, err := loader.Open(loader.Options{Node: l.node, Interfaces: []string{"pub", "int"},
						Mode: loader.ModeNative})
					if err != nil {
						return fmt.Errorf("open director: %w", err)
					}
					l.dp = dp
					if m := dp.Mode(); m != "xdp native" {
						return fmt.Errorf("director attached as %q, want xdp native", m)
					}
					return programService(dp.Maps)
				})
			},
			teardown: func(l *rateLab) error {
				dp := l.dp
				l.dp = nil
				return dp.Remove()
			},
			before: func(l *rateLab) error {
				var err error
				l.paths0, err = l.dp.Maps.Paths()
				return err
			},
			check: func(l *rateLab, r runResult) error {
				after, err := l.dp.Maps.Paths()
				if err != nil {
					return err
				}
				var fwd, other uint64
				var others []string
				for i := range after {
					d := after[i] - l.paths0[i]
					switch bpf.PktPath(i) {
					case bpf.PathNewFlow, bpf.PathForward:
						fwd += d
					default:
						if d > 0 {
							other += d
							others = append(others, fmt.Sprintf("%s=%d", bpf.PktPath(i), d))
						}
					}
				}
				got := r.delivered() + r.late
				if fwd < got || float64(fwd-got) > 0.01*float64(fwd) || other > fwd/100 {
					return fmt.Errorf("director forwarded %d (other paths: %v), sink received %d", fwd, others, got)
				}
				return nil
			},
		},
		{
			name: "nftables", dst: vipIP, nat: true,
			setup: func(l *rateLab) error {
				return l.lb.do(func() error { return nft(nftRuleset, "-f", "-") })
			},
			teardown: func(l *rateLab) error {
				return l.lb.do(func() error { return nft("", "delete", "table", "ip", "dirbench") })
			},
		},
		{
			name: "bare_redirect", dst: vipIP,
			setup:    func(l *rateLab) error { return l.attachPub(l.bareProg) },
			teardown: detachPub,
		},
		{
			name: "routing", dst: rip1,
			setup:    func(*rateLab) error { return nil },
			teardown: func(*rateLab) error { return nil },
		},
		{
			name: "lb_drop", dst: vipIP, dropAtLB: true,
			setup:    func(l *rateLab) error { return l.attachPub(l.dropProg) },
			teardown: detachPub,
		},
	}
}

// attachPub attaches prog to lb:pub in native mode.
func (l *rateLab) attachPub(prog *ebpf.Program) error {
	return l.lb.do(func() error {
		lk, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: l.pubIfindex,
			Flags: link.XDPDriverMode})
		if err != nil {
			return fmt.Errorf("attach to pub: %w", err)
		}
		l.pubLink = lk
		return nil
	})
}

// detachPub detaches what attachPub attached.
func detachPub(l *rateLab) error {
	lk := l.pubLink
	l.pubLink = nil
	return lk.Close()
}

// programService writes VIP:53/udp -> rip1:53 (weight 3), rip2:53
// (weight 1) as the control plane would: reals 0 and 1, the wrr schedule
// [0 0 0 1], the address flags.
func programService(m *bpf.Maps) error {
	for id, a := range []netip.Addr{rip1, rip2} {
		if err := m.PutReal(uint32(id), bpf.Real{Addr: bpf.Be32(a), Port: bpf.Be16(servicePort), Gen: 1}); err != nil {
			return err
		}
		if err := m.SetAddr(a, bpf.AddrReal); err != nil {
			return err
		}
	}
	sched := []uint32{0, 0, 0, 1}
	if err := m.WriteSchedule(0, sched); err != nil {
		return err
	}
	if err := m.SetAddr(vipIP, bpf.AddrVIP); err != nil {
		return err
	}
	return m.PutService(bpf.NewSvcKey(vipIP, servicePort, bpf.ProtoUDP),
		bpf.SvcValue{Id: 0, SchedOff: 0, SchedLen: uint32(len(sched))})
}

// checkDelivery verifies that a run's frames went where the arm sends them.
func checkDelivery(a arm, r runResult) error {
	got := r.delivered()
	if a.dropAtLB {
		if got > r.sent/100 {
			return fmt.Errorf("%s: %d of %d frames went past lb", a.name, got, r.sent)
		}
		return nil
	}
	if got == 0 {
		return fmt.Errorf("%s: nothing delivered (sent %d)", a.name, r.sent)
	}
	share := func(slot int) float64 { return float64(r.received[slot]) / float64(got) }
	switch {
	case a.nat:
		if share(slotRip1) < 0.70 || share(slotRip1) > 0.80 || share(slotOther) > 0.01 {
			return fmt.Errorf("%s: NAT split rip1=%d rip2=%d other=%d, want 3:1 and no other",
				a.name, r.received[slotRip1], r.received[slotRip2], r.received[slotOther])
		}
	case a.dst == rip1:
		if share(slotRip1) < 0.99 {
			return fmt.Errorf("%s: rip1=%d rip2=%d other=%d, want all to rip1",
				a.name, r.received[slotRip1], r.received[slotRip2], r.received[slotOther])
		}
	default:
		if share(slotOther) < 0.99 {
			return fmt.Errorf("%s: rip1=%d rip2=%d other=%d, want all unchanged (other)",
				a.name, r.received[slotRip1], r.received[slotRip2], r.received[slotOther])
		}
	}
	return nil
}

// runArm sets an arm up, warms it, times one run, checks it, and tears it
// down.
func (l *rateLab) runArm(a arm) (runResult, error) {
	if err := l.setFrames(framesTo(a.dst)); err != nil {
		return runResult{}, err
	}
	if err := a.setup(l); err != nil {
		return runResult{}, fmt.Errorf("%s: set up: %w", a.name, err)
	}
	res, err := func() (runResult, error) {
		if _, err := l.generate(warmPackets); err != nil {
			return runResult{}, err
		}
		if a.before != nil {
			if err := a.before(l); err != nil {
				return runResult{}, err
			}
		}
		res, err := l.generate(ratePackets)
		res.atLB = a.dropAtLB
		if err != nil {
			return res, err
		}
		if err := checkDelivery(a, res); err != nil {
			return res, err
		}
		if a.check != nil {
			if err := a.check(l, res); err != nil {
				return res, fmt.Errorf("%s: %w", a.name, err)
			}
		}
		return res, nil
	}()
	if terr := a.teardown(l); terr != nil {
		err = errors.Join(err, fmt.Errorf("%s: tear down: %w", a.name, terr))
	}
	return res, err
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkForwardingRate measures the director's forwarding rate against
// nftables NAT, a bare XDP redirect and plain routing, in alternating
// rounds, and reports medians and ratios (see the package comment).
func BenchmarkForwardingRate(b *testing.B) {
	testenv.RequirePrivileged(b)
	if _, err := exec.LookPath("nft"); err != nil {
		b.Fatal("the nftables arm needs the nft command (apt-get install nftables)")
	}
	l := newRateLab(b)
	as := arms()
	mpps := map[string][]float64{}
	ratio := map[string]map[string][]float64{} // arm -> reference -> per-round ratios
	var sent, delivered, late = map[string]uint64{}, map[string]uint64{}, map[string]uint64{}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			round := map[string]float64{}
			line := fmt.Sprintf("round %d:", r+1)
			for _, a := range as {
				res, err := l.runArm(a)
				if err != nil {
					b.Fatal(err)
				}
				round[a.name] = res.mpps()
				mpps[a.name] = append(mpps[a.name], res.mpps())
				sent[a.name] += res.sent
				delivered[a.name] += res.delivered()
				late[a.name] += res.late
				line += fmt.Sprintf(" %s %.3f Mpps (%d/%d in %v)", a.name, res.mpps(), res.delivered(),
					res.sent, res.wall.Round(time.Millisecond))
			}
			b.Log(line)
			for _, a := range as {
				if ratio[a.name] == nil {
					ratio[a.name] = map[string][]float64{}
				}
				for _, ref := range []string{"nftables", "bare_redirect"} {
					ratio[a.name][ref] = append(ratio[a.name][ref], round[a.name]/round[ref])
				}
			}
		}
	}
	b.StopTimer()

	fmt.Printf("\nforwarding rate on veth, %d UDP flows of %d-byte frames, %d CPUs; median of %d alternating rounds x ~%d frames\n",
		flows, frameLen, runtime.NumCPU(), rounds*b.N, ratePackets)
	fmt.Printf("%-14s %8s %8s %10s %11s %11s %14s\n",
		"arm", "Mpps", "ns/pkt", "delivered", "x nftables", "x bare", "ns over drop")
	base := 1e3 / median(mpps["lb_drop"])
	for _, a := range as {
		m := median(mpps[a.name])
		if a.dropAtLB {
			fmt.Printf("%-14s %8.3f %8.1f %10s %11s %11s %14s\n", a.name, m, 1e3/m, "-", "-", "-", "-")
			continue
		}
		fmt.Printf("%-14s %8.3f %8.1f %9.2f%% %10.3fx %10.3fx %14.1f\n", a.name, m, 1e3/m,
			100*float64(delivered[a.name])/float64(sent[a.name]),
			median(ratio[a.name]["nftables"]), median(ratio[a.name]["bare_redirect"]), 1e3/m-base)
		if late[a.name] > 0 {
			fmt.Printf("  (%s: %d frames arrived after their run returned, not counted)\n", a.name, late[a.name])
		}
	}
	fmt.Printf("Mpps: frames delivered to sink per second of generator run (lb_drop: frames sent, dropped by XDP on lb:pub)\n")
	fmt.Printf("x nftables, x bare: medians of per-round rate ratios, whole pipeline (generator, lb and receiver on one CPU)\n")
	fmt.Printf("ns over drop: ns/pkt minus lb_drop's, the cost of forwarding on lb plus the receiver (approximate)\n")
	fmt.Printf("issue targets (not asserted): director >= 4x nftables, >= 0.8x bare_redirect\n")
	b.ReportMetric(median(ratio["director"]["nftables"]), "director/nftables")
	b.ReportMetric(median(ratio["director"]["bare_redirect"]), "director/bare")
	b.ReportMetric(median(mpps["director"]), "director-Mpps")
	b.ReportMetric(0, "ns/op")
}
