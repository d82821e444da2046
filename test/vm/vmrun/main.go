// Command vmrun is `make test-vm`: it compiles the in-VM test packages
// (default ./test/vmtests/) as static test binaries, boots Debian's 6.1
// kernel under QEMU with software emulation (package vm), runs every
// binary inside with -test.v, prints the guest's console and a summary
// with the times, and exits non-zero when a test fails, the guest reports
// an error, or the deadline passes.
//
//	go run ./test/vm/vmrun [-run REGEXP] [-timeout 30m] [package ...]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/director-lb/director/test/vm"
)

func main() {
	start := time.Now()
	code := run()
	fmt.Printf("vm: total %.1fs\n", time.Since(start).Seconds())
	os.Exit(code)
}

func run() int {
	var (
		runRE   = flag.String("run", "", "run only the tests matching this regexp (go test -run)")
		timeout = flag.Duration("timeout", 30*time.Minute, "deadline of the whole boot; QEMU is killed after it")
		cache   = flag.String("cache", ".cache/vm", "cache of the downloaded kernel and the run's files (outside git)")
		cpus    = flag.Int("smp", 2, "guest CPUs")
		mem     = flag.String("m", "2G", "guest memory")
		probe   = flag.String("modules", strings.Join(vm.DefaultProbe, ","), "modules to load in the guest with modprobe")
		keep    = flag.Bool("keep", false, "keep the run's directory (initramfs, binaries) under -cache")
	)
	flag.Usage = func() {
		_, _ = fmt.Fprintf(flag.CommandLine.Output(), "usage: vmrun [flags] [package ...]  (default ./test/vmtests/)\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./test/vmtests/"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cacheDir, err := filepath.Abs(*cache)
	if err != nil {
		return fail(err)
	}
	t0 := time.Now()
	k, err := vm.FetchKernel(ctx, cacheDir, os.Stdout)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("vm: kernel %s (%.1fs)\n", k.Version, time.Since(t0).Seconds())

	removeStale(cacheDir)
	work, err := os.MkdirTemp(cacheDir, "run-")
	if err != nil {
		return fail(err)
	}
	if !*keep {
		defer func() { _ = os.RemoveAll(work) }() // what stays, removeStale removes later
	}
	t0 = time.Now()
	initBin := filepath.Join(work, "init")
	if err := goBuild(ctx, "build", "-o", initBin, "./test/vm/guestinit"); err != nil {
		return fail(err)
	}
	// Each job's own deadline leaves the host's deadline room to read
	// the verdict.
	jobTimeout := *timeout - 90*time.Second
	if jobTimeout < time.Minute {
		jobTimeout = *timeout / 2
	}
	var jobs []vm.Job
	for i, pkg := range pkgs {
		dir, err := goList(ctx, pkg)
		if err != nil {
			return fail(err)
		}
		bin := filepath.Join(work, fmt.Sprintf("%d-%s.test", i, filepath.Base(dir)))
		if err := goBuild(ctx, "test", "-c", "-o", bin, pkg); err != nil {
			return fail(err)
		}
		if _, err := os.Stat(bin); err != nil {
			fmt.Printf("vm: %s has no test files, nothing to run\n", pkg)
			continue
		}
		argv := []string{bin, "-test.v", "-test.count=1", "-test.timeout=" + jobTimeout.String()}
		if *runRE != "" {
			argv = append(argv, "-test.run="+*runRE)
		}
		jobs = append(jobs, vm.Job{Name: pkg, Dir: dir, Argv: argv, Timeout: jobTimeout + 30*time.Second})
	}
	if len(jobs) == 0 {
		return fail(errors.New("no test binary to run"))
	}
	fmt.Printf("vm: built init and %d test binaries (%.1fs)\n", len(jobs), time.Since(t0).Seconds())

	var mods []string
	for _, m := range strings.Split(*probe, ",") {
		if m = strings.TrimSpace(m); m != "" {
			mods = append(mods, m)
		}
	}
	res, err := vm.Boot(ctx, vm.Config{
		Kernel:  k,
		Init:    initBin,
		Guest:   vm.GuestConfig{Probe: mods, Jobs: jobs, Keep: keepDirs(cacheDir)},
		WorkDir: work,
		CPUs:    *cpus,
		Memory:  *mem,
		Timeout: *timeout,
		Console: os.Stdout,
	})
	if res != nil {
		if res.Booted > 0 {
			fmt.Printf("vm: booted in %.1fs (guest kernel %.1fs), VM ran %.1fs\n",
				res.Booted.Seconds(), res.KernelBoot.Seconds(), res.Total.Seconds())
		} else {
			fmt.Printf("vm: did not boot, VM ran %.1fs\n", res.Total.Seconds())
		}
		for _, j := range res.Jobs {
			st := j.Status
			if st == "" {
				st = "unfinished"
			}
			fmt.Printf("vm: %-8s %s (%.1fs) %s\n", st, j.Name, j.Seconds, j.Reason)
		}
		for _, e := range res.Errors {
			fmt.Printf("vm: guest error: %s\n", e)
		}
	}
	if err != nil {
		return fail(err)
	}
	fmt.Println("vm: PASS")
	return 0
}

func fail(err error) int {
	fmt.Fprintf(os.Stderr, "vm: FAIL: %v\n", err)
	return 1
}

// goBuild runs `go <args>` with CGO off, so that the binaries are static
// and run in the guest's initramfs as well as in the host's root.
func goBuild(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// goList returns a package's directory.
func goList(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "list", "-f", "{{.Dir}}", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %w", pkg, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// removeStale removes what killed runs left in the cache: run directories
// and partial kernel extractions older than an hour.
func removeStale(cacheDir string) {
	for _, pat := range []string{"run-*", "*.tmp-*"} {
		dirs, _ := filepath.Glob(filepath.Join(cacheDir, pat))
		for _, d := range dirs {
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
				_ = os.RemoveAll(d) // best effort: tried again at the next run
			}
		}
	}
}

// keepDirs are the host directories the guest needs whatever their path:
// the checkout (test packages) and the cache (kernel, test binaries).
func keepDirs(cacheDir string) []string {
	var out []string
	for _, d := range []string{".", cacheDir} {
		if abs, err := filepath.Abs(d); err == nil {
			out = append(out, abs)
		}
	}
	return out
}
