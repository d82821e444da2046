package bench

// BenchmarkNewConnRate: the new-connection rate, in the forwarding-rate
// lab (rate_test.go), where every frame the generator sends is a new flow.
//
// The generator (synGenInsns) writes a 60-byte TCP SYN to VIP:80 per live
// frame, from 192.168.56.128-255 (gen's own subnet) and source ports
// 1024-65535: frame n comes from port 1024 + n%64512 of address
// 128 + (n/64512)%128, so about 8.2 M frames pass before a flow repeats,
// more than a whole run sends. Its counter is a plain array slot, not
// per-CPU, so the sequence carries on whichever CPU the next run lands
// on. The IPv4 and TCP checksums are completed in the program from sums
// computed here (conntrack checks the TCP checksum of what it forwards);
// the program's output is compared with synFrame before the runs.
//
// Arms, alternated in rounds like BenchmarkForwardingRate's:
//   - director_xdp: this build (native XDP on pub and int), service
//     VIP:80/tcp -> 192.168.200.11:80 and .12:80, wrr 3:1; every SYN makes
//     a half-open flow (the two-table flow store);
//   - director_tc: the same through the TC entry point;
//   - nftables: the kernel forwards and NATs through conntrack, dnat to
//     numgen inc mod 4 map { 0-2 : .11, 3 : .12 }: every SYN makes a
//     conntrack entry;
//   - lb_drop: XDP_DROP on lb:pub, rated by SYNs sent: the generator's
//     and the first veth hop's cost, common to the other arms.
//
// Nobody answers the SYNs (sink counts and drops them), so the flows stay
// half-open (director) or unreplied (conntrack). The conntrack table's
// limit (nf_conntrack_max) is shared by every namespace of the machine, so
// a run makes at most newConnWarm+newConnPackets entries, well under the
// default 262144, and the arm flushes lb's conntrack table before each
// timed run and at tear-down: other tests on the machine never meet a
// full table. The director's half-open LRU (65536 entries by default)
// fills during a run and then recycles its oldest entries, as under a
// flood.
//
// Run it as root:
//
//	go test -run '^$' -bench NewConnRate -benchtime 1x -count=1 -v ./test/bench/

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/loader"
	"github.com/director-lb/director/test/testenv"
)

// New-connection benchmark size and flow space.
const (
	newConnRounds  = 5
	newConnPackets = 100_000 // timed frames per run (new flows)
	newConnWarm    = 10_000  // untimed frames after set-up
	synPort        = 80
	synPortBase    = 1024
	synPorts       = 65536 - synPortBase // source ports per address
	synHostBase    = 128                 // 192.168.56.128 ...
	synHosts       = 128                 // ... to .255; a power of two
)

// synSource returns the source address and port of new flow n.
func synSource(n uint64) (netip.Addr, uint16) {
	host := byte(synHostBase + (n/synPorts)%synHosts)
	return netip.AddrFrom4([4]byte{192, 168, 56, host}), uint16(synPortBase + n%synPorts)
}

// synFrame builds new flow n's frame: a TCP SYN from synSource(n) to
// VIP:80, with correct checksums, padded to frameLen.
func synFrame(n uint64) []byte {
	src, sport := synSource(n)
	f := make([]byte, frameLen)
	s, d := ethIPv4(f, macGen, macPub, src, vipIP, unix.IPPROTO_TCP, 40, 0)
	tcp := f[34:54]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], synPort)
	binary.BigEndian.PutUint32(tcp[4:], 0x01020304) // sequence number
	tcp[12] = 5 << 4                                // data offset: 20 bytes
	tcp[13] = 0x02                                  // SYN
	binary.BigEndian.PutUint16(tcp[14:], 64240)     // window
	pseudo := csum(0, s[:])
	pseudo = csum(pseudo, d[:])
	pseudo += unix.IPPROTO_TCP + uint32(len(tcp))
	binary.BigEndian.PutUint16(tcp[16:], fold(csum(pseudo, tcp)))
	return f
}

// partialSum is the folded, uncomplemented sum a checksum field holds the
// complement of.
func partialSum(field []byte) int32 { return int32(^binary.BigEndian.Uint16(field)) }

