// Tests of the UDP transports. The link checks run anywhere; the rest need
// root and build their own network namespaces (never touching the host's):
// two nodes, A and B, joined by veth pairs (enp0s3: 192.168.56.11/24 and
// .12/24; enp0s8: 192.168.200.251/24 and .252/24). With
// DIRECTOR_PRIVILEGED_TESTS=1 a non-root run fails instead of skipping.
//
// This file also holds the namespace helpers the address tests share
// (needRootNet, netnsThread).

package heartbeat

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/director-lb/director/test/testenv"
)

// netnsThread is a goroutine locked to an OS thread that lives in a new
// network namespace of its own; run executes functions there. The thread
// is never unlocked, so it ends with the goroutine instead of going back to
// the pool, and nothing ever runs in the host's namespace by mistake.
type netnsThread struct {
	ns   netns.NsHandle
	reqs chan func()
	done chan struct{}
}

// newNetnsThread starts a thread in a new namespace, with lo up, and stops
// it when the test ends.
func newNetnsThread(t *testing.T) *netnsThread {
	t.Helper()
	w := &netnsThread{ns: -1, reqs: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	go func() {
		defer close(w.done)
		runtime.LockOSThread() // never unlocked: see netnsThread
		ns, err := netns.New()
		if err != nil {
			ready <- fmt.Errorf("create namespace: %w", err)
			return
		}
		w.ns = ns
		ready <- setUp("lo")
		for fn := range w.reqs {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		<-w.done
		if w.ns >= 0 {
			_ = w.ns.Close()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(w.reqs)
		<-w.done
		_ = w.ns.Close()
	})
	return w
}

// run runs fn in the thread's namespace and returns its error.
func (w *netnsThread) run(fn func() error) error {
	errc := make(chan error, 1)
	w.reqs <- func() { errc <- fn() }
	return <-errc
}

// must runs fn in the thread's namespace and fails the test on error.
func (w *netnsThread) must(t *testing.T, fn func() error) {
	t.Helper()
	if err := w.run(fn); err != nil {
		t.Fatal(err)
	}
}

// setUp sets the named interfaces up.
func setUp(names ...string) error {
	for _, n := range names {
		l, err := netlink.LinkByName(n)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			return fmt.Errorf("set %s up: %w", n, err)
		}
	}
	return nil
}

// addAddr adds prefix p, with its broadcast address, to interface name.
func addAddr(name string, p netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)},
		Broadcast: prefixBroadcast(p).AsSlice()}
	if err := netlink.AddrAdd(l, a); err != nil {
		return fmt.Errorf("add %s to %s: %w", p, name, err)
	}
	return nil
}

// twoNodes builds nodes A and B joined by enp0s3 and enp0s8 veth pairs
// (each pair is created inside A with its peer placed directly in B).
func twoNodes(t *testing.T) (a, b *netnsThread) {
	t.Helper()
	a, b = newNetnsThread(t), newNetnsThread(t)
	a.must(t, func() error {
		for _, n := range []string{"enp0s3", "enp0s8"} {
			la := netlink.NewLinkAttrs()
			la.Name = n
			v := &netlink.Veth{LinkAttrs: la, PeerName: n, PeerNamespace: netlink.NsFd(int(b.ns))}
			if err := netlink.LinkAdd(v); err != nil {
				return fmt.Errorf("add veth %s: %w", n, err)
			}
		}
		return errors.Join(addAddr("enp0s3", netip.MustParsePrefix("192.168.56.11/24")),
			addAddr("enp0s8", netip.MustParsePrefix("192.168.200.251/24")),
			setUp("enp0s3", "enp0s8"))
	})
	b.must(t, func() error {
		return errors.Join(addAddr("enp0s3", netip.MustParsePrefix("192.168.56.12/24")),
			addAddr("enp0s8", netip.MustParsePrefix("192.168.200.252/24")),
			setUp("enp0s3", "enp0s8"))
	})
	return a, b
}

