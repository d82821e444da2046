package bpf

// A structure-aware fuzzer of the program. Go's fuzzing cannot see inside
// BPF, so FuzzProgram mutates blindly; this one generates well-formed
// frames (Ethernet, IPv4 with and without options and fragments,
// TCP/UDP/ICMP including errors quoting a packet) toward VIPs, real servers
// and elsewhere, for new flows and for flows it has seen the director set
// up (it learns them from the outputs), mutates some, runs each through XDP
// and TC, and checks invariants on every output:
//
//   - no crash, a valid verdict, and the same bytes and verdict from XDP and
//     TC (their maps see the same packets in the same order);
//   - a passed frame is unmodified, unless it is a rewritten service packet
//     handed to the stack (no neighbour), which is checked as a forwarded one;
//   - a forwarded frame has a valid IP checksum (if the input's was) and its TTL decremented, a
//     valid TCP/UDP or ICMP checksum when the input's was, and goes only to a
//     configured real server (DNAT, its client's address and port kept) or
//     back to its client from the VIP (SNAT);
//   - the path counters add up: one path per packet, and per verdict as many
//     paths of that verdict as packets that got it.
//
// DIRECTOR_FUZZ_PACKETS sets how many packets (default 20000, a few seconds
// in make test); make fuzz-long runs 10^7.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// A flow the fuzzer saw the director create: client -> vip:vport, sent to
// real:rport.
type fuzzFlow struct {
	proto        uint8
	client       netip.Addr
	cport        uint16
	vport, rport uint16
	real         netip.Addr
	realMAC      []byte
}

type fuzzGen struct {
	r     *rand.Rand
	flows []fuzzFlow
	id    uint16
}

var (
	fuzzClients = []netip.Addr{client, ip4("192.168.56.101"), ip4("192.168.56.150"), outside}
	fuzzDsts    = []netip.Addr{vip, vip, vip, lbPub, rip1, rip2, rip3, outside}
	fuzzReals   = map[netip.AddrPort]bool{
		netip.AddrPortFrom(rip1, 80): true, netip.AddrPortFrom(rip2, 80): true,
		netip.AddrPortFrom(rip1, 5353): true, netip.AddrPortFrom(rip2, 5353): true,
	}
	fuzzServices = map[uint32]bool{80<<8 | ProtoTCP: true, 53<<8 | ProtoUDP: true}
)

func (g *fuzzGen) pick(n int) int { return g.r.IntN(n) }

func (g *fuzzGen) port() uint16 {
	switch g.pick(4) {
	case 0:
		return 80
	case 1:
		return 53
	case 2:
		return uint16(40000 + g.pick(64)) // a small pool: tuples recur
	}
	return uint16(g.r.Uint32())
}

func (g *fuzzGen) tcpFlags() uint8 {
	return []uint8{tcpSYN, tcpSYN, tcpSYN | tcpACK, tcpACK, tcpACK, tcpFIN | tcpACK, tcpRST, tcpRST | tcpACK,
		uint8(g.r.Uint32())}[g.pick(9)]
}

