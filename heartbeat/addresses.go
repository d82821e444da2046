// The floating addresses: the group of IPv4 addresses (the VIP, the real
// servers' gateway) that the active director holds and hands over to its
// peer, as Heartbeat's IPaddr resource agent does. Acquire adds every
// address with a broadcast address and an alias label ("enp0s3:0") and then
// announces it with gratuitous ARPs, several rounds a little apart, so that
// neighbours and switches learn the new owner at once; Release removes
// them.
//
// AddressGroup is a Resources. Every method works in the network namespace
// of the calling thread (the daemon runs inside its node's namespace), and
// none of them starts goroutines, so a caller on a thread locked into a
// namespace keeps all the work there.

package heartbeat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ARP defaults, those of Heartbeat's IPaddr (send_arp -r 5 -i 200).
const (
	DefaultARPCount    = 5
	DefaultARPInterval = 200 * time.Millisecond
)

// Address is one floating address and the interface that carries it.
type Address struct {
	Prefix    netip.Prefix // address and prefix length, e.g. 192.168.56.10/24
	Interface string       // e.g. enp0s3
}

// String returns the address as "192.168.56.10/24 on enp0s3".
func (a Address) String() string {
	return a.Prefix.String() + " on " + a.Interface
}

// Validate checks the address without touching the system: an IPv4 host
// address (not the network or broadcast address of its prefix, not
// loopback, multicast or unspecified) and an interface name.
func (a Address) Validate() error {
	err := func() error {
		if err := checkInterfaceName(a.Interface); err != nil {
			return err
		}
		ip := a.Prefix.Addr()
		if !a.Prefix.IsValid() || !ip.Is4() {
			return errors.New("not an IPv4 prefix")
		}
		if ip.IsUnspecified() || ip.IsLoopback() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return errors.New("not a unicast address")
		}
		if a.Prefix.Bits() <= 30 && (ip == a.Prefix.Masked().Addr() || ip == prefixBroadcast(a.Prefix)) {
			return errors.New("network or broadcast address of its prefix")
		}
		return nil
	}()
	if err != nil {
		return fmt.Errorf("check address %s: %w", a, err)
	}
	return nil
}

// broadcast returns the broadcast address to configure with a (none for
// /31 and /32).
func (a Address) broadcast() net.IP {
	if a.Prefix.Bits() > 30 {
		return nil
	}
	return net.IP(prefixBroadcast(a.Prefix).AsSlice())
}

func (a Address) ipNet() *net.IPNet {
	return &net.IPNet{IP: net.IP(a.Prefix.Addr().AsSlice()), Mask: net.CIDRMask(a.Prefix.Bits(), 32)}
}

// ARPConfig says how floating addresses are announced.
type ARPConfig struct {
	Count    int           // rounds of gratuitous ARPs; 0 means DefaultARPCount
	Interval time.Duration // time between rounds; 0 means DefaultARPInterval
	// Replies adds an unsolicited ARP reply to every round's ARP request
	// (Heartbeat's send_arp sends both forms; some old hosts only update
	// their cache from one of them).
	Replies bool
}

// AddressGroup is a set of floating addresses taken and given up together.
// It implements Resources.
type AddressGroup struct {
	addrs  []Address
	labels []string // per address: "<interface>:<n>", or "" if too long
	arp    ARPConfig
}

// NewAddressGroup checks the addresses (IPv4 only for now, each at most
// once) and the ARP settings, filling in the defaults. The n-th address on
// an interface is labelled "<interface>:<n>" (counting from 0), or not at
// all if the label would be longer than an interface name may be.
func NewAddressGroup(addrs []Address, arp ARPConfig) (*AddressGroup, error) {
	if len(addrs) == 0 {
		return nil, errors.New("create address group: no addresses")
	}
	if arp.Count < 0 {
		return nil, fmt.Errorf("create address group: arp count %d is negative", arp.Count)
	}
	if arp.Interval < 0 {
		return nil, fmt.Errorf("create address group: arp interval %v is negative", arp.Interval)
	}
	if arp.Count == 0 {
		arp.Count = DefaultARPCount
	}
	if arp.Interval == 0 {
		arp.Interval = DefaultARPInterval
	}
	g := &AddressGroup{addrs: slices.Clone(addrs), arp: arp}
	seen := make(map[netip.Addr]bool)
	perIface := make(map[string]int)
	for _, a := range g.addrs {
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("create address group: %w", err)
		}
		if seen[a.Prefix.Addr()] {
			return nil, fmt.Errorf("create address group: address %s listed twice", a.Prefix.Addr())
		}
		seen[a.Prefix.Addr()] = true
		label := a.Interface + ":" + strconv.Itoa(perIface[a.Interface])
		perIface[a.Interface]++
		if len(label) >= unix.IFNAMSIZ {
			label = ""
		}
		g.labels = append(g.labels, label)
	}
	return g, nil
}

