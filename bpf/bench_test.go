package bpf

// Per-packet cost through BPF_PROG_TEST_RUN, as a ratio to a trivial
// XDP_TX program measured in the same run (make bench), for the XDP and the
// TC entry points.
//
// With Repeat > 1 the kernel runs the program again on the packet it has
// just rewritten, so each input is built as a chain in which every
// repetition takes the path being measured:
//   - new flow: 256 services VIP:p -> real RIP:p+1 (and RIP:p -> RIP:p+1),
//     so each DNAT produces a packet for the next service and a tuple never
//     seen before; the flow table is emptied between timed calls;
//   - established: two services rip2:c <-> rip2:c+1 DNATing to each
//     other, so after a warm-up every repetition hits one of two existing
//     forward entries (a hot flow); established_250 runs the new-flow
//     chain again, hitting 250 different entries, real servers and
//     counters (the memory cost of many flows);
//   - reply / reply_250: reply entries (VIP:p -> client) whose SNAT leads
//     to the next one, in a cycle of two and a chain of 250;
//   - pass: a packet to the director's own address, unchanged by the run.
// TTL starts at 255 and each forwarded repetition decrements it, so a
// timed call repeats at most chainLen times.

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

const (
	chainLen  = 250
	chainBase = 10000
)

// benchEnv is the fib environment with the chains installed.
func benchEnv(tb testing.TB) *fibEnv {
	e := newFibEnv(tb, entryXDP)
	for i := 0; i <= chainLen; i++ {
		port := uint16(chainBase + i)
		// real id i: rip1:port+1
		e.real(tb, uint32(i), uint32(i+1), "192.168.200.11", port+1)
		e.service(tb, uint32(i), NewSvcKey(rip1, port, ProtoTCP), uint32(i), []uint32{uint32(i)})
	}
	// The chain's first hop is a service on the VIP.
	e.service(tb, chainLen+1, NewSvcKey(vip, chainBase, ProtoTCP), chainLen+1, []uint32{0})
	// The hot cycle: rip2:cycleBase <-> rip2:cycleBase+1.
	for i := 0; i < 2; i++ {
		id := uint32(chainLen + 2 + i)
		e.real(tb, id, id+1, "192.168.200.12", uint16(cycleBase+1-i))
		e.service(tb, id, NewSvcKey(rip2, uint16(cycleBase+i), ProtoTCP), id, []uint32{id})
	}
	return e
}

const cycleBase = 20000

// benchReals is the number of real servers per service of the scheduler
// benchmarks (all with the chain's next address, so the chain holds).
const benchReals = 8

// schedBench names the schedulers whose new-flow cost is compared with
// wrr's, with the same benchReals servers per service.
var schedBench = []struct {
	name string
	kind SchedKind
}{{"wrr", SchedCursor}, {"lc", SchedLC}, {"wlc", SchedWLC}, {"sed", SchedSED}, {"nq", SchedNQ}, {"sh", SchedSH}}

// chainSched rebuilds the new-flow chain's services with benchReals real
// servers each, run by scheduler kind (kind < 0: back to one real and a
// one-slot schedule, as benchEnv made them).
func chainSched(tb testing.TB, e *fibEnv, kind SchedKind, restore bool) {
	tb.Helper()
	for i := 0; i <= chainLen+1; i++ {
		key, next := NewSvcKey(rip1, uint16(chainBase+i), ProtoTCP), uint16(chainBase+i+1)
		if i == chainLen+1 {
			key, next = NewSvcKey(vip, chainBase, ProtoTCP), chainBase
		}
		if restore {
			id := uint32(i)
			if i == chainLen+1 {
				id = 0
			}
			e.service(tb, uint32(i), key, uint32(i), []uint32{id})
			continue
		}
		ids := make([]uint32, benchReals)
		for j := range ids {
			ids[j] = uint32(1000 + i*benchReals + j)
			if err := e.maps.PutReal(ids[j], Real{Addr: Be32(rip1), Port: Be16(next), Gen: ids[j], Weight: uint32(j + 1)}); err != nil {
				tb.Fatal(err)
			}
		}
		sched := ids
		if kind == SchedSH {
			sched = make([]uint32, 256)
			for j := range sched {
				sched[j] = ids[j%benchReals]
			}
		}
		off := uint32(100000 + i*256)
		if err := e.maps.WriteSchedule(off, sched); err != nil {
			tb.Fatal(err)
		}
		if err := e.maps.PutService(key, SvcValue{Id: uint32(i), SchedOff: off, SchedLen: uint32(len(sched)), Sched: uint32(kind)}); err != nil {
			tb.Fatal(err)
		}
	}
}

func cyclePacket() []byte {
	s := clientSYN(33334)
	s.dst = rip2
	s.dport = cycleBase
	s.ttl = 255
	return s.frame()
}

func chainPacket() []byte {
	s := clientSYN(33333)
	s.dport = chainBase
	s.ttl = 255
	return s.frame()
}