// next returns a frame, the interface it arrives on (0 public, 1
// internal), and whether it is well formed (its checksums valid).
func (g *fuzzGen) next() (pktSpec, int, bool) {
	g.id++
	s := pktSpec{ttl: uint8(1 + g.pick(255)), id: g.id, tos: uint8(g.pick(4)) << 2}
	if g.pick(50) == 0 {
		s.ttl = 0
	}
	in := 0
	switch k := g.pick(10); {
	case k < 3 && len(g.flows) > 0: // a packet of a known flow, either way
		f := g.flows[g.pick(len(g.flows))]
		s.proto = f.proto
		if g.pick(2) == 0 {
			s.srcMAC, s.dstMAC, s.src, s.dst, s.sport, s.dport = macClient, macPub, f.client, vip, f.cport, f.vport
		} else {
			s.srcMAC, s.dstMAC, s.src, s.dst, s.sport, s.dport = f.realMAC, macInt, f.real, f.client, f.rport, f.cport
			in = 1
		}
	case k < 5: // an ICMP error quoting a packet of a known flow or not
		s.proto = 1
		s.icmpType, s.icmpCode = []uint8{3, 3, 11, 8, 0}[g.pick(5)], uint8(g.pick(5))
		s.icmpRest = uint32(g.pick(2)) * 1400
		q := pktSpec{ttl: 64, proto: ProtoTCP, tcpFlags: tcpACK}
		if g.pick(2) == 0 {
			q.proto = ProtoUDP
		}
		if len(g.flows) > 0 && g.pick(3) > 0 {
			f := g.flows[g.pick(len(g.flows))]
			q.proto = f.proto
			if g.pick(2) == 0 { // about a reply we sent to the client: from the client
				q.src, q.dst, q.sport, q.dport = vip, f.client, f.vport, f.cport
				s.srcMAC, s.dstMAC, s.src, s.dst = macClient, macPub, f.client, vip
			} else { // about a packet we sent to the real server: from it
				q.src, q.dst, q.sport, q.dport = f.client, f.real, f.cport, f.rport
				s.srcMAC, s.dstMAC, s.src, s.dst = f.realMAC, macInt, f.real, f.client
				in = 1
			}
		} else {
			q.src, q.dst, q.sport, q.dport = fuzzClients[g.pick(4)], fuzzDsts[g.pick(8)], g.port(), g.port()
			s.srcMAC, s.dstMAC, s.src, s.dst = macClient, macPub, fuzzClients[g.pick(4)], fuzzDsts[g.pick(8)]
		}
		inner := q.ipPacket()
		s.inner = inner[:min(len(inner), 20+8+g.pick(24))]
	default: // a new packet from anywhere to anywhere
		s.proto = []uint8{ProtoTCP, ProtoTCP, ProtoUDP, ProtoUDP, 1, 47}[g.pick(6)]
		s.srcMAC, s.dstMAC = macClient, macPub
		s.src, s.dst, s.sport, s.dport = fuzzClients[g.pick(4)], fuzzDsts[g.pick(8)], g.port(), g.port()
		if s.proto == 1 {
			s.icmpType = 8
			s.inner = make([]byte, g.pick(64))
		}
		if g.pick(8) == 0 { // from a real server
			s.srcMAC, s.dstMAC, s.src, in = macRip1, macInt, []netip.Addr{rip1, rip2}[g.pick(2)], 1
			s.sport = []uint16{80, 5353}[g.pick(2)]
		}
	}
	s.tcpFlags = g.tcpFlags()
	s.seq = g.r.Uint32()
	s.payload = make([]byte, g.pick(3)*g.pick(200))
	if g.pick(10) == 0 {
		s.options = []byte{1, 1, 1, 0}
	}
	if s.proto == ProtoUDP && g.pick(20) == 0 {
		s.noUDPCsum = true
	}
	return s, in, true
}

// fragmentsOf returns the frames of s, whole or (sometimes) in fragments,
// in a random order.
func (g *fuzzGen) framesOf(s pktSpec) [][]byte {
	whole := s.frame()
	if len(s.options) > 0 || s.proto == 1 && len(s.inner) > 0 && s.icmpType != 8 || g.pick(8) != 0 {
		return [][]byte{whole}
	}
	if len(s.payload) < 128 {
		s.payload = make([]byte, 128+g.pick(400))
	}
	if s.proto == 1 && len(s.inner) < 128 {
		s.inner = make([]byte, 128)
	}
	fs := fragments(s, []int{0, 32, 64 + 8*g.pick(4)})
	if g.pick(4) == 0 {
		g.r.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	}
	return fs
}

// mutate changes a few bytes, or cuts the frame (keeping at least the
// Ethernet and IPv4 headers, which an skb test run needs).
func (g *fuzzGen) mutate(f []byte) []byte {
	f = append([]byte(nil), f...)
	if g.pick(3) == 0 && len(f) > 34 {
		return f[:34+g.pick(len(f)-34)]
	}
	for range 1 + g.pick(3) {
		f[g.pick(len(f))] ^= byte(1 << g.pick(8))
	}
	return f
}

// ipValid reports whether the IPv4 header checksum of frame f is valid.
func ipValid(f []byte) bool {
	hl := int(f[14]&0x0f) * 4
	return len(f) >= 14+hl && csum(f[14:14+hl]) == 0
}

// l4Valid reports whether the TCP/UDP/ICMP checksum of frame f (not a
// fragment) is valid.
func l4Valid(f []byte) bool {
	ip := f[14:]
	hl := int(ip[0]&0x0f) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot > len(ip) || tot < hl {
		return false
	}
	l4 := ip[hl:tot]
	switch ip[9] {
	case 1:
		return csum(l4) == 0
	case ProtoUDP:
		if len(l4) >= 8 && binary.BigEndian.Uint16(l4[6:]) == 0 {
			return true
		}
		fallthrough
	case ProtoTCP:
		pseudo := make([]byte, 12)
		copy(pseudo, ip[12:20])
		pseudo[9] = ip[9]
		binary.BigEndian.PutUint16(pseudo[10:], uint16(len(l4)))
		return csum(pseudo, l4) == 0
	}
	return true
}

