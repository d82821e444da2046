// Command guestinit is the init (PID 1) of director's test VM; see package
// vm. Built static, it is the initramfs's /init: it loads the modules that
// 9p needs, mounts the host's root read-only, mounts fresh kernel and
// temporary filesystems on top of it, chroots into it, loads the tests'
// modules with the host's modprobe, runs the jobs of its GuestConfig with
// their output on the console, prints a verdict and reboots, which ends
// QEMU (-no-reboot). Every step prints a marker line (vm.Marker) that the
// host reads; a failed step is an "error" marker and a fail verdict.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/director-lb/director/test/vm"
)

const newRoot = "/host"

// rawRoot is the host's root again, without the guest's mounts on top.
const rawRoot = "/hostraw"

func marker(kind string, args ...any) {
	fmt.Println(vm.FormatMarker(kind, args...))
}

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "guestinit: must run as the VM's init (PID 1)")
		os.Exit(2)
	}
	pass := true
	if err := run(); err != nil {
		marker("error", err)
		pass = false
	}
	if pass {
		marker("verdict", "pass")
	} else {
		marker("verdict", "fail")
	}
	unix.Sync()
	// With -no-reboot, QEMU exits when the guest reboots.
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	// Reached only if reboot failed; init exiting panics the kernel,
	// and panic=-1 reboots it.
	fmt.Fprintln(os.Stderr, "guestinit: reboot:", err)
	os.Exit(1)
}

// errJobs: at least one job failed (each already has its end marker).
var errJobs = errors.New("jobs failed")

