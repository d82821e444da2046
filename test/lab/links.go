// This file changes a running lab's links: failing a node by setting its
// links down and back up, moving the floating addresses between directors
// (announced by gratuitous ARP, as a real takeover does), and the ethtool
// ioctl that switches GRO on for veth ends (which gives them NAPI, needed
// to receive frames that XDP redirects into their peers).

package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/director-lb/director/heartbeat"
)

// SetLinks sets all of node's interfaces (not lo) down or up, which fails
// the node (its switch ports lose carrier) or brings it back. Going up
// restores the node's default route, which the kernel drops while the
// link is down.
func (l *Lab) SetLinks(node string, up bool) error {
	if err := l.check(node, false); err != nil {
		return err
	}
	h, ns, err := l.handle(node)
	if err != nil {
		return err
	}
	defer func() { _ = ns.Close() }()
	defer h.Close()
	for _, ifc := range topology[node].ifs {
		link, err := h.LinkByName(ifc.Name)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", ifc.Name, l.NetnsName(node), err)
		}
		if up {
			err = h.LinkSetUp(link)
		} else {
			err = h.LinkSetDown(link)
		}
		if err != nil {
			return fmt.Errorf("set %s in %s up=%t: %w", ifc.Name, l.NetnsName(node), up, err)
		}
	}
	if up {
		if err := addDefaultRoute(h, node); err != nil {
			return fmt.Errorf("restore default route in %s: %w", l.NetnsName(node), err)
		}
	}
	return nil
}

// floating returns a director's floating addresses: VIP on enp0s3 and
// the gateway on enp0s8, with their labels.
func floating() []struct {
	ifname, label string
	addr          netip.Prefix
} {
	return []struct {
		ifname, label string
		addr          netip.Prefix
	}{
		{PubIf, VIPLabel, netip.PrefixFrom(netip.MustParseAddr(VIP), PrefixLen)},
		{IntIf, GatewayLabel, netip.PrefixFrom(netip.MustParseAddr(Gateway), PrefixLen)},
	}
}

func checkDirector(node string) error {
	if node != LB1 && node != LB2 {
		return fmt.Errorf("move floating addresses: %q is not a director", node)
	}
	return nil
}

// AddFloating puts the floating addresses on director node (LB1 or LB2):
// VIP/24 on enp0s3 (label enp0s3:0) and Gateway/24 on enp0s8 (label
// enp0s8:0), with broadcast addresses, then announces both with gratuitous
// ARP so neighbours and switches update at once. Addresses already there
// are kept; it does not remove them from the other director.
func (l *Lab) AddFloating(node string) error {
	if err := checkDirector(node); err != nil {
		return err
	}
	if err := l.check(node, false); err != nil {
		return err
	}
	return l.addFloating(node, true)
}

func (l *Lab) addFloating(node string, announce bool) error {
	h, ns, err := l.handle(node)
	if err != nil {
		return err
	}
	defer func() { _ = ns.Close() }()
	defer h.Close()
	for _, f := range floating() {
		link, err := h.LinkByName(f.ifname)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", f.ifname, l.NetnsName(node), err)
		}
		if err := h.AddrReplace(link, addr(f.addr, f.label)); err != nil {
			return fmt.Errorf("add floating %s to %s in %s: %w", f.addr, f.ifname, l.NetnsName(node), err)
		}
	}
	if !announce {
		return nil
	}
	for _, f := range floating() {
		if err := l.GratuitousARP(node, f.ifname, f.addr.Addr()); err != nil {
			return err
		}
	}
	return nil
}

// RemoveFloating removes the floating addresses from director node.
// Addresses that are not there are no error.
func (l *Lab) RemoveFloating(node string) error {
	if err := checkDirector(node); err != nil {
		return err
	}
	if err := l.check(node, false); err != nil {
		return err
	}
	h, ns, err := l.handle(node)
	if err != nil {
		return err
	}
	defer func() { _ = ns.Close() }()
	defer h.Close()
	for _, f := range floating() {
		link, err := h.LinkByName(f.ifname)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", f.ifname, l.NetnsName(node), err)
		}
		if err := h.AddrDel(link, addr(f.addr, f.label)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove floating %s from %s in %s: %w", f.addr, f.ifname, l.NetnsName(node), err)
		}
	}
	return nil
}

