// This file runs code and commands inside a lab namespace: Do switches a
// locked OS thread into it, and the socket helpers (Listen, ListenPacket,
// Dialer, HTTPClient) create their sockets there, so the sockets belong to
// the node for good while the rest of the program stays in the root
// namespace.

package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// Do runs fn on a locked OS thread switched into node's namespace (node
// may also be Pub or Int) and switches the thread back afterwards. Sockets
// fn creates stay in the node's namespace. Goroutines fn starts do NOT run
// in the namespace. If the thread can not be switched back, it is never
// unlocked, so the Go runtime ends it rather than reuse it.
func (l *Lab) Do(node string, fn func() error) error {
	if err := l.check(node, true); err != nil {
		return err
	}
	target, err := netns.GetFromPath(l.NetnsPath(node))
	if err != nil {
		return fmt.Errorf("open namespace %s: %w", l.NetnsName(node), err)
	}
	defer func() { _ = target.Close() }()
	return doIn(target, l.NetnsName(node), fn)
}

func doIn(target netns.NsHandle, name string, fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("get current namespace: %w", err)
	}
	defer func() { _ = orig.Close() }()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter namespace %s: %w", name, err)
	}
	defer func() {
		if rerr := netns.Set(orig); rerr != nil {
			// Stay locked: the thread dies with this goroutine.
			err = errors.Join(err, fmt.Errorf("restore namespace after %s: %w", name, rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// Command returns a command that runs name inside node's namespace (via
// `ip netns exec`; node may also be Pub or Int). ctx kills it as with
// exec.CommandContext. For an unknown node the command's Err is set, so
// Start/Run/Output fail.
func (l *Lab) Command(ctx context.Context, node, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, ipPath(), append([]string{"netns", "exec", l.NetnsName(node), name}, args...)...)
	if err := l.check(node, true); err != nil {
		cmd.Err = err
	}
	return cmd
}

// Run runs name inside node's namespace and returns its combined output;
// a failure's error includes the output.
func (l *Lab) Run(node string, name string, args ...string) (string, error) {
	out, err := l.Command(context.Background(), node, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("run %s in %s: %w: %s", name, l.NetnsName(node), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// literal refuses host names: resolving one would start goroutines (and
// send DNS queries) outside the namespace, so lab sockets take literal IP
// addresses or an empty host only.
func literal(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("lab sockets take literal IP addresses, not %q", host)
	}
	return nil
}

// Listen is net.Listen with the socket created inside node's namespace.
// addr's host must be empty or a literal IP address.
func (l *Lab) Listen(node, network, addr string) (net.Listener, error) {
	if err := literal(addr); err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, node, err)
	}
	var ln net.Listener
	err := l.Do(node, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, node, err)
	}
	return ln, nil
}

// ListenPacket is net.ListenPacket with the socket created inside node's
// namespace. addr's host must be empty or a literal IP address.
func (l *Lab) ListenPacket(node, network, addr string) (net.PacketConn, error) {
	if err := literal(addr); err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, node, err)
	}
	var pc net.PacketConn
	err := l.Do(node, func() error {
		var err error
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, node, err)
	}
	return pc, nil
}

// Dialer returns a dial function (as net.Dialer.DialContext) whose sockets
// are created inside node's namespace. Addresses must be literal IPs.
func (l *Lab) Dialer(node string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := literal(addr); err != nil {
			return nil, fmt.Errorf("dial %s from %s: %w", addr, node, err)
		}
		var c net.Conn
		err := l.Do(node, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("dial %s from %s: %w", addr, node, err)
		}
		return c, nil
	}
}

// HTTPClientTimeout is the Timeout of the clients HTTPClient returns.
const HTTPClientTimeout = 30 * time.Second

// HTTPClient returns an HTTP client that connects from inside node's
// namespace, with no proxy and a timeout of HTTPClientTimeout. With
// keepAlive false every request opens a new TCP connection. URLs must use
// literal IP addresses.
func (l *Lab) HTTPClient(node string, keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: HTTPClientTimeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       l.Dialer(node),
			DisableKeepAlives: !keepAlive,
			MaxIdleConns:      16,
			IdleConnTimeout:   90 * time.Second,
		},
	}
}
