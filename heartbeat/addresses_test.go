// Tests of the floating address group. The checks of settings and frames
// run anywhere; the rest need root and work in a network namespace of their
// own (see netnsThread in udp_test.go) holding two veth pairs, enp0s3-p3
// and enp0s8-p8: the group works on enp0s3 and enp0s8, and raw AF_PACKET
// sockets on p3 and p8 capture the gratuitous ARPs that come out.

package heartbeat

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/director-lb/director/test/testenv"
)

var floating = []Address{
	{netip.MustParsePrefix("192.168.56.10/24"), "enp0s3"},
	{netip.MustParsePrefix("192.168.56.20/24"), "enp0s3"},
	{netip.MustParsePrefix("192.168.200.250/24"), "enp0s8"},
}

func TestAddressGroupSettings(t *testing.T) {
	g, err := NewAddressGroup(floating, ARPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (ARPConfig{Count: 5, Interval: 200 * time.Millisecond}); g.ARP() != want {
		t.Errorf("arp defaults %+v, want %+v", g.ARP(), want)
	}
	if !slices.Equal(g.Addresses(), floating) {
		t.Errorf("addresses %v, want %v", g.Addresses(), floating)
	}
	g.Addresses()[0].Interface = "changed"
	if g.Addresses()[0].Interface != "enp0s3" {
		t.Error("Addresses exposes the group's slice")
	}
	if want := []string{"enp0s3:0", "enp0s3:1", "enp0s8:0"}; !slices.Equal(g.labels, want) {
		t.Errorf("labels %q, want %q", g.labels, want)
	}
	long, err := NewAddressGroup([]Address{{netip.MustParsePrefix("10.0.0.1/8"), "enp0s31f6abcdef"}}, ARPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if long.labels[0] != "" {
		t.Errorf("label %q for a 15-character interface, want none", long.labels[0])
	}

	for _, c := range []struct {
		addrs []Address
		arp   ARPConfig
		want  string
	}{
		{nil, ARPConfig{}, "no addresses"},
		{[]Address{{netip.MustParsePrefix("2001:db8::10/64"), "enp0s3"}}, ARPConfig{}, "not an IPv4 prefix"},
		{[]Address{{netip.MustParsePrefix("::ffff:192.168.56.10/120"), "enp0s3"}}, ARPConfig{}, "not an IPv4 prefix"},
		{[]Address{{netip.Prefix{}, "enp0s3"}}, ARPConfig{}, "not an IPv4 prefix"},
		{[]Address{{netip.MustParsePrefix("192.168.56.10/24"), ""}}, ARPConfig{}, "no interface"},
		{[]Address{{netip.MustParsePrefix("192.168.56.10/24"), "enp0s3:0"}}, ARPConfig{}, "not valid"},
		{[]Address{{netip.MustParsePrefix("192.168.56.0/24"), "enp0s3"}}, ARPConfig{}, "network or broadcast"},
		{[]Address{{netip.MustParsePrefix("192.168.56.255/24"), "enp0s3"}}, ARPConfig{}, "network or broadcast"},
		{[]Address{{netip.MustParsePrefix("225.0.0.1/32"), "enp0s3"}}, ARPConfig{}, "not a unicast"},
		{[]Address{floating[0], {netip.MustParsePrefix("192.168.56.10/32"), "enp0s8"}}, ARPConfig{}, "listed twice"},
		{floating, ARPConfig{Count: -1}, "arp count"},
		{floating, ARPConfig{Interval: -time.Second}, "arp interval"},
	} {
		_, err := NewAddressGroup(c.addrs, c.arp)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %+v: error %v, want one saying %q", c.addrs, c.arp, err, c.want)
		}
	}
	if _, err := NewAddressGroup([]Address{{netip.MustParsePrefix("10.0.0.1/32"), "enp0s3"}}, ARPConfig{}); err != nil {
		t.Errorf("/32: %v", err)
	}
}

func TestARPFrame(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	req := GratuitousARP(mac, [4]byte{192, 168, 56, 10}, ARPRequest)
	want := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, // Ethernet
		0, 1, 0x08, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
		2, 0, 0, 0, 0, 1, 192, 168, 56, 10, // sender
		0, 0, 0, 0, 0, 0, 192, 168, 56, 10, // target
	}
	want = append(want, make([]byte, 60-len(want))...)
	if !bytes.Equal(req, want) {
		t.Errorf("request\n%x, want\n%x", req, want)
	}
	rep := GratuitousARP(mac, [4]byte{192, 168, 56, 10}, ARPReply)
	want[21] = 2
	copy(want[32:38], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if !bytes.Equal(rep, want) {
		t.Errorf("reply\n%x, want\n%x", rep, want)
	}
	if htons(0x0806) != binary.NativeEndian.Uint16([]byte{0x08, 0x06}) {
		t.Error("htons")
	}
}

// arpFrame is one captured ARP frame.
type arpFrame struct {
	at       time.Time
	port     string // capturing interface
	dst, src net.HardwareAddr
	op       uint16
	sha, tha net.HardwareAddr
	spa, tpa netip.Addr
}

// arpCapture collects the ARP frames arriving at some interfaces.
type arpCapture struct {
	mu     sync.Mutex
	frames []arpFrame
	fds    []int
	wg     sync.WaitGroup
}

// captureARP opens raw ARP sockets on ports; call it in the namespace.
func captureARP(ports ...string) (*arpCapture, error) {
	c := &arpCapture{}
	for _, p := range ports {
		l, err := netlink.LinkByName(p)
		if err != nil {
			c.stop()
			return nil, err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err == nil {
			err = unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: l.Attrs().Index})
		}
		if err == nil {
			tv := unix.NsecToTimeval(int64(20 * time.Millisecond))
			err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		}
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("capture on %s: %w", p, err)
		}
		c.fds = append(c.fds, fd)
		c.wg.Add(1)
		go c.read(fd, p)
	}
	return c, nil
}