// Addresses returns the group's addresses, in configuration order.
func (g *AddressGroup) Addresses() []Address {
	return slices.Clone(g.addrs)
}

// ARP returns the group's ARP settings, defaults filled in.
func (g *AddressGroup) ARP() ARPConfig {
	return g.arp
}

// Acquire adds every address (one already there is fine) and then sends
// the gratuitous ARP rounds for them, the first at once. It returns when
// the last round is sent, or early with ctx's error once ctx ends. An
// address that cannot be added does not stop the others, which are still
// announced; the errors are joined.
func (g *AddressGroup) Acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("acquire addresses: %w", err)
	}
	var (
		errs  []error
		added []int
	)
	for i, a := range g.addrs {
		if err := g.add(i); err != nil {
			errs = append(errs, fmt.Errorf("add address %s: %w", a, err))
			continue
		}
		added = append(added, i)
	}
	if len(added) > 0 {
		errs = append(errs, g.announce(ctx, added))
	}
	return errors.Join(errs...)
}

// add adds address i; an address already configured is left alone.
func (g *AddressGroup) add(i int) error {
	a := g.addrs[i]
	link, err := netlink.LinkByName(a.Interface)
	if err != nil {
		return err
	}
	err = netlink.AddrAdd(link, &netlink.Addr{IPNet: a.ipNet(), Broadcast: a.broadcast(), Label: g.labels[i]})
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// Release removes every address; an address (or interface) that is not
// there is fine. Errors do not stop the other addresses and are joined.
// ctx is not consulted: removal is quick and is never cut short.
func (g *AddressGroup) Release(_ context.Context) error {
	var errs []error
	for _, a := range g.addrs {
		link, err := netlink.LinkByName(a.Interface)
		var gone netlink.LinkNotFoundError
		if errors.As(err, &gone) {
			continue
		}
		if err == nil {
			err = netlink.AddrDel(link, &netlink.Addr{IPNet: a.ipNet()})
		}
		if err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("remove address %s: %w", a, err))
		}
	}
	return errors.Join(errs...)
}

// Held reports whether every address is configured, with its prefix
// length, on its interface. A missing interface is an error.
func (g *AddressGroup) Held() (bool, error) {
	held, err := g.present()
	if err != nil {
		return false, err
	}
	return !slices.Contains(held, false), nil
}

// present reports, per address, whether it is configured.
func (g *AddressGroup) present() ([]bool, error) {
	have := make(map[string]map[netip.Prefix]bool) // per interface
	held := make([]bool, len(g.addrs))
	for i, a := range g.addrs {
		set, ok := have[a.Interface]
		if !ok {
			link, err := netlink.LinkByName(a.Interface)
			if err != nil {
				return nil, fmt.Errorf("check address %s: %w", a, err)
			}
			list, err := addrList(nil, link)
			if err != nil {
				return nil, fmt.Errorf("list addresses of %s: %w", a.Interface, err)
			}
			set = make(map[netip.Prefix]bool)
			for _, l := range list {
				if l.IPNet == nil {
					continue
				}
				ip, ok := netip.AddrFromSlice(l.IP)
				bits, _ := l.Mask.Size()
				if ok {
					set[netip.PrefixFrom(ip.Unmap(), bits)] = true
				}
			}
			have[a.Interface] = set
		}
		held[i] = set[a.Prefix]
	}
	return held, nil
}

// Announce sends the gratuitous ARP rounds again for the addresses that
// are configured here, the first round at once; it returns when the last
// round is sent, or early with ctx's error once ctx ends. Addresses that
// are not configured are not announced (that would draw their traffic to a
// host that drops it) and are reported in the error.
func (g *AddressGroup) Announce(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("announce addresses: %w", err)
	}
	held, err := g.present()
	if err != nil {
		return fmt.Errorf("announce addresses: %w", err)
	}
	var (
		errs []error
		idx  []int
	)
	for i, h := range held {
		if h {
			idx = append(idx, i)
		} else {
			errs = append(errs, fmt.Errorf("announce address %s: not configured", g.addrs[i]))
		}
	}
	if len(idx) > 0 {
		errs = append(errs, g.announce(ctx, idx))
	}
	return errors.Join(errs...)
}

// arpSender sends one interface's gratuitous ARP frames.
type arpSender struct {
	fd     int
	to     *unix.SockaddrLinklayer // the interface, ETH_P_ARP, broadcast
	mac    net.HardwareAddr
	frames [][]byte
	addrs  []int // g.addrs index per frame
}

