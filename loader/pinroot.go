package loader

// Where the pinned state lives when the daemon runs in a private mount
// namespace. `ip netns exec`, `unshare -m` and containers give a process
// its own mounts; `ip netns exec` even mounts a fresh /sys, without the
// host's bpffs. A bpffs mounted there is a new, private instance that dies
// with the namespace, taking the pins and the XDP links with it: forwarding
// would stop with the daemon. So, when /sys/fs/bpf is not a bpffs, the
// loader looks for the host's through a process that still sees it (pid 1,
// else the daemon's ancestors in another mount namespace: the shell that ran
// `ip netns exec`), keeps a handle on that directory, and pins through it
// (/proc/self/fd/N/director). Only in the initial mount namespace does it
// mount a bpffs itself (a host that has none mounted yet; that mount
// outlives the process); elsewhere (a container with its own pid namespace
// sees no process of the host) it refuses to start and names the fix.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// hostBPFFS is the handle on the host's bpffs, opened once per process.
var hostBPFFS struct {
	once sync.Once
	path string // /proc/self/fd/N, or "" when /sys/fs/bpf is usable as it is
	note string // how it was found, for the log
	err  error
}

// ErrPrivateBPFFS: the daemon runs in a private mount namespace without the
// host's bpffs, and cannot reach it.
var ErrPrivateBPFFS = errors.New("no persistent bpffs")

// resolvePinRoot returns the directory to pin under for root. A root
// outside /sys/fs/bpf (tests, --pin-root) is used as it is.
func resolvePinRoot(root string) (string, error) {
	rest, ok := strings.CutPrefix(root, "/sys/fs/bpf")
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		return root, nil
	}
	hostBPFFS.once.Do(findHostBPFFS)
	if hostBPFFS.err != nil {
		return "", hostBPFFS.err
	}
	if hostBPFFS.path == "" {
		return root, nil
	}
	return hostBPFFS.path + rest, nil
}

// PinRootNote says where the pinned state really is when the loader had
// to look for the host's bpffs, or "".
func PinRootNote() string { return hostBPFFS.note }

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.BPF_FS_MAGIC
}

func findHostBPFFS() {
	if isBPFFS("/sys/fs/bpf") {
		return
	}
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		hostBPFFS.err = fmt.Errorf("read own mount namespace: %w", err)
		return
	}
	// The initial mount namespace: the fixed inode recent kernels give it
	// (PROC_MNT_INIT_INO, 0xEFFFFFF8), or the host's pid 1's (pid 1 of
	// the initial pid namespace, whose inode has long been fixed:
	// PROC_PID_INIT_INO, 0xEFFFFFFC; a container's pid 1 proves nothing).
	initial := self == fmt.Sprintf("mnt:[%d]", uint32(0xEFFFFFF8))
	if pidNS, err := os.Readlink("/proc/self/ns/pid"); err == nil && pidNS == fmt.Sprintf("pid:[%d]", uint32(0xEFFFFFFC)) {
		if ns, err := os.Readlink("/proc/1/ns/mnt"); err == nil && ns == self {
			initial = true
		}
	}
	for _, pid := range append([]int{1}, ancestors()...) {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		if err != nil || ns == self {
			continue
		}
		dir := fmt.Sprintf("/proc/%d/root/sys/fs/bpf", pid)
		if !isBPFFS(dir) {
			continue
		}
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		hostBPFFS.path = "/proc/self/fd/" + strconv.Itoa(fd)
		hostBPFFS.note = fmt.Sprintf("this process has a private /sys (ip netns exec, unshare -m or a container); pinning in the host's bpffs, /sys/fs/bpf as process %d sees it", pid)
		return
	}
	if !initial {
		hostBPFFS.err = fmt.Errorf("%w: this process runs in a mount namespace of its own (ip netns exec, unshare -m, a container) whose /sys/fs/bpf is not a bpffs, and the host's cannot be reached: a bpffs mounted here would die with the daemon, and forwarding with it. "+
			"Run it with `nsenter --net=/run/netns/<name>` instead of `ip netns exec`, or bind-mount the host's bpffs into its namespace (docker: -v /sys/fs/bpf:/sys/fs/bpf)", ErrPrivateBPFFS)
	}
	// Otherwise this is the host's own mount namespace, without a bpffs
	// yet: ensureBPFFS mounts one, which outlives the process.
}

// ancestors lists the parent, grandparent, ... of this process, up to 64.
func ancestors() []int {
	var out []int
	pid := os.Getppid()
	for range 64 {
		if pid <= 1 {
			break
		}
		out = append(out, pid)
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			break
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			break
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			break
		}
		if pid, err = strconv.Atoi(f[1]); err != nil {
			break
		}
	}
	return out
}
