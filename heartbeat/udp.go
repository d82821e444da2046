// UDP transports for heartbeats: Heartbeat's three UDP media, bcast (to the
// interface's broadcast address), mcast (to a multicast group) and ucast
// (to the peer's address), on one or several links at once. Every link is
// one socket bound to its interface (SO_BINDTODEVICE) on the link's port
// (694, Heartbeat's udpport, by default); Send writes to every link and
// Packets delivers what arrives on any of them, named by link, except what
// this host sent itself (broadcasts always loop back to the sender).
//
// Sockets and netlink lookups belong to the network namespace of the thread
// that calls NewUDPTransport; afterwards the transport may be used from any
// goroutine.

package heartbeat

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Link modes, Heartbeat's media names.
const (
	ModeBroadcast = "bcast" // to the interface's IPv4 broadcast address
	ModeMulticast = "mcast" // to a multicast group joined on the interface
	ModeUnicast   = "ucast" // to the peer's address
)

const (
	// MaxDatagram is the largest heartbeat datagram: Send refuses larger
	// messages and the receiver drops larger datagrams.
	MaxDatagram = 2048

	packetQueue     = 64          // Packets channel buffer
	localAddrMaxAge = time.Second // how long the list of own addresses is trusted
	readRetryDelay  = 100 * time.Millisecond
)

// LinkConfig is one heartbeat link: a medium (Mode) on an interface.
type LinkConfig struct {
	Mode      string     // ModeBroadcast, ModeMulticast or ModeUnicast
	Interface string     // interface the link is bound to, e.g. enp0s3 (required)
	Port      int        // UDP port; 0 means DefaultPort
	Group     netip.Addr // mcast: the IPv4 multicast group, e.g. 225.0.0.1 (required)
	TTL       int        // mcast: multicast TTL; 0 means 1
	Peer      netip.Addr // ucast: the peer's IPv4 address (required)
}

// Name names the link in packets, errors and logs: mode and interface,
// then the group (mcast) or peer (ucast), then the port when it is not the
// default, e.g. "bcast enp0s3", "mcast enp0s3 225.0.0.1",
// "ucast enp0s8 192.168.200.252", "bcast enp0s3 port 695".
func (l LinkConfig) Name() string {
	var b strings.Builder
	b.WriteString(l.Mode)
	b.WriteByte(' ')
	b.WriteString(l.Interface)
	switch l.Mode {
	case ModeMulticast:
		b.WriteByte(' ')
		b.WriteString(l.Group.String())
	case ModeUnicast:
		b.WriteByte(' ')
		b.WriteString(l.Peer.String())
	}
	if l.Port != 0 && l.Port != DefaultPort {
		b.WriteString(" port ")
		b.WriteString(strconv.Itoa(l.Port))
	}
	return b.String()
}

// Validate checks the link's settings without touching the system: a known
// mode, an interface name, a port and TTL in range, an IPv4 multicast group
// for (and only for) mcast, an IPv4 unicast peer for (and only for) ucast.
func (l LinkConfig) Validate() error {
	var errs []error
	switch l.Mode {
	case ModeBroadcast, ModeMulticast, ModeUnicast:
	default:
		errs = append(errs, fmt.Errorf("mode %q is not bcast, mcast or ucast", l.Mode))
	}
	if err := checkInterfaceName(l.Interface); err != nil {
		errs = append(errs, err)
	}
	if l.Port < 0 || l.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", l.Port))
	}
	if l.Mode == ModeMulticast {
		if !l.Group.Is4() || !l.Group.IsMulticast() {
			errs = append(errs, fmt.Errorf("group %v is not an IPv4 multicast address", l.Group))
		}
		if l.TTL < 0 || l.TTL > 255 {
			errs = append(errs, fmt.Errorf("ttl %d out of range", l.TTL))
		}
	} else {
		if l.Group.IsValid() {
			errs = append(errs, fmt.Errorf("group %v set on a %s link", l.Group, l.Mode))
		}
		if l.TTL != 0 {
			errs = append(errs, fmt.Errorf("ttl %d set on a %s link", l.TTL, l.Mode))
		}
	}
	if l.Mode == ModeUnicast {
		if !l.Peer.Is4() || l.Peer.IsUnspecified() || l.Peer.IsMulticast() || l.Peer == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			errs = append(errs, fmt.Errorf("peer %v is not an IPv4 unicast address", l.Peer))
		}
	} else if l.Peer.IsValid() {
		errs = append(errs, fmt.Errorf("peer %v set on a %s link", l.Peer, l.Mode))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("check link %s: %w", l.Name(), err)
	}
	return nil
}

