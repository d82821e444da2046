package loader

// bpffs mounting and directory locks. bpffs holds only BPF objects and
// directories, so locks are flock(2) on the directories themselves.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ensureBPFFS makes sure root is on a bpffs, mounting one on /sys/fs/bpf if
// nothing is mounted there, and creates root.
func ensureBPFFS(root string) error {
	base := filepath.Dir(root)
	var st unix.Statfs_t
	if err := unix.Statfs(base, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", base, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		if base != "/sys/fs/bpf" {
			return fmt.Errorf("%s is not on a bpffs; mount one there first", root)
		}
		if err := unix.Mount("bpf", base, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs on %s: %w", base, err)
		}
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", root, err)
	}
	return nil
}

// lockDir takes an exclusive flock on dir. With nonblock, a lock held
// elsewhere gives ErrBusy instead of waiting.
func lockDir(dir string, nonblock bool) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	how := unix.LOCK_EX
	if nonblock {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrBusy, dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return f, nil
}

func unlockDir(f *os.File) {
	if f == nil {
		return
	}
	// Closing the file releases the lock too; unlocking first only makes
	// it prompt, so neither error can leave the lock held.
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	_ = f.Close()
}