// replyCycle installs two reply entries VIP:c -> client:33335 and
// VIP:c+1 -> client:33335 whose SNAT leads to each other.
func replyCycle(tb testing.TB, e *fibEnv) []byte {
	now, err := Jiffies()
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		k := FlowKey{Saddr: Be32(vip), Daddr: Be32(client), Sport: Be16(uint16(cycleBase + i)),
			Dport: Be16(33335), Proto: ProtoTCP}
		v := Flow{NatAddr: Be32(vip), NatPort: Be16(uint16(cycleBase + 1 - i)), Dir: DirReply,
			State: StateEstablished, RealGen: 1, LastSeen: now, Timeout: 3600 * 1000}
		if err := e.maps.PutFlow(k, v); err != nil {
			tb.Fatal(err)
		}
	}
	s := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: vip, dst: client, ttl: 255, proto: ProtoTCP,
		sport: cycleBase, dport: 33335, tcpFlags: tcpACK}
	return s.frame()
}

// replyChain installs reply entries VIP:p -> client:33333 leading to VIP:p+1
// and returns the first packet.
func replyChain(tb testing.TB, e *fibEnv) []byte {
	now, err := Jiffies()
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < chainLen; i++ {
		k := FlowKey{Saddr: Be32(vip), Daddr: Be32(client), Sport: Be16(uint16(chainBase + i)),
			Dport: Be16(33333), Proto: ProtoTCP}
		v := Flow{NatAddr: Be32(vip), NatPort: Be16(uint16(chainBase + i + 1)), Dir: DirReply,
			State: StateEstablished, SvcId: 0, RealId: 0, RealGen: 1,
			LastSeen: uint64(now), Timeout: 3600 * 1000}
		if err := e.maps.PutFlow(k, v); err != nil {
			tb.Fatal(err)
		}
	}
	s := pktSpec{srcMAC: macRip1, dstMAC: macInt, src: vip, dst: client, ttl: 255, proto: ProtoTCP,
		sport: chainBase, dport: 33333, tcpFlags: tcpACK}
	return s.frame()
}

// establishAll moves every half-open entry to the established table, as
// if each connection had completed its handshake: the chains are made of
// SYNs, and established connections are what the established arms measure.
func establishAll(tb testing.TB, e *fibEnv) {
	tb.Helper()
	var half []FlowEntry
	if err := e.maps.Flows(func(f FlowEntry) bool {
		if f.HalfOpen {
			half = append(half, f)
		}
		return true
	}); err != nil {
		tb.Fatal(err)
	}
	for _, f := range half {
		f.Value.State = StateEstablished
		if err := e.maps.PutFlow(f.Key, f.Value); err != nil {
			tb.Fatal(err)
		}
		if err := e.objs.HalfOpen.Delete(f.Key); err != nil {
			tb.Fatal(err)
		}
	}
}

func clearFlows(tb testing.TB, e *fibEnv) {
	tb.Helper()
	var keys []FlowKey
	if err := e.maps.Flows(func(f FlowEntry) bool { keys = append(keys, f.Key); return true }); err != nil {
		tb.Fatal(err)
	}
	for _, k := range keys {
		if err := e.objs.Flows.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			tb.Fatal(err)
		}
		if err := e.objs.HalfOpen.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			tb.Fatal(err)
		}
	}
}