func (l LinkConfig) port() int {
	if l.Port == 0 {
		return DefaultPort
	}
	return l.Port
}

func (l LinkConfig) ttl() int {
	if l.TTL == 0 {
		return 1
	}
	return l.TTL
}

// checkInterfaceName checks that name can name a Linux interface.
func checkInterfaceName(name string) error {
	if name == "" {
		return errors.New("no interface")
	}
	if len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/: \t\n") || name == "." || name == ".." {
		return fmt.Errorf("interface name %q is not valid", name)
	}
	return nil
}

// UDPTransport is a Transport over one or several UDP links. It is safe for
// concurrent use.
type UDPTransport struct {
	links   []*udpLink
	packets chan Packet
	done    chan struct{}
	wg      sync.WaitGroup
	local   *localAddrs

	closeOnce sync.Once
	closeErr  error
}

// udpLink is one open link.
type udpLink struct {
	name string
	conn *net.UDPConn
	dst  netip.AddrPort // where Send writes
}

// NewUDPTransport opens every link in the calling thread's network
// namespace and starts receiving on them. A link that cannot be opened (a
// bad setting, a missing interface, no IPv4 address on a bcast link, a port
// in use) fails the whole transport with an error naming the link; links
// opened by then are closed again.
func NewUDPTransport(links []LinkConfig) (*UDPTransport, error) {
	if len(links) == 0 {
		return nil, errors.New("open udp transport: no links")
	}
	seen := make(map[string]bool)
	for _, l := range links {
		if err := l.Validate(); err != nil {
			return nil, fmt.Errorf("open udp transport: %w", err)
		}
		if seen[l.Name()] {
			return nil, fmt.Errorf("open udp transport: link %s listed twice", l.Name())
		}
		seen[l.Name()] = true
	}
	// The handle's socket belongs to this thread's namespace for good, so
	// the receive goroutines can list this host's addresses from any thread.
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open udp transport: open netlink handle: %w", err)
	}
	t := &UDPTransport{
		packets: make(chan Packet, packetQueue),
		done:    make(chan struct{}),
		local:   &localAddrs{h: h},
	}
	for _, l := range links {
		ul, err := openLink(h, l)
		if err != nil {
			for _, o := range t.links {
				_ = o.conn.Close() // the open error is the one to report
			}
			h.Close()
			return nil, fmt.Errorf("open link %s: %w", l.Name(), err)
		}
		t.links = append(t.links, ul)
	}
	if err := t.local.refresh(); err != nil {
		_ = t.closeLinks() // the refresh error is the one to report
		h.Close()
		return nil, fmt.Errorf("open udp transport: %w", err)
	}
	for _, ul := range t.links {
		t.wg.Add(1)
		go t.receive(ul)
	}
	return t, nil
}

// Links returns the names of the transport's links, in configuration order.
func (t *UDPTransport) Links() []string {
	names := make([]string, len(t.links))
	for i, l := range t.links {
		names[i] = l.name
	}
	return names
}

// Send writes b to the peer on every link: an error on one link does not
// stop the others, and the errors of all failed links are joined, each
// naming its link.
func (t *UDPTransport) Send(b []byte) error {
	select {
	case <-t.done:
		return fmt.Errorf("send heartbeat: %w", net.ErrClosed)
	default:
	}
	if len(b) > MaxDatagram {
		return fmt.Errorf("send heartbeat: %d bytes exceed the %d byte limit", len(b), MaxDatagram)
	}
	var errs []error
	for _, l := range t.links {
		if _, err := l.conn.WriteToUDPAddrPort(b, l.dst); err != nil {
			errs = append(errs, fmt.Errorf("send heartbeat on %s: %w", l.name, err))
		}
	}
	return errors.Join(errs...)
}

