package loader

// Removing a node's data plane: its links and pinned state, and the
// temporary directories an interrupted load left.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Remove detaches the program and deletes the pinned state (see the
// function Remove).
func (d *Dataplane) Remove() error {
	cerr := d.Close()
	root := filepath.Dir(d.dir)
	return errors.Join(cerr, removeDir(root, d.dir))
}

// Remove deletes node's pinned state without loading anything: detaches
// its links, deletes its clsact filters (and the qdiscs it added) and unpins
// its maps. A clsact filter can only be deleted from its interface's
// network namespace; elsewhere it is left to go with the interface. It fails with ErrBusy while a control
// plane holds the state. Missing state is not an error. On each detached
// interface found in the caller's network namespace it turns accept_local
// back off; forwarding stays on.
func Remove(root, node string) error {
	if err := checkNode(node); err != nil {
		return err
	}
	if root == "" {
		root = DefaultPinRoot
	}
	root, err := resolvePinRoot(root)
	if err != nil {
		return err
	}
	dir := PinDir(root, node)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return removeDir(root, dir)
}

func removeDir(root, dir string) error {
	rootLock, err := lockDir(root, false)
	if err != nil {
		return err
	}
	defer unlockDir(rootLock)
	lock, err := lockDir(dir, true)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlockDir(lock)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if ifname, kind := attachmentPin(e.Name()); kind != "" {
			local := false
			if kind == "clsact_" {
				m := readClsactMarker(p)
				iface, err := net.InterfaceByIndex(m.ifindex)
				local = err == nil && iface.Name == ifname
			} else {
				local = linkIsLocal(p, ifname)
			}
			if err := removeAttachment(p, ifname, kind); err != nil {
				return err
			}
			if local {
				// Best effort: the state is gone either way, and a
				// sysctl left on is what the interface had while
				// the director ran.
				_ = os.WriteFile(sysctlPath(ifname, "accept_local"), []byte("0"), 0)
			}
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("unpin %s: %w", p, err)
		}
	}
	if err := os.Remove(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// removeStaleTemps deletes temporary directories left by a crash during
// creation.
func removeStaleTemps(root, node string) {
	matches, _ := filepath.Glob(filepath.Join(root, tmpPrefix+node+"_*"))
	for _, m := range matches {
		// One that stays is tried again at the next Open; its name,
		// with the pid, never collides with a new one.
		_ = os.RemoveAll(m)
	}
}