// read records the frames arriving on fd until stop (the receive timeout
// lets the loop notice).
func (c *arpCapture) read(fd int, port string) {
	defer c.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			c.mu.Lock()
			stopped := c.fds == nil
			c.mu.Unlock()
			if stopped {
				return
			}
			continue
		}
		if err != nil || n < 42 {
			return
		}
		at := time.Now()
		f := buf[:n]
		p := f[14:]
		spa, _ := netip.AddrFromSlice(p[14:18])
		tpa, _ := netip.AddrFromSlice(p[24:28])
		c.mu.Lock()
		c.frames = append(c.frames, arpFrame{
			at: at, port: port,
			dst: slices.Clone(f[0:6]), src: slices.Clone(f[6:12]),
			op:  binary.BigEndian.Uint16(p[6:8]),
			sha: slices.Clone(p[8:14]), tha: slices.Clone(p[18:24]),
			spa: spa, tpa: tpa,
		})
		c.mu.Unlock()
	}
}

// stop ends the capture and returns the frames.
func (c *arpCapture) stop() []arpFrame {
	c.mu.Lock()
	fds := c.fds
	c.fds = nil
	c.mu.Unlock()
	c.wg.Wait()
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frames
}

// addressNode builds a namespace with veth pairs enp0s3-p3 and enp0s8-p8,
// enp0s3 holding 192.168.56.11/24 and enp0s8 192.168.200.251/24 (the
// floating addresses become secondaries, as on a director).
func addressNode(t *testing.T) (w *netnsThread, macs map[string]net.HardwareAddr) {
	t.Helper()
	w = newNetnsThread(t)
	macs = make(map[string]net.HardwareAddr)
	w.must(t, func() error {
		for _, pair := range [][2]string{{"enp0s3", "p3"}, {"enp0s8", "p8"}} {
			la := netlink.NewLinkAttrs()
			la.Name = pair[0]
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: pair[1]}); err != nil {
				return fmt.Errorf("add veth %s: %w", pair[0], err)
			}
			if err := setUp(pair[0], pair[1]); err != nil {
				return err
			}
			l, err := netlink.LinkByName(pair[0])
			if err != nil {
				return err
			}
			macs[pair[0]] = l.Attrs().HardwareAddr
		}
		return errors.Join(addAddr("enp0s3", netip.MustParsePrefix("192.168.56.11/24")),
			addAddr("enp0s8", netip.MustParsePrefix("192.168.200.251/24")))
	})
	return w, macs
}

// configured lists the IPv4 addresses on iface.
func configured(iface string) ([]netlink.Addr, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, err
	}
	return netlink.AddrList(l, netlink.FAMILY_V4)
}