// Packets returns the channel of packets received on all links. It is
// closed by Close, once every receive goroutine has ended.
func (t *UDPTransport) Packets() <-chan Packet {
	return t.packets
}

// Close closes every link, waits for the receive goroutines to end and
// closes the Packets channel. Later calls return the first call's result.
func (t *UDPTransport) Close() error {
	t.closeOnce.Do(func() {
		close(t.done)
		err := t.closeLinks()
		t.wg.Wait()
		close(t.packets)
		t.local.h.Close()
		t.closeErr = err
	})
	return t.closeErr
}

func (t *UDPTransport) closeLinks() error {
	var errs []error
	for _, l := range t.links {
		if err := l.conn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close link %s: %w", l.name, err))
		}
	}
	return errors.Join(errs...)
}

// receive reads l until it is closed and queues what the peer sent.
func (t *UDPTransport) receive(l *udpLink) {
	defer t.wg.Done()
	buf := make([]byte, MaxDatagram)
	for {
		n, _, flags, from, err := l.conn.ReadMsgUDPAddrPort(buf, nil)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Not expected on an unconnected UDP socket; do not spin.
			select {
			case <-t.done:
				return
			case <-time.After(readRetryDelay):
			}
			continue
		}
		if flags&unix.MSG_TRUNC != 0 {
			continue // larger than MaxDatagram: not ours
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if t.local.has(from.Addr()) {
			continue // our own broadcast (or multicast) looped back
		}
		p := Packet{Data: bytes.Clone(buf[:n]), Link: l.name, From: from}
		select {
		case t.packets <- p:
		case <-t.done:
			return
		}
	}
}

// openLink opens one link's socket in the calling thread's namespace.
func openLink(h *netlink.Handle, l LinkConfig) (*udpLink, error) {
	link, err := h.LinkByName(l.Interface)
	if err != nil {
		return nil, fmt.Errorf("find interface %s: %w", l.Interface, err)
	}
	ifindex := link.Attrs().Index
	port := uint16(l.port())
	var bind, dst netip.AddrPort
	switch l.Mode {
	case ModeBroadcast:
		brd, err := broadcastAddr(h, link)
		if err != nil {
			return nil, err
		}
		bind = netip.AddrPortFrom(netip.IPv4Unspecified(), port)
		dst = netip.AddrPortFrom(brd, port)
	case ModeMulticast:
		// Bound to the group, the socket gets nothing but the group's
		// datagrams (not the port's broadcasts or unicasts).
		bind = netip.AddrPortFrom(l.Group, port)
		dst = bind
	case ModeUnicast:
		bind = netip.AddrPortFrom(netip.IPv4Unspecified(), port)
		dst = netip.AddrPortFrom(l.Peer, port)
	}

	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("open socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), l.Name())
	defer func() { _ = f.Close() }() // FilePacketConn holds its own duplicate
	if err := setLinkOptions(fd, l, ifindex); err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: bind.Addr().As4(), Port: int(bind.Port())}); err != nil {
		return nil, fmt.Errorf("bind %s: %w", bind, err)
	}
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("wrap socket: %w", err)
	}
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		_ = pc.Close()
		return nil, fmt.Errorf("wrap socket: got %T, not a UDP socket", pc)
	}
	return &udpLink{name: l.Name(), conn: conn, dst: dst}, nil
}

