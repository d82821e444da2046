package bench

// The generator, receiver and bare-redirect programs of the forwarding
// rate benchmark, written as eBPF instructions, and the frames they send.

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// generatorInsns: take frame number n from the per-CPU counter (and count
// it), copy template n % flows over the live frame, return XDP_TX.
func generatorInsns(seq, templates *ebpf.Map) asm.Instructions {
	insns := append(countFrameInsns(seq),
		asm.And.Imm(asm.R7, flows-1),
		asm.StoreMem(asm.R10, -4, asm.R7, asm.Word),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, templates.FD()),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "abort"),
	)
	insns = append(insns, frameBoundsInsns()...)
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

// countFrameInsns, a generator's start: R6 = the context, R7 = frame
// number n from slot 0 of seq, which is set to n+1. Jumps to "abort" on
// failure.
func countFrameInsns(seq *ebpf.Map) asm.Instructions {
	return asm.Instructions{
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
	}
}

// frameBoundsInsns: R2 = the frame's data; jump to "abort" unless it holds
// frameLen bytes.
func frameBoundsInsns() asm.Instructions {
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // xdp_md.data
		asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // xdp_md.data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, frameLen),
		asm.JGT.Reg(asm.R4, asm.R3, "abort"),
	}
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

// ethIPv4 writes an Ethernet header and a 20-byte IPv4 header (protocol
// proto, total length ipLen, identification id, TTL 64, its checksum) at
// the start of f, and returns the two addresses as bytes.
func ethIPv4(f []byte, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, proto uint8, ipLen, id uint16) (s, d [4]byte) {
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], ipLen)
	binary.BigEndian.PutUint16(ip[4:], id)
	ip[8] = 64
	ip[9] = proto
	s, d = src.As4(), dst.As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	binary.BigEndian.PutUint16(ip[10:], fold(csum(0, ip)))
	return s, d
}

// udpFrame builds a frameLen-byte Ethernet/IPv4/UDP frame with correct
// IPv4 and UDP checksums; the payload is zeros.
func udpFrame(srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16) []byte {
	f := make([]byte, frameLen)
	s, d := ethIPv4(f, srcMAC, dstMAC, src, dst, unix.IPPROTO_UDP, frameLen-14, sport)
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

// sumPerCPU returns the per-CPU counters of slots 0..n-1, summed (or the
// counters themselves, when m is a plain array).
func sumPerCPU(m *ebpf.Map, n int) ([]uint64, error) {
	out := make([]uint64, n)
	for i := range out {
		if m.Type() == ebpf.Array {
			if err := m.Lookup(uint32(i), &out[i]); err != nil {
				return nil, fmt.Errorf("read counter %d: %w", i, err)
			}
			continue
		}
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

// generateWith sends about n frames from gen:eth0 with the generator
// prog, whose frame counter is slot 0 of seq, and measures what sink got.
func (l *rateLab) generateWith(prog *ebpf.Program, seq *ebpf.Map, n uint32) (runResult, error) {
	var res runResult
	frame := make([]byte, frameLen) // overwritten by the generator
	sent0, err := sumPerCPU(seq, 1)
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
		_, err := prog.Run(opts)
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
	sent1, err := sumPerCPU(seq, 1)
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