// checkConfigured checks that every floating address is on its interface
// with its label and broadcast address, once.
func checkConfigured(t *testing.T, w *netnsThread, g *AddressGroup) {
	t.Helper()
	want := map[string]string{ // address: "label brd"
		"192.168.56.10/24":   "enp0s3:0 192.168.56.255",
		"192.168.56.20/24":   "enp0s3:1 192.168.56.255",
		"192.168.200.250/24": "enp0s8:0 192.168.200.255",
	}
	w.must(t, func() error {
		got := make(map[string][]string)
		for _, iface := range []string{"enp0s3", "enp0s8"} {
			list, err := configured(iface)
			if err != nil {
				return err
			}
			for _, a := range list {
				if !strings.HasPrefix(a.Label, iface) {
					t.Errorf("%s on %s has label %q", a.IPNet, iface, a.Label)
				}
				got[a.IPNet.String()] = append(got[a.IPNet.String()], a.Label+" "+a.Broadcast.String())
			}
		}
		for addr, w := range want {
			if len(got[addr]) != 1 || got[addr][0] != w {
				t.Errorf("%s configured as %q, want [%q]", addr, got[addr], w)
			}
		}
		held, err := g.Held()
		if err != nil || !held {
			t.Errorf("held %v, %v; want true", held, err)
		}
		return nil
	})
}

func TestAddressGroupAcquireRelease(t *testing.T) {
	testenv.RequirePrivileged(t)
	w, macs := addressNode(t)
	arp := ARPConfig{Count: 4, Interval: 20 * time.Millisecond}
	g, err := NewAddressGroup(floating, arp)
	if err != nil {
		t.Fatal(err)
	}
	w.must(t, func() error {
		held, err := g.Held()
		if err != nil || held {
			return fmt.Errorf("held before acquire: %v, %v", held, err)
		}
		return nil
	})

	var (
		capture *arpCapture
		start   time.Time
		added   time.Time // when the kernel reported the last floating address added
		took    time.Duration
	)
	w.must(t, func() (err error) {
		if capture, err = captureARP("p3", "p8"); err != nil {
			return err
		}
		// The first announcements must follow the addresses at once:
		// timed from when the kernel reports the last one added, not
		// from before Acquire, whose netlink adds took 12 ms once here.
		updates, done := make(chan netlink.AddrUpdate, 64), make(chan struct{})
		if err := netlink.AddrSubscribe(updates, done); err != nil {
			return err
		}
		addedAt := make(chan time.Time, 1)
		go func() {
			var last time.Time
			n := 0
			for u := range updates {
				if u.NewAddr {
					last, n = time.Now(), n+1
				}
				if n == len(floating) {
					break
				}
			}
			addedAt <- last
		}()
		start = time.Now()
		err = g.Acquire(context.Background())
		took = time.Since(start)
		select {
		case added = <-addedAt:
		case <-time.After(time.Second):
			err = errors.Join(err, errors.New("no netlink event for every floating address"))
		}
		close(done)
		return err
	})
	time.Sleep(20 * time.Millisecond) // let the last frames reach the capture
	frames := capture.stop()
	checkConfigured(t, w, g)
	if min := time.Duration(arp.Count-1) * arp.Interval; took < min || took > min+time.Second {
		t.Errorf("acquire took %v, want about %v", took, min)
	}
	checkAnnouncements(t, frames, floating, macs, arp, added, ARPRequest)

	// Acquiring again changes nothing (and announces again).
	w.must(t, func() error { return g.Acquire(context.Background()) })
	checkConfigured(t, w, g)

	// Release removes the floating addresses and nothing else.
	w.must(t, func() error {
		if err := g.Release(context.Background()); err != nil {
			return err
		}
		held, err := g.Held()
		if err != nil || held {
			t.Errorf("held after release: %v, %v", held, err)
		}
		for iface, keep := range map[string]string{"enp0s3": "192.168.56.11/24", "enp0s8": "192.168.200.251/24"} {
			list, err := configured(iface)
			if err != nil {
				return err
			}
			var got []string
			for _, a := range list {
				got = append(got, a.IPNet.String())
			}
			if !slices.Equal(got, []string{keep}) {
				t.Errorf("%s holds %q after release, want only %s", iface, got, keep)
			}
		}
		// Releasing again is fine.
		return g.Release(context.Background())
	})

	// One address missing: not held, and Announce leaves it out.
	w.must(t, func() error {
		if err := g.Acquire(context.Background()); err != nil {
			return err
		}
		l, err := netlink.LinkByName("enp0s3")
		if err != nil {
			return err
		}
		if err := netlink.AddrDel(l, &netlink.Addr{IPNet: floating[1].ipNet()}); err != nil {
			return err
		}
		if held, err := g.Held(); err != nil || held {
			t.Errorf("held with %s missing: %v, %v", floating[1], held, err)
		}
		if capture, err = captureARP("p3", "p8"); err != nil {
			return err
		}
		start = time.Now()
		err = g.Announce(context.Background())
		if err == nil || !strings.Contains(err.Error(), "announce address 192.168.56.20/24 on enp0s3: not configured") {
			t.Errorf("announce with an address missing: %v", err)
		}
		return nil
	})
	time.Sleep(20 * time.Millisecond)
	frames = capture.stop()
	checkAnnouncements(t, frames, []Address{floating[0], floating[2]}, macs, arp, start, ARPRequest)
}

