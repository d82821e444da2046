// Package vm boots Debian's 6.1 kernel under QEMU with software emulation
// and runs Go test binaries inside it: the throw-away VM where director's
// tests meet a real kernel IPVS (the build machines' kernel has none) and an
// older kernel without TCX.
//
// The host side (this package and ./vmrun) downloads Debian's kernel package
// once into a cache outside git, builds a small initramfs holding the guest's
// init (./guestinit, a static Go binary), the modules that init needs to
// reach the host's files and a GuestConfig, and boots QEMU with no network
// device at all. The guest mounts the host's root directory read-only over
// 9p (virtio), mounts fresh proc, sys, dev, bpffs and tmpfs /tmp and /run on
// top of it, binds the extracted kernel's modules over /usr/lib/modules and
// chroots into it: every Debian binary of the host (ip, nsenter, ethtool,
// curl, the built director) is there, and so are the test binaries, which
// the host compiles before the boot. The guest then loads the modules the
// tests need with the host's modprobe (kmod, modules.dep and softdeps of the
// extracted tree), runs every job with its output on the serial console and
// ends with a verdict line that the host reads.
//
// This file holds what host and guest share: the configuration the host
// writes into the initramfs and the marker lines the guest prints.
package vm

import (
	"fmt"
	"strings"
	"time"
)

// GuestConfig is what the guest's init does; the host writes it as JSON
// into the initramfs at ConfigPath.
type GuestConfig struct {
	// BootModules are initramfs paths of the modules that mounting the
	// host's root needs (virtio PCI, 9p), dependencies first.
	BootModules []string `json:"boot_modules"`
	// HostTag is the 9p mount tag of the host's root directory.
	HostTag string `json:"host_tag"`
	// ModulesDir is the host path of the extracted kernel's lib/modules,
	// bound over /usr/lib/modules inside the guest.
	ModulesDir string `json:"modules_dir"`
	// Keep lists host directories that must stay visible in the guest
	// although they lie under one of its own temporary filesystems (a
	// checkout under /tmp): they are bound back over them.
	Keep []string `json:"keep"`
	// Probe lists the modules loaded with modprobe once the guest runs
	// in the host's root (dependencies and softdeps resolved by kmod).
	Probe []string `json:"probe"`
	// Jobs run one after the other; every job runs even when an earlier
	// one failed.
	Jobs []Job `json:"jobs"`
}

// Job is one program run inside the guest, in the host's root.
type Job struct {
	// Name identifies the job in the marker lines.
	Name string `json:"name"`
	// Dir is the working directory (a host path).
	Dir string `json:"dir"`
	// Argv is the program (a host path) and its arguments.
	Argv []string `json:"argv"`
	// Env is added to the guest's base environment (PATH, HOME=/tmp,
	// TMPDIR=/tmp, DIRECTOR_VM=1, DIRECTOR_PRIVILEGED_TESTS=1).
	Env []string `json:"env"`
	// Timeout kills the job; zero means none (the host's deadline
	// still bounds the whole boot).
	Timeout time.Duration `json:"timeout"`
}

// ConfigPath is where the guest's init finds its GuestConfig.
const ConfigPath = "/director-vm.json"

// Marker starts every line the guest's init prints for the host to read:
//
//	@@director-vm booted <ms since kernel start>
//	@@director-vm start <job>
//	@@director-vm end <job> <pass|fail|timeout> <seconds> [reason]
//	@@director-vm error <reason>
//	@@director-vm verdict <pass|fail>
const Marker = "@@director-vm"

// Event is one parsed marker line.
type Event struct {
	Kind string   // booted, start, end, error or verdict
	Args []string // the words after the kind
}

// ParseMarker parses a console line; ok is false for any other line. A
// marker may follow other output on the same line (the kernel's messages
// and a test's output share the console), so it is searched anywhere.
func ParseMarker(line string) (ev Event, ok bool) {
	i := strings.Index(line, Marker+" ")
	if i < 0 {
		return Event{}, false
	}
	f := strings.Fields(line[i+len(Marker):])
	if len(f) == 0 {
		return Event{}, false
	}
	switch f[0] {
	case "booted", "start", "end", "error", "verdict":
		return Event{Kind: f[0], Args: f[1:]}, true
	}
	return Event{}, false
}

// FormatMarker renders a marker line (without the newline).
func FormatMarker(kind string, args ...any) string {
	s := Marker + " " + kind
	for _, a := range args {
		s += " " + fmt.Sprint(a)
	}
	return s
}