func run() error {
	for _, m := range []struct{ src, dst, fstype string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"},
	} {
		if err := unix.Mount(m.src, m.dst, m.fstype, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	js, err := os.ReadFile(vm.ConfigPath)
	if err != nil {
		return err
	}
	var cfg vm.GuestConfig
	if err := json.Unmarshal(js, &cfg); err != nil {
		return fmt.Errorf("%s: %w", vm.ConfigPath, err)
	}
	for _, m := range cfg.BootModules {
		if err := insmod(m); err != nil {
			return err
		}
	}
	if err := mountHost(&cfg); err != nil {
		return err
	}
	if err := unix.Chroot(newRoot); err != nil {
		return fmt.Errorf("chroot %s: %w", newRoot, err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	// Modules the kernel asks for on demand (e.g. an IPVS scheduler)
	// are loaded by the host's modprobe in the tree bound above.
	if err := os.WriteFile("/proc/sys/kernel/modprobe", []byte("/usr/sbin/modprobe"), 0); err != nil {
		// Not fatal: only modules loaded on demand need it, and the
		// test that needs one says what is missing.
		fmt.Fprintln(os.Stderr, "guestinit: set kernel.modprobe:", err)
	}
	if len(cfg.Probe) > 0 {
		cmd := exec.Command("/usr/sbin/modprobe", append([]string{"-a"}, cfg.Probe...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("modprobe -a %s: %w: %s", strings.Join(cfg.Probe, " "), err, strings.TrimSpace(string(out)))
		}
	}
	marker("booted", uptimeMillis())

	failed := false
	for _, j := range cfg.Jobs {
		if !runJob(j) {
			failed = true
		}
	}
	if failed {
		return errJobs
	}
	return nil
}

// insmod loads a module file.
func insmod(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("insmod: %w", err)
	}
	defer func() { _ = f.Close() }()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("insmod %s: %w", path, err)
	}
	return nil
}

// mountHost mounts the host's root at newRoot and the guest's own kernel
// and temporary filesystems on top of it.
func mountHost(cfg *vm.GuestConfig) error {
	// msize: the largest a virtio queue carries, for fewer round trips;
	// cache=loose: the host's files do not change under a test run.
	if err := unix.Mount(cfg.HostTag, newRoot, "9p", unix.MS_RDONLY,
		"trans=virtio,version=9p2000.L,msize=512000,cache=loose"); err != nil {
		return fmt.Errorf("mount the host's root (9p tag %s): %w", cfg.HostTag, err)
	}
	// The same, untouched by the guest's own filesystems that go on top
	// of newRoot (a 9p channel mounts once; a bind is a second view): the
	// source of the bind mounts below.
	_ = os.Mkdir(rawRoot, 0o755) // exists already, or the mount below says what is wrong
	if err := unix.Mount(newRoot, rawRoot, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind the host's root on %s: %w", rawRoot, err)
	}
	type mnt struct {
		src, dst, fstype string
		flags            uintptr
		data             string
		optional         bool
	}
	for _, m := range []mnt{
		{"proc", "/proc", "proc", 0, "", false},
		{"sysfs", "/sys", "sysfs", 0, "", false},
		{"devtmpfs", "/dev", "devtmpfs", 0, "", false},
		{"devpts", "/dev/pts", "devpts", 0, "ptmxmode=0666", true},
		{"tmpfs", "/dev/shm", "tmpfs", 0, "", true},
		{"tmpfs", "/tmp", "tmpfs", 0, "mode=1777", false},
		{"tmpfs", "/var/tmp", "tmpfs", 0, "mode=1777", true},
		{"tmpfs", "/run", "tmpfs", 0, "mode=755", false},
		{"bpf", "/sys/fs/bpf", "bpf", 0, "mode=700", false},
		{"cgroup2", "/sys/fs/cgroup", "cgroup2", 0, "", true},
		{"tracefs", "/sys/kernel/tracing", "tracefs", 0, "", true},
		{"debugfs", "/sys/kernel/debug", "debugfs", 0, "", true},
		{cfg.ModulesDir, "/usr/lib/modules", "", unix.MS_BIND, "", false},
	} {
		dst := filepath.Join(newRoot, m.dst)
		src := m.src
		if m.flags&unix.MS_BIND != 0 {
			src = filepath.Join(rawRoot, m.src)
		}
		// Mount points inside the guest's own filesystems (dev/pts)
		// may need creating; those on the host's root exist.
		_ = os.Mkdir(dst, 0o755) // exists already, or the mount below says what is wrong
		if err := unix.Mount(src, dst, m.fstype, m.flags, m.data); err != nil && !m.optional {
			return fmt.Errorf("mount %s on %s: %w", m.src, m.dst, err)
		}
	}
	// Host directories hidden by the guest's temporary filesystems.
	for _, dir := range cfg.Keep {
		dst := filepath.Join(newRoot, dir)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("keep %s: %w", dir, err)
		}
		if err := unix.Mount(filepath.Join(rawRoot, dir), dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("keep %s: %w", dir, err)
		}
	}
	return nil
}

// uptimeMillis is the time since the kernel started.
func uptimeMillis() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) // cannot fail: a valid clock and pointer
	return ts.Nano() / 1e6
}

var baseEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8", "TERM=dumb",
	"DIRECTOR_VM=1", "DIRECTOR_PRIVILEGED_TESTS=1",
}

// runJob runs one job with its output on the console and reports it.
func runJob(j vm.Job) bool {
	marker("start", j.Name)
	start := time.Now()
	ctx := context.Background()
	if j.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.Timeout)
		defer cancel()
	}
	status, reason := "pass", ""
	if len(j.Argv) == 0 {
		status, reason = "fail", "empty argv"
	} else {
		cmd := exec.CommandContext(ctx, j.Argv[0], j.Argv[1:]...)
		cmd.Dir = j.Dir
		cmd.Env = append(append([]string{}, baseEnv...), j.Env...)
		cmd.Stdout = os.Stdout
		cmd.Stderr = os.Stdout
		// Its own process group, so that a timeout kills what it started.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		err := cmd.Run()
		switch {
		case ctx.Err() != nil:
			status, reason = "timeout", "after "+j.Timeout.String()
		case err != nil:
			status, reason = "fail", strings.ReplaceAll(err.Error(), "\n", " ")
		}
	}
	reapOrphans()
	// A newline first: the job's last output line may lack one.
	fmt.Println()
	marker("end", j.Name, status, fmt.Sprintf("%.1f", time.Since(start).Seconds()), reason)
	return status == "pass"
}

// reapOrphans collects the exited orphans that PID 1 inherits (daemons
// a test started and killed).
func reapOrphans() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
