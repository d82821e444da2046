package lab

// Taking a lab down: a node, the whole lab, or whatever an earlier run
// with the same prefix left; and choosing prefixes that no run uses.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// DeleteNode fails node the hard way: it kills every process inside its
// namespace and deletes the namespace, which removes its veth pairs (the
// switch side sees the ports vanish). The node can not be used afterwards.
func (l *Lab) DeleteNode(node string) error {
	if err := l.check(node, false); err != nil {
		return err
	}
	name := l.NetnsName(node)
	if err := removeNetns(name); err != nil {
		return err
	}
	l.mu.Lock()
	l.deleted[name] = true
	l.mu.Unlock()
	return nil
}

// Close stops the servers started by the lab, kills every process still
// running inside the lab's namespaces and deletes the namespaces. It is
// idempotent: later calls return nil.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	stops, created, deleted := l.stops, l.created, l.deleted
	l.stops = nil
	l.mu.Unlock()

	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	var errs []error
	for i := len(created) - 1; i >= 0; i-- {
		if deleted[created[i]] {
			continue
		}
		if err := removeNetns(created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeNetns kills the processes inside the named namespace and deletes
// it. A namespace that does not exist is no error.
func removeNetns(name string) error {
	path := filepath.Join(NetnsDir, name)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	if err := killIn(path); err != nil {
		errs = append(errs, fmt.Errorf("kill processes in namespace %s: %w", name, err))
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		errs = append(errs, fmt.Errorf("unmount namespace %s: %w", name, err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove namespace %s: %w", name, err))
	}
	return errors.Join(errs...)
}

// killIn sends SIGKILL to every process (other than this one) whose
// network namespace is the one bound at path.
func killIn(path string) error {
	var ns unix.Stat_t
	if err := unix.Stat(path, &ns); err != nil {
		return err
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	self := os.Getpid()
	var errs []error
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &st) != nil {
			continue
		}
		if st.Dev == ns.Dev && st.Ino == ns.Ino {
			if err := unix.Kill(pid, syscall.SIGKILL); err != nil && err != unix.ESRCH {
				errs = append(errs, fmt.Errorf("kill %d: %w", pid, err))
			}
		}
	}
	return errors.Join(errs...)
}

// CleanupPrefix removes what a lab with this prefix may have left behind
// (e.g. after a crashed run): for every lab namespace name under
// /run/netns ("<prefix>-lb1", "<prefix>-pub", ...) it kills the processes
// inside and deletes the namespace. It touches no other namespace.
func CleanupPrefix(prefix string) error {
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	var errs []error
	for _, s := range suffixes {
		if err := removeNetns(prefix + "-" + s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// UniquePrefix returns a short prefix ("dt" and six hex digits) that no
// existing namespace uses.
func UniquePrefix() string {
	for {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		p := "dt" + hex.EncodeToString(b[:])
		if !prefixInUse(p) {
			return p
		}
	}
}

func prefixInUse(prefix string) bool {
	ents, err := os.ReadDir(NetnsDir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			return true
		}
	}
	return false
}

func checkPrefix(p string) error {
	if len(p) == 0 || len(p) > 32 {
		return fmt.Errorf("check prefix %q: want 1 to 32 characters", p)
	}
	for _, c := range p {
		if !prefixChar(c) {
			return fmt.Errorf("check prefix %q: only letters, digits and _ allowed", p)
		}
	}
	return nil
}

// prefixChar reports whether c may appear in a prefix: [A-Za-z0-9_].
func prefixChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}