// synGenInsns: take frame number n from the counter slot of seq (and count
// it), write synFrame(0) over the live frame, then put flow n's source
// address and port in, completing both checksums from synFrame(0)'s sums
// (address byte .0, port 0), and return XDP_TX.
func synGenInsns(seq *ebpf.Map) asm.Instructions {
	tmpl := synFrame(0) // source 192.168.56.128:1024
	// The template's varying fields as zeros, so that the program adds
	// the whole host byte and port to the sums.
	hostByte := 14 + 15
	tmpl[hostByte] = 0
	binary.BigEndian.PutUint16(tmpl[34:], 0)
	ipHdr, tcpSeg := tmpl[14:34], tmpl[34:54]
	binary.BigEndian.PutUint16(ipHdr[10:], 0)
	binary.BigEndian.PutUint16(ipHdr[10:], fold(csum(0, ipHdr)))
	binary.BigEndian.PutUint16(tcpSeg[16:], 0)
	pseudo := csum(0, ipHdr[12:20]) + unix.IPPROTO_TCP + uint32(len(tcpSeg))
	binary.BigEndian.PutUint16(tcpSeg[16:], fold(csum(pseudo, tcpSeg)))
	ipSum, tcpSum := partialSum(ipHdr[10:12]), partialSum(tcpSeg[16:18])

	insns := append(countFrameInsns(seq), frameBoundsInsns()...)
	off := 0
	for ; off+4 <= frameLen; off += 4 {
		insns = append(insns, asm.StoreImm(asm.R2, int16(off), u32At(tmpl[off:off+4]), asm.Word))
	}
	// R8: source port; R9: host byte.
	insns = append(insns,
		asm.Mov.Reg(asm.R8, asm.R7),
		asm.Mod.Imm(asm.R8, synPorts),
		asm.Add.Imm(asm.R8, synPortBase),
		asm.Mov.Reg(asm.R9, asm.R7),
		asm.Div.Imm(asm.R9, synPorts),
		asm.And.Imm(asm.R9, synHosts-1),
		asm.Add.Imm(asm.R9, synHostBase),
		asm.StoreMem(asm.R2, int16(hostByte), asm.R9, asm.Byte),
	)
	// checksum: R4 = ^fold(sum + R9 [+ R8]), big-endian, stored at off.
	checksum := func(sum int32, withPort bool, off int16) {
		insns = append(insns, asm.Mov.Imm(asm.R4, sum), asm.Add.Reg(asm.R4, asm.R9))
		if withPort {
			insns = append(insns, asm.Add.Reg(asm.R4, asm.R8))
		}
		for range 2 {
			insns = append(insns,
				asm.Mov.Reg(asm.R5, asm.R4),
				asm.RSh.Imm(asm.R5, 16),
				asm.And.Imm(asm.R4, 0xffff),
				asm.Add.Reg(asm.R4, asm.R5))
		}
		insns = append(insns,
			asm.Xor.Imm(asm.R4, 0xffff),
			asm.HostTo(asm.BE, asm.R4, asm.Half),
			asm.StoreMem(asm.R2, off, asm.R4, asm.Half))
	}
	checksum(ipSum, false, 14+10)
	checksum(tcpSum, true, 34+16)
	return append(insns,
		asm.HostTo(asm.BE, asm.R8, asm.Half),
		asm.StoreMem(asm.R2, 34, asm.R8, asm.Half),
		asm.Mov.Imm(asm.R0, xdpTX),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpAborted).WithSymbol("abort"),
		asm.Return(),
	)
}

// checkSynGen runs the generator once (not live) with its counter at
// several values and compares each frame with synFrame's; it leaves the
// counter at 0.
func checkSynGen(prog *ebpf.Program, seq *ebpf.Map) error {
	for _, n := range []uint64{0, 1, synPorts - 1, synPorts, 37*synPorts + 12345, synHosts*synPorts + 7} {
		if err := seq.Put(uint32(0), n); err != nil {
			return err
		}
		out := make([]byte, frameLen)
		ret, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, frameLen), DataOut: out})
		if err != nil {
			return fmt.Errorf("run SYN generator: %w", err)
		}
		if want := synFrame(n); ret != xdpTX || !bytes.Equal(out, want) {
			return fmt.Errorf("SYN generator, flow %d: verdict %d, frame\n%x\nwant\n%x", n, ret, out, want)
		}
	}
	return seq.Put(uint32(0), uint64(0))
}

// nftSynRuleset is nftRuleset for VIP:80/tcp.
const nftSynRuleset = `table ip dirbench {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 192.168.56.10 tcp dport 80 dnat to numgen inc mod 4 map { 0-2 : 192.168.200.11, 3 : 192.168.200.12 }
	}
}
`

// flushConntrack empties lb's conntrack table (the kernel's, for lb's
// namespace only).
func (l *rateLab) flushConntrack() error {
	return l.lb.do(func() error {
		if err := netlink.ConntrackTableFlush(netlink.ConntrackTable); err != nil {
			return fmt.Errorf("flush conntrack: %w", err)
		}
		return nil
	})
}

// directorArm is the director in mode (native XDP or TC) serving
// VIP:80/tcp, with the forwarding-rate arm's path-counter check.
func directorArm(name string, mode loader.Mode, want string) arm {
	a := forwardingArm("director")
	a.name = name
	a.setup = func(l *rateLab) error {
		return l.lb.do(func() error {
			dp, err := loader.Open(loader.Options{Node: l.node, Interfaces: []string{"pub", "int"}, Mode: mode})
			if err != nil {
				return fmt.Errorf("open director: %w", err)
			}
			l.dp = dp
			if m := dp.Mode(); !strings.HasPrefix(m, want) {
				return fmt.Errorf("director attached as %q, want %s", m, want)
			}
			return programServiceOn(dp.Maps, synPort, bpf.ProtoTCP)
		})
	}
	return a
}

