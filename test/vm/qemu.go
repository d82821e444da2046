// Booting the guest: the initramfs (init, the 9p modules, the guest's
// configuration) and one QEMU run with software emulation, its serial
// console streamed to the caller and read for the guest's markers.

package vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BootModuleNames are the modules the guest loads from the initramfs to
// mount the host's root: the virtio PCI transport and 9p over virtio.
// Everything else is loaded later with modprobe from the host's root.
var BootModuleNames = []string{"virtio_pci", "9pnet_virtio", "9p"}

// HostTag is the 9p mount tag of the host's root directory.
const HostTag = "hostroot"

// Config says what to boot.
type Config struct {
	Kernel *Kernel
	// Init is the guest's init: a static binary of ./guestinit.
	Init string
	// Guest holds the jobs and the modules to probe; BootModules,
	// HostTag and ModulesDir are filled in by Boot.
	Guest GuestConfig
	// WorkDir receives the initramfs.
	WorkDir string
	// CPUs and Memory (QEMU's -m syntax) of the guest.
	CPUs   int
	Memory string
	// Timeout bounds the whole boot: QEMU is killed after it.
	Timeout time.Duration
	// Console receives every console line, prefixed with "vm| ".
	Console io.Writer
}

// JobResult is a job's outcome as the guest reported it.
type JobResult struct {
	Name    string
	Status  string // pass, fail or timeout; "" if it never ended
	Seconds float64
	Reason  string
}

// Result is what a boot reported.
type Result struct {
	// Booted is the host time from QEMU's start to the guest's init
	// reporting that the host's root is mounted and modules loaded.
	Booted time.Duration
	// KernelBoot is the guest's own time since kernel start at that point.
	KernelBoot time.Duration
	Jobs       []JobResult
	Errors     []string // the guest init's error markers
	Verdict    string   // pass or fail; "" if none came
	Total      time.Duration
}

// ErrFailed: the guest ran, and a job failed or the guest reported an error.
var ErrFailed = errors.New("VM tests failed")

// BuildInitramfs writes the initramfs and returns its path.
func BuildInitramfs(cfg *Config) (string, error) {
	files, err := cfg.Kernel.BootModules(BootModuleNames)
	if err != nil {
		return "", fmt.Errorf("resolve boot modules: %w", err)
	}
	init, err := os.ReadFile(cfg.Init)
	if err != nil {
		return "", fmt.Errorf("read guest init: %w", err)
	}
	g := cfg.Guest
	g.HostTag = HostTag
	g.ModulesDir, err = filepath.Abs(cfg.Kernel.ModulesRoot())
	if err != nil {
		return "", err
	}
	g.BootModules = nil

	var buf bytes.Buffer
	c := NewCpio(&buf)
	// Cpio's errors stick: Close below reports the first.
	_ = c.CharDev("dev/console", 0o600, 5, 1)
	_ = c.Dir("proc")
	_ = c.Dir("sys")
	_ = c.Dir("host")
	_ = c.File("init", 0o755, init)
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(cfg.Kernel.ModulesDir(), f))
		if err != nil {
			return "", fmt.Errorf("boot module: %w", err)
		}
		p := "/modules/" + filepath.Base(f)
		_ = c.File(p, 0o644, data)
		g.BootModules = append(g.BootModules, p)
	}
	js, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return "", err
	}
	_ = c.File(ConfigPath, 0o644, js)
	if err := c.Close(); err != nil {
		return "", err
	}
	out := filepath.Join(cfg.WorkDir, "initramfs.cpio")
	return out, os.WriteFile(out, buf.Bytes(), 0o644)
}

// QEMUArgs is the command line that boots the guest: software emulation,
// no network device, the serial console on stdio, the host's root shared
// read-only.
func QEMUArgs(cfg *Config, initramfs string) []string {
	return []string{
		"-accel", "tcg", "-cpu", "max",
		"-smp", strconv.Itoa(cfg.CPUs), "-m", cfg.Memory,
		"-nographic", "-no-reboot", "-nic", "none",
		"-kernel", cfg.Kernel.Vmlinuz(), "-initrd", initramfs,
		"-append", "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=4 mitigations=off random.trust_cpu=on",
		"-virtfs", "local,path=/,mount_tag=" + HostTag + ",security_model=none,readonly=on,multidevs=remap",
	}
}