// setLinkOptions sets the socket options of link l on fd, before it is
// bound.
func setLinkOptions(fd int, l LinkConfig, ifindex int) error {
	type opt struct {
		name        string
		level, o, v int
	}
	opts := []opt{
		// Links on different interfaces (and a bcast and an mcast link on
		// one interface) share the port.
		{"SO_REUSEADDR", unix.SOL_SOCKET, unix.SO_REUSEADDR, 1},
		// A socket bound to the wildcard address would otherwise get
		// datagrams for every group any socket of this host joined.
		{"IP_MULTICAST_ALL", unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0},
	}
	switch l.Mode {
	case ModeBroadcast:
		opts = append(opts, opt{"SO_BROADCAST", unix.SOL_SOCKET, unix.SO_BROADCAST, 1})
	case ModeMulticast:
		opts = append(opts,
			opt{"IP_MULTICAST_TTL", unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, l.ttl()},
			opt{"IP_MULTICAST_LOOP", unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0})
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.o, o.v); err != nil {
			return fmt.Errorf("set %s: %w", o.name, err)
		}
	}
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, l.Interface); err != nil {
		return fmt.Errorf("set SO_BINDTODEVICE %s: %w", l.Interface, err)
	}
	if l.Mode == ModeMulticast {
		mreq := &unix.IPMreqn{Multiaddr: l.Group.As4(), Ifindex: int32(ifindex)}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
			return fmt.Errorf("join group %s on %s: %w", l.Group, l.Interface, err)
		}
		if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifindex)}); err != nil {
			return fmt.Errorf("set IP_MULTICAST_IF %s: %w", l.Interface, err)
		}
	}
	return nil
}

// broadcastAddr returns the IPv4 broadcast address of link's primary IPv4
// address: the one configured with it, else the one its prefix implies.
func broadcastAddr(h *netlink.Handle, link netlink.Link) (netip.Addr, error) {
	name := link.Attrs().Name
	addrs, err := addrList(h, link)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if a.Flags&unix.IFA_F_SECONDARY != 0 || a.IPNet == nil {
			continue
		}
		if brd, ok := netip.AddrFromSlice(a.Broadcast); ok && brd.Unmap().Is4() && !brd.Unmap().IsUnspecified() {
			return brd.Unmap(), nil
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		bits, _ := a.Mask.Size()
		if !ok || !ip.Unmap().Is4() {
			continue
		}
		if bits > 30 {
			return netip.Addr{}, fmt.Errorf("find broadcast address of %s: %s/%d has none", name, ip.Unmap(), bits)
		}
		return prefixBroadcast(netip.PrefixFrom(ip.Unmap(), bits)), nil
	}
	return netip.Addr{}, fmt.Errorf("find broadcast address of %s: no IPv4 address", name)
}

// prefixBroadcast returns the last address of IPv4 prefix p.
func prefixBroadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	mask := net.CIDRMask(p.Bits(), 32)
	for i := range a {
		a[i] |= ^mask[i]
	}
	return netip.AddrFrom4(a)
}

// addrList lists link's IPv4 addresses (all links' if link is nil),
// retrying a dump the kernel interrupted.
func addrList(h *netlink.Handle, link netlink.Link) ([]netlink.Addr, error) {
	var (
		addrs []netlink.Addr
		err   error
	)
	for range 3 {
		if h != nil {
			addrs, err = h.AddrList(link, netlink.FAMILY_V4)
		} else {
			addrs, err = netlink.AddrList(link, netlink.FAMILY_V4)
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return addrs, err
		}
	}
	return addrs, err
}

// localAddrs is the set of this host's IPv4 addresses, listed again when
// older than localAddrMaxAge.
type localAddrs struct {
	h      *netlink.Handle
	mu     sync.Mutex
	addrs  map[netip.Addr]bool
	listed time.Time
}

// refresh lists the host's addresses again.
func (s *localAddrs) refresh() error {
	list, err := addrList(s.h, nil)
	if err != nil {
		return fmt.Errorf("list local addresses: %w", err)
	}
	m := make(map[netip.Addr]bool, len(list))
	for _, a := range list {
		if a.IPNet == nil {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			m[ip.Unmap()] = true
		}
	}
	s.mu.Lock()
	s.addrs, s.listed = m, time.Now()
	s.mu.Unlock()
	return nil
}

// has reports whether a is one of this host's addresses. If the list can
// not be refreshed, the last one is used.
func (s *localAddrs) has(a netip.Addr) bool {
	s.mu.Lock()
	stale := time.Since(s.listed) > localAddrMaxAge
	s.mu.Unlock()
	if stale {
		_ = s.refresh() // on failure the last list stands
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[a]
}