// checkOutput checks the invariants of one output against its input and
// learns new flows. wellFormed: the input's checksums were valid.
func (g *fuzzGen) checkOutput(t *testing.T, in, out []byte, verdict uint32, wellFormed bool) {
	t.Helper()
	if verdict == xdpDrop {
		return
	}
	if verdict == xdpPass && bytes.Equal(in, out) {
		return
	}
	// Forwarded, or a service packet rewritten for the stack.
	if len(out) < 34 || out[12] != 8 || out[13] != 0 {
		t.Fatalf("verdict %d: output is not IPv4\n in %x\nout %x", verdict, in, out)
	}
	// The program updates checksums incrementally and does not verify
	// the IP header's (the receiver does): a valid one must stay valid.
	if ipValid(in) && !ipValid(out) {
		t.Fatalf("verdict %d: bad IP checksum\n in %x\nout %x", verdict, in, out)
	}
	ttlIn, ttlOut := in[14+8], out[14+8]
	if verdict == xdpPass && ttlOut != ttlIn || verdict != xdpPass && ttlOut != ttlIn-1 {
		t.Fatalf("verdict %d: ttl %d -> %d", verdict, ttlIn, ttlOut)
	}
	ip := out[14:]
	hl := int(ip[0]&0x0f) * 4
	src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	inSrc := netip.AddrFrom4([4]byte(in[26:30]))
	frag := binary.BigEndian.Uint16(ip[6:])&0x3fff != 0
	rest := binary.BigEndian.Uint16(ip[6:])&0x1fff != 0
	proto := ip[9]
	if wellFormed && !frag && !l4Valid(out) {
		t.Fatalf("verdict %d: bad L4 checksum\n in %x\nout %x", verdict, in, out)
	}
	isReal := src == vip || dst == rip1 || dst == rip2
	if !isReal {
		t.Fatalf("verdict %d: forwarded %s -> %s, neither to a real server nor from the VIP\n in %x\nout %x", verdict, src, dst, in, out)
	}
	if proto == 1 || rest || len(ip) < hl+4 {
		return
	}
	sport, dport := binary.BigEndian.Uint16(ip[hl:]), binary.BigEndian.Uint16(ip[hl+2:])
	if src == vip {
		if !fuzzServices[uint32(sport)<<8|uint32(proto)] {
			t.Fatalf("reply from VIP port %d/%d, no such service", sport, proto)
		}
		return
	}
	if !fuzzReals[netip.AddrPortFrom(dst, dport)] || src != inSrc {
		t.Fatalf("forwarded to %s:%d from %s (client %s): not a real server, or the client changed", dst, dport, src, inSrc)
	}
	inDport := binary.BigEndian.Uint16(in[14+hl+2:])
	if len(g.flows) < 256 {
		rmac := macRip1
		if dst == rip2 {
			rmac = macRip2
		}
		g.flows = append(g.flows, fuzzFlow{proto: proto, client: src, cport: sport, vport: inDport,
			real: dst, rport: dport, realMAC: rmac})
	}
}

// clearTables empties the flow tables and the fragment records.
func clearTables(tb testing.TB, e *fibEnv) {
	tb.Helper()
	for _, m := range []*ebpf.Map{e.objs.Flows, e.objs.HalfOpen, e.objs.Frags} {
		var keys [][]byte
		k := make([]byte, m.KeySize())
		it := m.Iterate()
		v := make([]byte, m.ValueSize())
		for it.Next(&k, &v) {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, key := range keys {
			if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				tb.Fatal(err)
			}
		}
	}
}

func fuzzPackets() int {
	if n, err := strconv.Atoi(os.Getenv("DIRECTOR_FUZZ_PACKETS")); err == nil && n > 0 {
		return n
	}
	return 20000
}