// announce sends g.arp.Count rounds of gratuitous ARPs, g.arp.Interval
// apart, for the addresses with indexes idx. Each address keeps only its
// first send error.
func (g *AddressGroup) announce(ctx context.Context, idx []int) error {
	var (
		senders []*arpSender
		errs    []error
	)
	defer func() {
		for _, s := range senders {
			_ = unix.Close(s.fd) // sending is over; nothing was buffered
		}
	}()
	byIface := make(map[string]*arpSender)
	for _, i := range idx {
		a := g.addrs[i]
		s, ok := byIface[a.Interface]
		if !ok {
			var err error
			s, err = openARPSender(a.Interface)
			if err != nil {
				errs = append(errs, fmt.Errorf("announce address %s: %w", a, err))
				byIface[a.Interface] = nil
				continue
			}
			byIface[a.Interface] = s
			senders = append(senders, s)
		}
		if s == nil {
			errs = append(errs, fmt.Errorf("announce address %s: no arp socket for %s", a, a.Interface))
			continue
		}
		ip := a.Prefix.Addr().As4()
		s.frames = append(s.frames, GratuitousARP(s.mac, ip, ARPRequest))
		s.addrs = append(s.addrs, i)
		if g.arp.Replies {
			s.frames = append(s.frames, GratuitousARP(s.mac, ip, ARPReply))
			s.addrs = append(s.addrs, i)
		}
	}

	sendErr := make(map[int]error)
	start := time.Now()
	for round := range g.arp.Count {
		if round > 0 {
			timer := time.NewTimer(time.Until(start.Add(time.Duration(round) * g.arp.Interval)))
			select {
			case <-ctx.Done():
				timer.Stop()
				errs = append(errs, fmt.Errorf("announce addresses: %w", ctx.Err()))
				return errors.Join(append(errs, sortedErrs(sendErr)...)...)
			case <-timer.C:
			}
		}
		for _, s := range senders {
			for k, frame := range s.frames {
				if err := unix.Sendto(s.fd, frame, 0, s.to); err != nil && sendErr[s.addrs[k]] == nil {
					sendErr[s.addrs[k]] = fmt.Errorf("send arp for %s: %w", g.addrs[s.addrs[k]], err)
				}
			}
		}
	}
	return errors.Join(append(errs, sortedErrs(sendErr)...)...)
}

// sortedErrs returns m's errors ordered by key.
func sortedErrs(m map[int]error) []error {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	errs := make([]error, len(keys))
	for i, k := range keys {
		errs[i] = m[k]
	}
	return errs
}

// openARPSender opens an AF_PACKET socket bound to iface (receiving
// nothing: protocol 0) and notes the interface's MAC address.
func openARPSender(iface string) (*arpSender, error) {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		return nil, err
	}
	mac := link.Attrs().HardwareAddr
	if len(mac) != 6 {
		return nil, fmt.Errorf("find mac address of %s: %q is not an ethernet address", iface, mac)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	ifindex := link.Attrs().Index
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("bind packet socket to %s: %w", iface, err)
	}
	to := &unix.SockaddrLinklayer{Ifindex: ifindex, Protocol: htons(unix.ETH_P_ARP), Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	return &arpSender{fd: fd, to: to, mac: mac}, nil
}

// ARP opcodes of GratuitousARP.
const (
	ARPRequest = 1 // ARP request (RFC 5227's ARP announcement)
	ARPReply   = 2 // unsolicited ARP reply
)

// ARP frame layout (Ethernet, IPv4).
const (
	arpFrameLen = 60 // minimum Ethernet frame without FCS: 14 + 28 + padding
	arpOffset   = 14 // ARP payload after the Ethernet header
)

// GratuitousARP returns the Ethernet frame, addressed to
// ff:ff:ff:ff:ff:ff, by which the host with Ethernet address mac announces
// that it holds the IPv4 address ip, so that neighbours and switches update
// at once. Sender and target protocol address are both ip. With op
// ARPRequest it is an ARP request for ip itself with a zero target MAC
// (RFC 5227's ARP announcement, `arping -U`); with ARPReply an unsolicited
// reply with the broadcast target MAC (Heartbeat's send_arp sends both).
// mac must be a 6-byte Ethernet address. The frame is padded to Ethernet's
// 60-byte minimum, ready for an AF_PACKET SOCK_RAW socket (without FCS).
func GratuitousARP(mac net.HardwareAddr, ip [4]byte, op uint16) []byte {
	f := make([]byte, arpFrameLen)
	bcast := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	copy(f[0:6], bcast)
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:14], unix.ETH_P_ARP)
	p := f[arpOffset:]
	binary.BigEndian.PutUint16(p[0:2], unix.ARPHRD_ETHER) // hardware type: Ethernet
	binary.BigEndian.PutUint16(p[2:4], unix.ETH_P_IP)     // protocol type: IPv4
	p[4], p[5] = 6, 4                                     // address lengths
	binary.BigEndian.PutUint16(p[6:8], op)
	copy(p[8:14], mac)    // sender MAC
	copy(p[14:18], ip[:]) // sender IP
	if op == ARPReply {
		copy(p[18:24], bcast) // target MAC
	}
	copy(p[24:28], ip[:]) // target IP
	return f
}

// htons converts a 16-bit value to network byte order as the kernel reads
// it from a native-endian field.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
