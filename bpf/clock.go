package bpf

// The program's clock is jiffies (bpf_jiffies64, inlined by the verifier).
// The kernel does not export HZ, so it is measured: a two-instruction
// program returns jiffies through BPF_PROG_TEST_RUN at two instants a known
// time apart.

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

func jiffiesProgram() (*ebpf.Program, error) {
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:    ebpf.XDP,
		License: "GPL",
		// Store bpf_jiffies64() in the first 8 bytes of the packet
		// (the test-run return value has only 32 bits).
		Instructions: asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.FnJiffies64.Call(),
			asm.LoadMem(asm.R2, asm.R6, 0, asm.Word), // xdp_md.data
			asm.LoadMem(asm.R3, asm.R6, 4, asm.Word), // xdp_md.data_end
			asm.Mov.Reg(asm.R4, asm.R2),
			asm.Add.Imm(asm.R4, 8),
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.StoreMem(asm.R2, 0, asm.R0, asm.DWord),
			asm.Mov.Imm(asm.R0, 2).WithSymbol("out"), // XDP_PASS
			asm.Return(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load jiffies probe: %w", err)
	}
	return p, nil
}

func runJiffies(p *ebpf.Program) (uint64, error) {
	out := make([]byte, 14)
	if _, err := p.Run(&ebpf.RunOptions{Data: make([]byte, 14), DataOut: out}); err != nil {
		return 0, fmt.Errorf("run jiffies probe: %w", err)
	}
	return binary.NativeEndian.Uint64(out), nil
}

// Jiffies returns the kernel's jiffies counter, the program's clock.
func Jiffies() (uint64, error) {
	p, err := jiffiesProgram()
	if err != nil {
		return 0, err
	}
	defer func() { _ = p.Close() }()
	return runJiffies(p)
}

// ProbeHZ measures the kernel's HZ over about 60 ms and rounds it to the
// nearest configurable value (100, 250, 300, 1000).
func ProbeHZ() (uint64, error) {
	p, err := jiffiesProgram()
	if err != nil {
		return 0, err
	}
	defer func() { _ = p.Close() }()
	j0, err := runJiffies(p)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	time.Sleep(60 * time.Millisecond) // a measurement interval, not a wait for a condition
	j1, err := runJiffies(p)
	if err != nil {
		return 0, err
	}
	rate := float64(j1-j0) / time.Since(t0).Seconds()
	best := uint64(0)
	for _, hz := range []uint64{100, 250, 300, 1000} {
		if best == 0 || abs(rate-float64(hz)) < abs(rate-float64(best)) {
			best = hz
		}
	}
	return best, nil
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