// HasFloating reports whether director node currently holds the VIP on
// its enp0s3.
func (l *Lab) HasFloating(node string) (bool, error) {
	if err := l.check(node, false); err != nil {
		return false, err
	}
	h, ns, err := l.handle(node)
	if err != nil {
		return false, err
	}
	defer func() { _ = ns.Close() }()
	defer h.Close()
	link, err := h.LinkByName(PubIf)
	if err != nil {
		return false, fmt.Errorf("find %s in %s: %w", PubIf, l.NetnsName(node), err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return false, fmt.Errorf("list addresses in %s: %w", l.NetnsName(node), err)
	}
	vip := net.ParseIP(VIP)
	for _, a := range addrs {
		if a.IP.Equal(vip) {
			return true, nil
		}
	}
	return false, nil
}

// GratuitousARP broadcasts an unsolicited ARP request for ip (sender and
// target address both ip) from node's interface ifname, the frame the
// director's heartbeat sends (heartbeat.GratuitousARP). A link that is down
// is no error: nothing is sent.
func (l *Lab) GratuitousARP(node, ifname string, ip netip.Addr) error {
	if !ip.Is4() {
		return fmt.Errorf("send gratuitous arp: %s is not IPv4", ip)
	}
	err := l.Do(node, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if ifi.Flags&net.FlagUp == 0 {
			return nil
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return err
		}
		defer func() { _ = unix.Close(fd) }()
		frame := heartbeat.GratuitousARP(ifi.HardwareAddr, ip.As4(), heartbeat.ARPRequest)
		sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: 6,
			Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
		if err := unix.Sendto(fd, frame, 0, sa); err != nil && err != unix.ENETDOWN && err != unix.ENXIO {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("send gratuitous arp for %s on %s in %s: %w", ip, ifname, node, err)
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ethtool ioctl commands (linux/ethtool.h).
const (
	ethtoolGGRO    = 0x2b
	ethtoolSGRO    = 0x2c
	ethtoolGTXCSUM = 0x16
	ethtoolSTXCSUM = 0x17
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is struct ifreq with ifr_data; the padding makes it at least
// as large as the kernel's struct ifreq.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24]byte
}

func ethtool(ifname string, v *ethtoolValue) error {
	if len(ifname) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", ifname)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(fd) }()
	var ifr ifreqData
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(v)
	if errno != 0 {
		return errno
	}
	return nil
}

// SetGRO switches GRO on or off for ifname in the calling thread's
// namespace (ethtool -K ifname gro on|off). On a veth, GRO gives the
// device NAPI, which it needs to receive XDP frames redirected into its
// peer when it has no XDP program itself.
func SetGRO(ifname string, on bool) error {
	v := &ethtoolValue{cmd: ethtoolSGRO}
	if on {
		v.data = 1
	}
	return ethtool(ifname, v)
}

// setTxChecksum switches transmit checksum offload on or off for ifname in
// the calling thread's namespace (ethtool -K ifname tx on|off).
func setTxChecksum(ifname string, on bool) error {
	v := &ethtoolValue{cmd: ethtoolSTXCSUM}
	if on {
		v.data = 1
	}
	return ethtool(ifname, v)
}

// TxChecksum reports whether transmit checksum offload is on for interface
// ifname in node's namespace.
func (l *Lab) TxChecksum(node, ifname string) (bool, error) {
	var on bool
	err := l.Do(node, func() error {
		v := &ethtoolValue{cmd: ethtoolGTXCSUM}
		if err := ethtool(ifname, v); err != nil {
			return err
		}
		on = v.data != 0
		return nil
	})
	return on, err
}

// getGRO reports whether GRO is on for ifname in the calling thread's
// namespace.
func getGRO(ifname string) (bool, error) {
	v := &ethtoolValue{cmd: ethtoolGGRO}
	if err := ethtool(ifname, v); err != nil {
		return false, err
	}
	return v.data != 0, nil
}

// GRO reports whether GRO is on for interface ifname in node's namespace
// (node may also be Pub or Int, for the switch-side ports).
func (l *Lab) GRO(node, ifname string) (bool, error) {
	var on bool
	err := l.Do(node, func() error {
		var err error
		on, err = getGRO(ifname)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("get gro of %s in %s: %w", ifname, node, err)
	}
	return on, nil
}
