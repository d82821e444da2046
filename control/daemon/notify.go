package daemon

// systemd's readiness protocol (sd_notify), spoken without a library: one
// datagram of newline-separated KEY=VALUE lines sent to the unix socket
// named by $NOTIFY_SOCKET. The unit is Type=notify, so systemd holds
// `systemctl start` until READY=1 (the data plane attached, the
// configuration applied, the control socket serving) and reports a start
// that dies before it as failed. Around a reload the daemon says
// RELOADING=1, with the CLOCK_MONOTONIC time systemd 253 and later ask
// for, then READY=1; STOPPING=1 when it starts to shut down.
//
// Without $NOTIFY_SOCKET (not under systemd, or a unit of another type)
// every call does nothing. A send that fails is logged once and never
// stops the daemon: readiness is a courtesy to the service manager, the
// data plane serves either way.

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// notifier sends state changes to the service manager.
type notifier struct {
	addr *net.UnixAddr // nil: not asked to notify
	log  *slog.Logger

	mu     sync.Mutex
	warned bool
}

// newNotifier reads $NOTIFY_SOCKET and removes it from the environment,
// so that the commands the daemon runs (health checks, HA scripts) do
// not inherit it and speak for the daemon. A name starting with '@' is a
// socket in the abstract namespace.
func newNotifier(log *slog.Logger) *notifier {
	n := &notifier{log: log}
	name := os.Getenv("NOTIFY_SOCKET")
	_ = os.Unsetenv("NOTIFY_SOCKET") // only fails on an invalid name
	switch {
	case name == "":
	case name[0] == '/' || name[0] == '@':
		// net.UnixAddr spells the abstract namespace with a leading '@'
		// too, and turns it into the leading NUL byte of the kernel's
		// address.
		n.addr = &net.UnixAddr{Name: name, Net: "unixgram"}
	default:
		// vsock: addresses (a VM's manager) are not spoken here.
		log.Warn("NOTIFY_SOCKET is not a unix socket path; systemd will not hear from the daemon", "NOTIFY_SOCKET", name)
	}
	return n
}

// send sends one message, the lines joined by newlines.
func (n *notifier) send(lines ...string) {
	if n == nil || n.addr == nil {
		return
	}
	if err := sendNotify(n.addr, strings.Join(lines, "\n")); err != nil {
		n.mu.Lock()
		defer n.mu.Unlock()
		if !n.warned {
			n.warned = true
			n.log.Warn("sd_notify: cannot tell the service manager", "socket", n.addr.Name, "message", lines[0], "error", err)
		}
	}
}

// sendNotify writes msg as one datagram to addr.
func sendNotify(addr *net.UnixAddr, msg string) error {
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }() // a datagram socket: nothing buffered to lose
	k, err := c.Write([]byte(msg))
	if err != nil {
		return err
	}
	if k != len(msg) {
		return fmt.Errorf("short write: %d of %d bytes", k, len(msg))
	}
	return nil
}

// ready says the daemon serves; status is shown by `systemctl status`.
func (n *notifier) ready(status string) { n.send("READY=1", "STATUS="+status) }

// reloading says a reload begins.
func (n *notifier) reloading() {
	n.send("RELOADING=1", "MONOTONIC_USEC="+monotonicUsec(), "STATUS=reloading the configuration")
}

// stopping says the daemon shuts down.
func (n *notifier) stopping() { n.send("STOPPING=1", "STATUS=stopping") }

// monotonicUsec is CLOCK_MONOTONIC in microseconds, in decimal.
func monotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "0" // cannot fail on Linux; systemd ignores 0
	}
	return fmt.Sprint(ts.Nano() / 1000)
}

// reloadNotified is Reload between RELOADING=1 and READY=1, the status
// line saying whether the new configuration took.
func (d *Daemon) reloadNotified() error {
	d.notify.reloading()
	err := d.Reload()
	status := "serving; configuration reloaded"
	if err != nil {
		status = "serving; reload refused, the running configuration stays"
		if errors.Is(err, ErrRestartNeeded) {
			status = "serving; the reload needs a restart, the running configuration stays"
		}
	}
	d.notify.ready(status)
	return err
}
