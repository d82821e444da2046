package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The control socket: a unix socket only root may use.

// Listen opens the control socket: a unix socket, mode 0600, in a
// directory only root can enter. A socket left by a dead daemon is
// replaced; one that answers belongs to a running daemon and is refused.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = c.Close() // only a probe: that it answered is all we wanted
		return nil, fmt.Errorf("control socket %s: another director is running", path)
	}
	// Remove a socket left by a dead daemon, if any. If it cannot be removed, binding
	// would fail with "address already in use"; say why instead.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close() // cleanup on the error path; the chmod error is the one to report
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return rootOnly{ln.(*net.UnixListener)}, nil
}

// rootOnly refuses connections from peers that are not root (SO_PEERCRED),
// whatever the socket file's mode says.
type rootOnly struct{ *net.UnixListener }

func (l rootOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		if uid, err := peerUID(c); err == nil && uid == 0 {
			return c, nil
		}
		_ = c.Close() // a refused peer: nothing to tell it, nothing to report
	}
}

func peerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var serr error
	err = raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return cred.Uid, nil
}