// openTransport opens a transport in w's namespace, closed when the test
// ends.
func openTransport(t *testing.T, w *netnsThread, links ...LinkConfig) *UDPTransport {
	t.Helper()
	var tr *UDPTransport
	w.must(t, func() (err error) {
		tr, err = NewUDPTransport(links)
		return err
	})
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// receive waits up to a second for a packet.
func receive(t *testing.T, tr *UDPTransport) Packet {
	t.Helper()
	select {
	case p, ok := <-tr.Packets():
		if !ok {
			t.Fatal("packets channel closed")
		}
		return p
	case <-time.After(time.Second):
		t.Fatal("no packet within 1s")
	}
	return Packet{}
}

// expectNothing checks that no packet arrives for a while.
func expectNothing(t *testing.T, tr *UDPTransport, who string) {
	t.Helper()
	select {
	case p := <-tr.Packets():
		t.Errorf("%s got an unexpected packet %q on %s from %v", who, p.Data, p.Link, p.From)
	case <-time.After(150 * time.Millisecond):
	}
}

var (
	a3 = netip.MustParseAddr("192.168.56.11")
	b3 = netip.MustParseAddr("192.168.56.12")
	a8 = netip.MustParseAddr("192.168.200.251")
	b8 = netip.MustParseAddr("192.168.200.252")
	g1 = netip.MustParseAddr("225.0.0.1")
)

func TestUDPLinkName(t *testing.T) {
	for _, c := range []struct {
		l    LinkConfig
		want string
	}{
		{LinkConfig{Mode: "bcast", Interface: "enp0s3"}, "bcast enp0s3"},
		{LinkConfig{Mode: "bcast", Interface: "enp0s3", Port: 694}, "bcast enp0s3"},
		{LinkConfig{Mode: "bcast", Interface: "enp0s3", Port: 695}, "bcast enp0s3 port 695"},
		{LinkConfig{Mode: "mcast", Interface: "enp0s3", Group: g1, TTL: 1}, "mcast enp0s3 225.0.0.1"},
		{LinkConfig{Mode: "ucast", Interface: "enp0s8", Peer: b8}, "ucast enp0s8 192.168.200.252"},
	} {
		if got := c.l.Name(); got != c.want {
			t.Errorf("%+v: name %q, want %q", c.l, got, c.want)
		}
		if err := c.l.Validate(); err != nil {
			t.Errorf("%+v: %v", c.l, err)
		}
	}
}

func TestUDPLinkValidate(t *testing.T) {
	for _, l := range []LinkConfig{
		{Mode: "serial", Interface: "enp0s3"},
		{Mode: "bcast"},
		{Mode: "bcast", Interface: "a-very-long-interface-name"},
		{Mode: "bcast", Interface: "enp0s3", Port: 70000},
		{Mode: "bcast", Interface: "enp0s3", Group: g1},
		{Mode: "bcast", Interface: "enp0s3", Peer: b3},
		{Mode: "bcast", Interface: "enp0s3", TTL: 2},
		{Mode: "mcast", Interface: "enp0s3"},
		{Mode: "mcast", Interface: "enp0s3", Group: b3},
		{Mode: "mcast", Interface: "enp0s3", Group: netip.MustParseAddr("ff02::1")},
		{Mode: "mcast", Interface: "enp0s3", Group: g1, TTL: 256},
		{Mode: "ucast", Interface: "enp0s8"},
		{Mode: "ucast", Interface: "enp0s8", Peer: g1},
		{Mode: "ucast", Interface: "enp0s8", Peer: netip.MustParseAddr("fe80::1")},
	} {
		err := l.Validate()
		if err == nil {
			t.Errorf("%+v accepted", l)
			continue
		}
		if !strings.HasPrefix(err.Error(), "check link "+l.Name()+": ") {
			t.Errorf("%+v: error %q does not name the link", l, err)
		}
		if _, err := NewUDPTransport([]LinkConfig{l}); err == nil {
			t.Errorf("%+v: transport opened", l)
		}
	}
	if _, err := NewUDPTransport(nil); err == nil {
		t.Error("transport without links opened")
	}
	dup := LinkConfig{Mode: "bcast", Interface: "enp0s3"}
	if _, err := NewUDPTransport([]LinkConfig{dup, dup}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate link: %v", err)
	}
}

// TestUDPModes sends each way over one link of each mode: the peer gets
// the packet with the link's name and the sender's address and port; the
// sender does not get its own.
func TestUDPModes(t *testing.T) {
	testenv.RequirePrivileged(t)
	for _, c := range []struct {
		mode       string
		linkA      LinkConfig
		linkB      LinkConfig
		nameA      string
		nameB      string
		fromA      netip.Addr
		fromB      netip.Addr
		shareAPort bool
	}{
		{mode: "bcast",
			linkA: LinkConfig{Mode: "bcast", Interface: "enp0s3"},
			linkB: LinkConfig{Mode: "bcast", Interface: "enp0s3"},
			nameA: "bcast enp0s3", nameB: "bcast enp0s3", fromA: a3, fromB: b3},
		{mode: "mcast",
			linkA: LinkConfig{Mode: "mcast", Interface: "enp0s3", Group: g1},
			linkB: LinkConfig{Mode: "mcast", Interface: "enp0s3", Group: g1, TTL: 1},
			nameA: "mcast enp0s3 225.0.0.1", nameB: "mcast enp0s3 225.0.0.1", fromA: a3, fromB: b3},
		{mode: "ucast",
			linkA: LinkConfig{Mode: "ucast", Interface: "enp0s8", Peer: b8, Port: 1694},
			linkB: LinkConfig{Mode: "ucast", Interface: "enp0s8", Peer: a8, Port: 1694},
			nameA: "ucast enp0s8 192.168.200.252 port 1694", nameB: "ucast enp0s8 192.168.200.251 port 1694",
			fromA: a8, fromB: b8},
	} {
		t.Run(c.mode, func(t *testing.T) {
			a, b := twoNodes(t)
			ta := openTransport(t, a, c.linkA)
			tb := openTransport(t, b, c.linkB)
			if got := ta.Links(); !slices.Equal(got, []string{c.nameA}) {
				t.Errorf("links %q, want [%q]", got, c.nameA)
			}
			port := uint16(c.linkA.port())

			// Send from this goroutine, in the host's namespace: the
			// sockets belong to the nodes' namespaces anyway.
			if err := ta.Send([]byte("from a")); err != nil {
				t.Fatal(err)
			}
			p := receive(t, tb)
			if string(p.Data) != "from a" || p.Link != c.nameB || p.From != netip.AddrPortFrom(c.fromA, port) {
				t.Errorf("b got %q on %q from %v, want %q on %q from %v:%d",
					p.Data, p.Link, p.From, "from a", c.nameB, c.fromA, port)
			}
			expectNothing(t, ta, "a")

			if err := tb.Send([]byte("from b")); err != nil {
				t.Fatal(err)
			}
			p = receive(t, ta)
			if string(p.Data) != "from b" || p.Link != c.nameA || p.From != netip.AddrPortFrom(c.fromB, port) {
				t.Errorf("a got %q on %q from %v, want %q on %q from %v:%d",
					p.Data, p.Link, p.From, "from b", c.nameA, c.fromB, port)
			}
			expectNothing(t, tb, "b")
			expectNothing(t, ta, "a")
		})
	}
}

// TestUDPSeveralLinks sends once over several links: the packet arrives
// once per link, and links sharing a port (on two interfaces, or bcast and
// mcast on one) do not see each other's datagrams.
func TestUDPSeveralLinks(t *testing.T) {
	testenv.RequirePrivileged(t)
	for _, c := range []struct {
		name   string
		linksA []LinkConfig
		linksB []LinkConfig
		want   map[string]netip.Addr // link name at B: sender address
	}{
		{name: "bcast on two interfaces",
			linksA: []LinkConfig{{Mode: "bcast", Interface: "enp0s3"}, {Mode: "bcast", Interface: "enp0s8"}},
			linksB: []LinkConfig{{Mode: "bcast", Interface: "enp0s3"}, {Mode: "bcast", Interface: "enp0s8"}},
			want:   map[string]netip.Addr{"bcast enp0s3": a3, "bcast enp0s8": a8}},
		{name: "bcast mcast ucast",
			linksA: []LinkConfig{{Mode: "bcast", Interface: "enp0s3"}, {Mode: "mcast", Interface: "enp0s3", Group: g1},
				{Mode: "ucast", Interface: "enp0s8", Peer: b8}},
			linksB: []LinkConfig{{Mode: "bcast", Interface: "enp0s3"}, {Mode: "mcast", Interface: "enp0s3", Group: g1},
				{Mode: "ucast", Interface: "enp0s8", Peer: a8}},
			want: map[string]netip.Addr{"bcast enp0s3": a3, "mcast enp0s3 225.0.0.1": a3,
				"ucast enp0s8 192.168.200.251": a8}},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := twoNodes(t)
			ta := openTransport(t, a, c.linksA...)
			tb := openTransport(t, b, c.linksB...)
			for round := range 2 {
				msg := fmt.Sprintf("heartbeat %d", round)
				if err := ta.Send([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				got := make(map[string]netip.Addr)
				for range c.want {
					p := receive(t, tb)
					if string(p.Data) != msg {
						t.Errorf("got %q, want %q", p.Data, msg)
					}
					if _, dup := got[p.Link]; dup {
						t.Errorf("packet twice on %s", p.Link)
					}
					got[p.Link] = p.From.Addr()
				}
				expectNothing(t, tb, "b")
				expectNothing(t, ta, "a")
				for link, from := range c.want {
					if got[link] != from {
						t.Errorf("round %d: on %s from %v, want from %v (got %v)", round, link, got[link], from, got)
					}
				}
			}
		})
	}
}

// receivers counts the goroutines that NewUDPTransport started (running
// or not yet).
func receivers() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "created by github.com/director-lb/director/heartbeat.NewUDPTransport")
}