// checkAnnouncements checks the captured frames: for each address, Count
// gratuitous ARPs of each wanted opcode, from its interface's MAC, out of
// its interface, the first right after start, Interval apart.
func checkAnnouncements(t *testing.T, frames []arpFrame, addrs []Address, macs map[string]net.HardwareAddr,
	arp ARPConfig, start time.Time, ops ...uint16) {
	t.Helper()
	port := map[string]string{"enp0s3": "p3", "enp0s8": "p8"}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zero := net.HardwareAddr{0, 0, 0, 0, 0, 0}
	seen := 0
	for _, a := range addrs {
		for _, op := range ops {
			var times []time.Time
			for _, f := range frames {
				if f.spa != a.Prefix.Addr() || f.op != op {
					continue
				}
				times = append(times, f.at)
				mac := macs[a.Interface]
				wantTHA := zero
				if op == ARPReply {
					wantTHA = bcast
				}
				if f.port != port[a.Interface] || !bytes.Equal(f.dst, bcast) || !bytes.Equal(f.src, mac) ||
					!bytes.Equal(f.sha, mac) || f.tpa != f.spa || !bytes.Equal(f.tha, wantTHA) {
					t.Errorf("%s op %d: frame %+v; want on %s from %s to %s, sha %s, tha %s, tpa = spa",
						a, op, f, port[a.Interface], mac, bcast, mac, wantTHA)
				}
			}
			seen += len(times)
			if len(times) != arp.Count {
				t.Errorf("%s op %d: %d frames, want %d", a, op, len(times), arp.Count)
				continue
			}
			if d := times[0].Sub(start); d > arp.Interval/2 {
				t.Errorf("%s op %d: first frame %v after start, want at once", a, op, d)
			}
			for i := 1; i < len(times); i++ {
				if gap := times[i].Sub(times[i-1]); gap < arp.Interval/2 || gap > 5*arp.Interval {
					t.Errorf("%s op %d: frames %d and %d %v apart, want about %v", a, op, i-1, i, gap, arp.Interval)
				}
			}
		}
	}
	if seen != len(frames) {
		t.Errorf("%d frames captured, %d expected", len(frames), seen)
	}
}

func TestARPReplies(t *testing.T) {
	testenv.RequirePrivileged(t)
	w, macs := addressNode(t)
	arp := ARPConfig{Count: 3, Interval: 20 * time.Millisecond, Replies: true}
	g, err := NewAddressGroup(floating, arp)
	if err != nil {
		t.Fatal(err)
	}
	var (
		capture *arpCapture
		start   time.Time
	)
	w.must(t, func() (err error) {
		if err := g.Acquire(context.Background()); err != nil {
			return err
		}
		if capture, err = captureARP("p3", "p8"); err != nil {
			return err
		}
		start = time.Now()
		return g.Announce(context.Background())
	})
	time.Sleep(20 * time.Millisecond)
	checkAnnouncements(t, capture.stop(), floating, macs, arp, start, ARPRequest, ARPReply)
}

// TestAddressGroupCancel checks that Acquire returns when ctx ends, with
// the addresses added, and that a missing interface is reported.
func TestAddressGroupCancel(t *testing.T) {
	testenv.RequirePrivileged(t)
	w, _ := addressNode(t)
	g, err := NewAddressGroup(floating, ARPConfig{Count: 100, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.must(t, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := g.Acquire(ctx)
		if took := time.Since(start); took > time.Second {
			t.Errorf("acquire took %v after its context ended", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("acquire: %v, want the context's error", err)
		}
		if held, err := g.Held(); err != nil || !held {
			t.Errorf("held after a cut-short acquire: %v, %v", held, err)
		}
		if err := g.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("acquire with an ended context: %v", err)
		}

		gone, err := NewAddressGroup([]Address{floating[0], {netip.MustParsePrefix("10.9.9.9/24"), "eth9"}}, ARPConfig{Count: 1})
		if err != nil {
			return err
		}
		if err := gone.Acquire(context.Background()); err == nil || !strings.Contains(err.Error(), "add address 10.9.9.9/24 on eth9: ") {
			t.Errorf("acquire on a missing interface: %v", err)
		}
		if _, err := gone.Held(); err == nil {
			t.Error("held on a missing interface: no error")
		}
		if err := gone.Release(context.Background()); err != nil {
			t.Errorf("release on a missing interface: %v", err)
		}
		return nil
	})
}