func TestStructuredFuzz(t *testing.T) {
	total := fuzzPackets()
	// Tables far larger than the flows made between two clears (below):
	// an LRU recycles by per-CPU lists, so the two environments would
	// recycle differently and drift apart.
	x, c := seedEnvSized(t, entryXDP, 1<<16, 1<<16), seedEnvSized(t, entryTC, 1<<16, 1<<16)
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("DIRECTOR_FUZZ_SEED"), 10, 64); err == nil {
		seed = v
	}
	g := &fuzzGen{r: rand.New(rand.NewPCG(seed, 13))}
	t.Logf("seed %d (DIRECTOR_FUZZ_SEED repeats a run)", seed)
	paths := make([]uint64, NumPaths)
	var verdicts [5]uint64
	const batch = 2000
	start := time.Now()
	ran := 0
	for n := 0; ran < total; n++ {
		if n%10 == 9 {
			clearTables(t, x)
			clearTables(t, c)
			g.flows = g.flows[:0]
		}
		type item struct {
			in         []byte
			ifidx      int
			wellFormed bool
		}
		var items []item
		for len(items) < batch {
			s, side, _ := g.next()
			for _, f := range g.framesOf(s) {
				wf := true
				if g.pick(20) == 0 {
					f, wf = g.mutate(f), false
				}
				items = append(items, item{f, side, wf})
			}
		}
		run := func(e *fibEnv) ([]uint32, [][]byte, []uint64) {
			verdicts := make([]uint32, len(items))
			outs := make([][]byte, len(items))
			before := e.paths(t)
			err := e.inNS(func() error {
				for i, it := range items {
					ifidx := e.pub
					if it.ifidx == 1 {
						ifidx = e.inter
					}
					out := make([]byte, len(it.in)+256)
					opts := &ebpf.RunOptions{Data: it.in, DataOut: out, Repeat: 1}
					prog := e.objs.XdpDirector
					if e.entry == entryTC {
						opts.Context = skbCtx{IngressIfindex: uint32(ifidx), Ifindex: uint32(ifidx)}
						prog = e.objs.TcDirector
					} else {
						opts.Context = xdpMD{DataEnd: uint32(len(it.in)), IngressIfindex: uint32(ifidx)}
					}
					ret, err := prog.Run(opts)
					if err != nil {
						return err
					}
					verdicts[i], outs[i] = ret, opts.DataOut
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: run: %v", e.entry, err)
			}
			after := e.paths(t)
			for i := range after {
				after[i] -= before[i]
			}
			return verdicts, outs, after
		}
		xv, xo, xp := run(x)
		cv, co, cp := run(c)
		var count [5]uint64
		for i, it := range items {
			v := xv[i]
			if v < xdpDrop || v > xdpRedirect {
				t.Fatalf("xdp verdict %d", v)
			}
			tv := c.xdpVerdict(t, cv[i])
			// XDP_TX and a redirect to the ingress interface are the
			// same decision.
			if v == xdpTX {
				v = xdpRedirect
			}
			if v != tv || !bytes.Equal(xo[i], co[i]) {
				t.Fatalf("xdp and tc differ: verdicts %d/%d\n  in %x\n xdp %x\n  tc %x", xv[i], cv[i], it.in, xo[i], co[i])
			}
			count[v]++
			g.checkOutput(t, it.in, xo[i], v, it.wellFormed)
		}
		for i := range paths {
			paths[i] += xp[i]
		}
		for i := range verdicts {
			verdicts[i] += count[i]
		}
		for _, p := range [][]uint64{xp, cp} {
			var sum uint64
			perVerdict := map[string]uint64{}
			for i, n := range p {
				sum += n
				perVerdict[Paths[PktPath(i)].Verdict] += n
			}
			if sum != uint64(len(items)) || perVerdict["drop"] != count[xdpDrop] ||
				perVerdict["pass"] != count[xdpPass] || perVerdict["forward"] != count[xdpRedirect] {
				t.Fatalf("counters do not add up: %d paths for %d packets; by verdict %v, verdicts drop %d pass %d forward %d",
					sum, len(items), perVerdict, count[xdpDrop], count[xdpPass], count[xdpRedirect])
			}
		}
		ran += len(items)
	}
	d := time.Since(start)
	t.Logf("%d packets through XDP and TC each (%d runs) in %v: %.0f packets/s per entry point, %d flows learned",
		ran, 2*ran, d.Round(time.Millisecond), float64(ran)/d.Seconds(), len(g.flows))
	t.Logf("verdicts: drop %d, pass %d, forward %d; paths %v", verdicts[xdpDrop], verdicts[xdpPass], verdicts[xdpRedirect],
		movedPaths(make([]uint64, NumPaths), paths))
	// The generator must reach the paths it is built for.
	for _, p := range []PktPath{PathNewFlow, PathForward, PathReply, PathICMPToReal, PathICMPToClient,
		PathFragmentForward, PathFragment, PathIPOptions, PathNoService, PathTCPNotSYN} {
		if paths[p] == 0 && ran >= 20000 {
			t.Errorf("path %s never taken", p)
		}
	}
}