// receiversLeft waits up to a second for the goroutines NewUDPTransport
// started to be gone (one that has just returned may not have exited yet)
// and returns how many more there are than before.
func receiversLeft(before int) int {
	deadline := time.Now().Add(time.Second)
	for receivers() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return receivers() - before
}

func TestUDPClose(t *testing.T) {
	testenv.RequirePrivileged(t)
	a, b := twoNodes(t)
	before := receivers()
	ta := openTransport(t, a, LinkConfig{Mode: "bcast", Interface: "enp0s3"}, LinkConfig{Mode: "bcast", Interface: "enp0s8"})
	tb := openTransport(t, b, LinkConfig{Mode: "bcast", Interface: "enp0s3"})
	if n := receivers() - before; n != 3 {
		t.Errorf("%d receive goroutines, want 3", n)
	}
	// Fill b's queue and more, so that a receive goroutine is blocked on the
	// channel when Close comes.
	for range packetQueue + 10 {
		if err := ta.Send([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if err := tb.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := ta.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := ta.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	n := 0
	for range tb.Packets() { // drains what was queued, then ends
		n++
	}
	if n != packetQueue {
		t.Errorf("%d packets queued, want %d", n, packetQueue)
	}
	if _, ok := <-ta.Packets(); ok {
		t.Error("packets channel still open")
	}
	if n := receiversLeft(before); n != 0 {
		t.Errorf("%d receive goroutines left after close", n)
	}
	if err := ta.Send([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("send after close: %v, want net.ErrClosed", err)
	}
}

// TestUDPOpenErrors checks that a link that cannot open fails the transport
// with an error naming it, and leaves nothing running.
func TestUDPOpenErrors(t *testing.T) {
	testenv.RequirePrivileged(t)
	a, _ := twoNodes(t)
	before := receivers()
	a.must(t, func() error {
		la := netlink.NewLinkAttrs()
		la.Name = "bare0" // up, no IPv4 address: nothing to broadcast to
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "bare1"}); err != nil {
			return err
		}
		return setUp("bare0", "bare1")
	})
	good := LinkConfig{Mode: "bcast", Interface: "enp0s3"}
	for _, c := range []struct {
		bad  LinkConfig
		want string
	}{
		{LinkConfig{Mode: "bcast", Interface: "eth9"}, "open link bcast eth9: find interface eth9: "},
		{LinkConfig{Mode: "bcast", Interface: "bare0"}, "open link bcast bare0: find broadcast address of bare0: no IPv4 address"},
	} {
		err := a.run(func() error {
			tr, err := NewUDPTransport([]LinkConfig{good, c.bad})
			if err == nil {
				_ = tr.Close()
			}
			return err
		})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("open with %s: %v, want %q...", c.bad.Name(), err, c.want)
		}
	}
	if n := receiversLeft(before); n != 0 {
		t.Errorf("%d receive goroutines left", n)
	}
	// The good link's socket was closed: the port is free for a socket
	// without SO_REUSEADDR.
	a.must(t, func() error {
		c, err := net.ListenPacket("udp4", ":694")
		if err == nil {
			_ = c.Close()
		}
		return err
	})
}

func TestUDPSendTooLarge(t *testing.T) {
	testenv.RequirePrivileged(t)
	a, _ := twoNodes(t)
	ta := openTransport(t, a, LinkConfig{Mode: "bcast", Interface: "enp0s3"})
	if err := ta.Send(make([]byte, MaxDatagram+1)); err == nil {
		t.Error("oversized heartbeat sent")
	}
}