// forwardingArm returns BenchmarkForwardingRate's arm of that name.
func forwardingArm(name string) arm {
	for _, a := range arms() {
		if a.name == name {
			return a
		}
	}
	panic("no forwarding-rate arm " + name)
}

func newConnArms() []arm {
	nftArm := arm{
		name: "nftables", dst: vipIP, nat: true,
		setup: func(l *rateLab) error {
			if err := l.flushConntrack(); err != nil {
				return err
			}
			return l.lb.do(func() error { return nft(nftSynRuleset, "-f", "-") })
		},
		before: func(l *rateLab) error { return l.flushConntrack() },
		teardown: func(l *rateLab) error {
			err := l.lb.do(func() error { return nft("", "delete", "table", "ip", "dirbench") })
			return errors.Join(err, l.flushConntrack())
		},
	}
	return []arm{
		directorArm("director_xdp", loader.ModeNative, "xdp native"),
		directorArm("director_tc", loader.ModeTC, "tc"),
		nftArm,
		forwardingArm("lb_drop"), // the generator's and the first hop's share
	}
}

// BenchmarkNewConnRate measures the rate of new connections (TCP SYNs, each
// a new flow) the director forwards, on XDP and on TC, against nftables
// conntrack NAT, in alternating rounds, and reports medians and the ratios
// to nftables (see the comment at the top of the file).
func BenchmarkNewConnRate(b *testing.B) {
	testenv.RequirePrivileged(b)
	if _, err := exec.LookPath("nft"); err != nil {
		b.Fatal("the nftables arm needs the nft command (apt-get install nftables)")
	}
	l := newRateLab(b)
	seq := newMap(b, &ebpf.MapSpec{Name: "syn_seq", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	prog := newProg(b, "bench_syngen", synGenInsns(seq))
	must(b, checkSynGen(prog, seq))
	b.Cleanup(func() {
		if err := l.flushConntrack(); err != nil {
			b.Error(err)
		}
	})

	as := newConnArms()
	kpps := map[string][]float64{}
	ratio := map[string][]float64{} // arm -> per-round ratio to nftables
	var sent, delivered = map[string]uint64{}, map[string]uint64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < newConnRounds; r++ {
			round := map[string]float64{}
			line := fmt.Sprintf("round %d:", r+1)
			for _, a := range as {
				res, err := l.runArmWith(a, prog, seq, newConnWarm, newConnPackets)
				if err != nil {
					b.Fatal(err)
				}
				round[a.name] = 1e3 * res.mpps()
				kpps[a.name] = append(kpps[a.name], round[a.name])
				sent[a.name] += res.sent
				delivered[a.name] += res.delivered() + res.late
				line += fmt.Sprintf(" %s %.0f kpps (%d/%d in %v)", a.name, round[a.name], res.delivered(),
					res.sent, res.wall.Round(time.Millisecond))
			}
			b.Log(line)
			for _, a := range as {
				ratio[a.name] = append(ratio[a.name], round[a.name]/round["nftables"])
			}
		}
	}
	b.StopTimer()

	total, _ := sumPerCPU(seq, 1)
	fmt.Printf("\nnew-connection rate on veth: every frame a TCP SYN of a new flow (%d distinct flows sent), %d CPUs;\nmedian of %d alternating rounds x %d frames\n",
		total[0], runtime.NumCPU(), newConnRounds*b.N, newConnPackets)
	fmt.Printf("%-14s %10s %8s %10s %11s %14s\n", "arm", "kpps", "ns/pkt", "delivered", "x nftables", "ns over drop")
	base := 1e6 / median(kpps["lb_drop"])
	for _, a := range as {
		m := median(kpps[a.name])
		if a.dropAtLB {
			fmt.Printf("%-14s %10.0f %8.0f %10s %11s %14s\n", a.name, m, 1e6/m, "-", "-", "-")
			continue
		}
		fmt.Printf("%-14s %10.0f %8.0f %9.2f%% %10.3fx %14.0f\n", a.name, m, 1e6/m,
			100*float64(delivered[a.name])/float64(sent[a.name]), median(ratio[a.name]), 1e6/m-base)
	}
	fmt.Printf("kpps: new flows delivered to sink (3:1 to the two real servers) per second of generator run\n")
	fmt.Printf("  (lb_drop: SYNs sent, dropped by XDP on lb:pub: the generator's and the first hop's cost)\n")
	fmt.Printf("x nftables: median of per-round rate ratios, whole pipeline (generator, lb and receiver on one CPU)\n")
	fmt.Printf("ns over drop: ns/pkt minus lb_drop's, the cost of a new flow on lb plus the receiver (approximate)\n")
	b.ReportMetric(median(ratio["director_xdp"]), "xdp/nftables")
	b.ReportMetric(median(ratio["director_tc"]), "tc/nftables")
	b.ReportMetric(median(kpps["director_xdp"]), "xdp-kpps")
	b.ReportMetric(0, "ns/op")
}