// timed runs prog on in, repeat times in one BPF_PROG_TEST_RUN, inside the
// env's namespace, and returns the kernel's time per run. The frame arrives
// on loopback (Benchmark sets no context); the FIB lookup is the same.
func timed(tb testing.TB, e *fibEnv, prog *ebpf.Program, in []byte, repeat int) (time.Duration, uint32) {
	var d time.Duration
	var ret uint32
	err := e.inNS(func() error {
		var err error
		ret, d, err = prog.Benchmark(in, repeat, nil)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return d, ret
}

func trivialTX(tb testing.TB) *ebpf.Program {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpTX), asm.Return()}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkPacketCost measures each path of both entry points (XDP, and TC
// on an skb) and the XDP_TX baseline in alternating rounds and reports
// medians and ratios.
func BenchmarkPacketCost(b *testing.B) {
	e := benchEnv(b)
	tx := trivialTX(b)
	pass := pktSpec{srcMAC: macClient, dstMAC: macPub, src: client, dst: lbPub, ttl: 64,
		proto: ProtoTCP, sport: 50000, dport: 22, tcpFlags: tcpACK}.frame()
	chain := chainPacket()
	cycle := cyclePacket()
	entries := []struct {
		ent  entry
		prog *ebpf.Program
	}{{entryXDP, e.objs.XdpDirector}, {entryTC, e.objs.TcDirector}}

	rounds := 15
	res := map[string][]time.Duration{}
	check := func(name string, ent entry, got, want uint32) {
		if ent == entryTC {
			got = (&fibEnv{entry: entryTC}).xdpVerdict(b, got)
		}
		if got != want {
			b.Fatalf("%s %s: verdict %d, want %d", ent, name, got, want)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			d, ret := timed(b, e, tx, pass, chainLen)
			check("xdp_tx", entryXDP, ret, xdpTX)
			res["xdp_tx"] = append(res["xdp_tx"], d)

			// The entry points take turns going first: the first one
			// after the other's arms runs with colder caches, which
			// moved the new-flow figures by up to a fifth.
			order := entries
			if r%2 == 1 {
				order = []struct {
					ent  entry
					prog *ebpf.Program
				}{entries[1], entries[0]}
			}
			for _, en := range order {
				prog, key := en.prog, func(name string) string { return string(en.ent) + " " + name }
				clearFlows(b, e)
				d, ret = timed(b, e, prog, chain, chainLen)
				check("new_flow", en.ent, ret, xdpRedirect)
				res[key("new_flow")] = append(res[key("new_flow")], d)

				// The same with conntrack sync on: one ring-buffer
				// notification per new connection (no reader here; the
				// buffer holds far more than a run makes).
				clearFlows(b, e)
				if err := e.maps.SetSyncEvents(true); err != nil {
					b.Fatal(err)
				}
				d, ret = timed(b, e, prog, chain, chainLen)
				check("new_flow_sync", en.ent, ret, xdpRedirect)
				res[key("new_flow_sync")] = append(res[key("new_flow_sync")], d)
				if err := e.maps.SetSyncEvents(false); err != nil {
					b.Fatal(err)
				}

				establishAll(b, e)
				// One untimed pass first: the entries were just written
				// by the control plane's system calls, from any CPU.
				timed(b, e, prog, chain, chainLen)
				d, ret = timed(b, e, prog, chain, chainLen)
				check("established_250", en.ent, ret, xdpRedirect)
				res[key("established_250")] = append(res[key("established_250")], d)

				timed(b, e, prog, cycle, 2) // creates the two cycle flows
				establishAll(b, e)
				d, ret = timed(b, e, prog, cycle, chainLen)
				check("established", en.ent, ret, xdpRedirect)
				res[key("established")] = append(res[key("established")], d)

				reply := replyCycle(b, e) // clearFlows removed it
				d, ret = timed(b, e, prog, reply, chainLen)
				check("reply", en.ent, ret, xdpRedirect)
				res[key("reply")] = append(res[key("reply")], d)

				reply = replyChain(b, e)
				d, ret = timed(b, e, prog, reply, chainLen)
				check("reply_250", en.ent, ret, xdpRedirect)
				res[key("reply_250")] = append(res[key("reply_250")], d)

				d, ret = timed(b, e, prog, pass, chainLen)
				check("pass", en.ent, ret, xdpPass)
				res[key("pass")] = append(res[key("pass")], d)
			}
			// New flows by scheduler, XDP, benchReals servers per service.
			for _, sc := range schedBench {
				chainSched(b, e, sc.kind, false)
				clearFlows(b, e)
				d, ret := timed(b, e, e.objs.XdpDirector, chain, chainLen)
				check("new_flow "+sc.name, entryXDP, ret, xdpRedirect)
				res["sched "+sc.name] = append(res["sched "+sc.name], d)
			}
			chainSched(b, e, 0, true)
		}
	}
	b.StopTimer()
	base := median(res["xdp_tx"])
	fmt.Printf("\nper-packet cost, BPF_PROG_TEST_RUN, median of %d rounds x %d runs; ratios to xdp_tx (%d ns)\n",
		rounds*b.N, chainLen, base.Nanoseconds())
	fmt.Printf("%-16s %8s %8s %8s %8s %s\n", "path", "xdp ns", "ratio", "tc ns", "ratio", "target (xdp)")
	targets := map[string]string{"established": "<= 3x", "new_flow": "<= 5x"}
	for _, name := range []string{"established", "established_250", "new_flow", "new_flow_sync", "reply", "reply_250", "pass"} {
		x, c := median(res["xdp "+name]), median(res["tc "+name])
		fmt.Printf("%-16s %8d %7.2fx %8d %7.2fx %s\n", name, x.Nanoseconds(), float64(x)/float64(base),
			c.Nanoseconds(), float64(c)/float64(base), targets[name])
		b.ReportMetric(float64(x)/float64(base), name+"/xdp_tx")
		b.ReportMetric(float64(c)/float64(base), "tc_"+name+"/xdp_tx")
	}
	wrr := median(res["sched wrr"])
	fmt.Printf("\nnew flow by scheduler (xdp, %d real servers per service), ratio to wrr in the same run\n", benchReals)
	for _, sc := range schedBench {
		x := median(res["sched "+sc.name])
		fmt.Printf("%-16s %8d %7.2fx\n", sc.name, x.Nanoseconds(), float64(x)/float64(wrr))
		b.ReportMetric(float64(x)/float64(wrr), "new_flow_"+sc.name+"/wrr")
	}
	// The chains must really have taken their paths.
	p := e.paths(b)
	if p[PathNewFlow] == 0 || p[PathForward] == 0 || p[PathReply] == 0 || p[PathNoService] == 0 {
		b.Fatalf("paths not exercised: %v", movedPaths(make([]uint64, len(p)), p))
	}
}