// Boot builds the initramfs, boots QEMU and follows the console until the
// guest's verdict, QEMU's exit or the timeout. The error is nil only when
// the guest's verdict is pass and every job passed.
func Boot(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.CPUs == 0 {
		cfg.CPUs = 2
	}
	if cfg.Memory == "" {
		cfg.Memory = "2G"
	}
	if cfg.Console == nil {
		cfg.Console = io.Discard
	}
	initramfs, err := BuildInitramfs(&cfg)
	if err != nil {
		return nil, err
	}
	// The guest binds the kernel's modules over the host root's
	// /usr/lib/modules (where modprobe, also the kernel's on-demand one,
	// looks); a host without modules of its own, a container, lacks that
	// mount point, and the guest cannot create it on the host's root.
	if err := os.MkdirAll("/usr/lib/modules", 0o755); err != nil {
		return nil, fmt.Errorf("boot VM: mount point of the guest's modules: %w", err)
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("boot VM: qemu-system-x86_64 not found (Debian package qemu-system-x86): %w", err)
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, qemu, QEMUArgs(&cfg, initramfs)...)
	cmd.Stdin = nil
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.WaitDelay = 5 * time.Second

	res := &Result{}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start qemu: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		follow(pr, cfg.Console, res, start)
	}()
	waitErr := cmd.Wait()
	_ = pw.Close()
	wg.Wait()
	res.Total = time.Since(start)

	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("VM timed out after %v (%s); QEMU killed", res.Total.Round(time.Second), res.progress())
	case res.Verdict == "":
		return res, fmt.Errorf("VM ended without a verdict (%s; qemu: %v): see the console above", res.progress(), waitErr)
	case res.Verdict != "pass" || len(res.Errors) > 0:
		return res, ErrFailed
	}
	for _, j := range res.Jobs {
		if j.Status != "pass" {
			return res, ErrFailed
		}
	}
	return res, nil
}

// progress says how far the guest got, for a timeout or a crash.
func (r *Result) progress() string {
	if r.Booted == 0 {
		return "the guest never finished booting"
	}
	if n := len(r.Jobs); n > 0 && r.Jobs[n-1].Status == "" {
		return "job " + r.Jobs[n-1].Name + " was running"
	}
	return fmt.Sprintf("%d jobs ended", len(r.Jobs))
}

// ansiEscape matches the terminal control sequences the firmware prints.
var ansiEscape = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|c)`)

// follow copies the console to out, line by line, and records markers.
func follow(r io.Reader, out io.Writer, res *Result, start time.Time) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = ansiEscape.ReplaceAllString(strings.TrimRight(line, "\r\n"), "")
			_, _ = fmt.Fprintf(out, "vm| %s\n", line) // the console echo; the markers are what count
			if ev, ok := ParseMarker(line); ok {
				res.record(ev, time.Since(start))
			}
		}
		if err != nil {
			return
		}
	}
}

func (r *Result) record(ev Event, at time.Duration) {
	arg := func(i int) string {
		if i < len(ev.Args) {
			return ev.Args[i]
		}
		return ""
	}
	switch ev.Kind {
	case "booted":
		r.Booted = at
		if ms, err := strconv.Atoi(arg(0)); err == nil {
			r.KernelBoot = time.Duration(ms) * time.Millisecond
		}
	case "start":
		r.Jobs = append(r.Jobs, JobResult{Name: arg(0)})
	case "end":
		s, _ := strconv.ParseFloat(arg(2), 64)
		jr := JobResult{Name: arg(0), Status: arg(1), Seconds: s, Reason: strings.Join(ev.Args[min(3, len(ev.Args)):], " ")}
		if n := len(r.Jobs); n > 0 && r.Jobs[n-1].Name == jr.Name && r.Jobs[n-1].Status == "" {
			r.Jobs[n-1] = jr
		} else {
			r.Jobs = append(r.Jobs, jr)
		}
	case "error":
		r.Errors = append(r.Errors, strings.Join(ev.Args, " "))
	case "verdict":
		r.Verdict = arg(0)
	}
}

// DefaultProbe are the modules the tests may need, loaded with modprobe
// (dependencies and softdeps from the extracted tree: ip_vs pulls
// nf_conntrack, nf_defrag_ipv4/6 and libcrc32c, which pulls crc32c):
// IPVS and its schedulers, veth and bridges for namespace labs, the legacy
// TC hook and classifier (6.1 has no TCX), and nftables NAT for reference
// arms.
var DefaultProbe = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_sh", "ip_vs_dh",
	"ip_vs_sed", "ip_vs_nq", "ip_vs_lblc", "ip_vs_lblcr", "ip_vs_fo", "ip_vs_ovf", "ip_vs_mh",
	"veth", "bridge", "sch_ingress", "cls_bpf", "act_bpf",
	"nf_nat", "nf_tables", "nft_chain_nat", "nft_nat", "nft_ct", "nft_numgen",
}
