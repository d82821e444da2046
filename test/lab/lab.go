// Package lab builds director's test lab out of Linux network namespaces:
// a client, two directors (lb1, lb2) and two real servers (web1, web2),
// joined by two "switches" (pub and int), each a Linux bridge in a
// namespace of its own, so that a node can be failed (links down or
// namespace deleted) while every other node keeps carrier.
//
//	namespace  interfaces (switch)          addresses
//	client     eth0 (pub)                   192.168.56.100/24, default via 192.168.56.10
//	lb1        enp0s3 (pub), enp0s8 (int)   192.168.56.11/24, 192.168.200.251/24
//	lb2        enp0s3 (pub), enp0s8 (int)   192.168.56.12/24, 192.168.200.252/24
//	web1       enp0s3 (int)                 192.168.200.11/24, default via 192.168.200.250
//	web2       enp0s3 (int)                 192.168.200.12/24, default via 192.168.200.250
//
// The floating addresses, VIP 192.168.56.10/24 and the real servers'
// gateway 192.168.200.250/24, can be put on either director.
//
// Every namespace is named "<prefix>-<node>" (or "<prefix>-pub",
// "<prefix>-int"), so parallel runs with different prefixes never collide,
// and nothing is ever attached to the host's root namespace: every veth pair
// is created by a netlink request issued inside the switch's namespace with
// its peer placed directly in the node's namespace. The package needs root
// and iproute2's `ip` binary (for `ip netns add` and `ip netns exec`); it
// needs no ethtool binary: GRO is switched on with the ethtool ioctl.
//
// GRO is on for every veth end. A frame that an XDP program redirects into
// a veth is only delivered when the veth's peer has NAPI, which GRO turns
// on; the directors' XDP programs rely on this.
//
// Transmit checksum offload is off on every veth end, node and switch side
// (unless Options.TxChecksumOffload),
// so that frames carry complete checksums as they do on a real wire. With
// it on, a veth hands over packets whose TCP/UDP checksum holds only the
// pseudo-header part (CHECKSUM_PARTIAL; also every segment of a packet that
// GRO merged at a switch port and the bridge split again); an XDP program
// that rewrites and redirects such a frame loses the "finish the checksum"
// mark and the receiver drops it.
//
// This file holds the topology, New, Close and the prefix helpers.
package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Node names, accepted by every method that takes a node.
const (
	Client = "client"
	LB1    = "lb1"
	LB2    = "lb2"
	Web1   = "web1"
	Web2   = "web2"
)

// Switch names: the namespaces holding the pub and int bridges. They are
// accepted by NetnsName, NetnsPath, Do, Command and Run (e.g. to run tcpdump
// on the bridge), not by the node-only methods.
const (
	Pub = "pub"
	Int = "int"
)

// BridgeName is the name of the bridge inside each switch namespace.
const BridgeName = "br0"

// Interface names inside the node namespaces.
const (
	ClientIf = "eth0"   // client's only interface, on pub
	PubIf    = "enp0s3" // a director's public interface, on pub
	IntIf    = "enp0s8" // a director's internal interface, on int
	WebIf    = "enp0s3" // a real server's only interface, on int
)

// Floating address labels, as ipvsadm-era configurations name them.
const (
	VIPLabel     = PubIf + ":0"
	GatewayLabel = IntIf + ":0"
)

// Well-known addresses (all in /24 networks, see PrefixLen).
const (
	VIP     = "192.168.56.10"   // public virtual IP, floating between directors
	Gateway = "192.168.200.250" // real servers' default gateway, floating

	ClientAddr = "192.168.56.100"
	LB1PubAddr = "192.168.56.11"
	LB1IntAddr = "192.168.200.251"
	LB2PubAddr = "192.168.56.12"
	LB2IntAddr = "192.168.200.252"
	Web1Addr   = "192.168.200.11"
	Web2Addr   = "192.168.200.12"

	PubNet    = "192.168.56.0/24"
	IntNet    = "192.168.200.0/24"
	PrefixLen = 24
)

// Interface describes one interface of a node.
type Interface struct {
	Name   string       // name inside the node's namespace, e.g. "enp0s3"
	Switch string       // Pub or Int
	Port   string       // name of the veth peer in the switch namespace, e.g. "lb1-e3"
	Addr   netip.Prefix // the node's own address, e.g. 192.168.56.11/24
}

type nodeSpec struct {
	ifs     []Interface
	gw      string // default gateway, "" for none
	forward bool   // net.ipv4.ip_forward=1
}

func iface(node, name, sw, addr, port string) Interface {
	return Interface{Name: name, Switch: sw, Port: node + "-" + port,
		Addr: netip.PrefixFrom(netip.MustParseAddr(addr), PrefixLen)}
}

var topology = map[string]nodeSpec{
	Client: {ifs: []Interface{iface(Client, ClientIf, Pub, ClientAddr, "e0")}, gw: VIP},
	LB1: {ifs: []Interface{iface(LB1, PubIf, Pub, LB1PubAddr, "e3"), iface(LB1, IntIf, Int, LB1IntAddr, "e8")},
		forward: true},
	LB2: {ifs: []Interface{iface(LB2, PubIf, Pub, LB2PubAddr, "e3"), iface(LB2, IntIf, Int, LB2IntAddr, "e8")},
		forward: true},
	Web1: {ifs: []Interface{iface(Web1, WebIf, Int, Web1Addr, "e3")}, gw: Gateway},
	Web2: {ifs: []Interface{iface(Web2, WebIf, Int, Web2Addr, "e3")}, gw: Gateway},
}

var allNodes = []string{Client, LB1, LB2, Web1, Web2}

// suffixes are every namespace suffix a lab may create, switches first.
var suffixes = []string{Pub, Int, Client, LB1, LB2, Web1, Web2}

// AllNodes returns the five node names in topology order.
func AllNodes() []string { return slices.Clone(allNodes) }

// Interfaces returns the interfaces of node (a copy), or nil for an
// unknown node.
func Interfaces(node string) []Interface {
	return slices.Clone(topology[node].ifs)
}

// DefaultGateway returns node's default gateway ("" when it has none).
func DefaultGateway(node string) string { return topology[node].gw }

// NetnsDir is where named network namespaces live (as with `ip netns`).
const NetnsDir = "/run/netns"

// Options selects what New builds.
type Options struct {
	// Prefix starts every namespace name: "<Prefix>-lb1". Empty means a
	// fresh one from UniquePrefix. It must be 1 to 32 characters of
	// [A-Za-z0-9_].
	Prefix string
	// Nodes is the subset of nodes to build; empty means all five. The
	// switches a node is attached to are always built.
	Nodes []string
	// FloatingOn is "" (nobody) or LB1 or LB2: that director gets the VIP
	// on its enp0s3 (label enp0s3:0) and the gateway on its enp0s8 (label
	// enp0s8:0). It must be one of Nodes.
	FloatingOn string
	// TxChecksumOffload leaves transmit checksum offload (and with it
	// TSO) on at every veth end, as veths come: frames then cross the lab
	// as CHECKSUM_PARTIAL skbs, which the TC data plane must rewrite
	// correctly. The XDP data plane cannot (see the package comment).
	TxChecksumOffload bool
	// KernelDefaults leaves every veth as the kernel makes it (GRO off,
	// transmit checksum offload on), as in a user's own namespaces or
	// containers: the XDP data plane loses packets there, and `auto` must
	// not pick it. It overrides TxChecksumOffload.
	KernelDefaults bool
}

// Lab is a built lab. Its methods are safe for concurrent use.
type Lab struct {
	prefix   string
	txCsum   bool     // Options.TxChecksumOffload
	defaults bool     // Options.KernelDefaults
	nodes    []string // built nodes, topology order
	switches []string // built switches

	mu      sync.Mutex
	created []string // namespace names created, in order
	deleted map[string]bool
	stops   []func()
	closed  bool
}

// New builds the lab described by opts. On error, everything it created
// has been removed again.
func New(opts Options) (*Lab, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = UniquePrefix()
	}
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	want := opts.Nodes
	if len(want) == 0 {
		want = allNodes
	}
	seen := map[string]bool{}
	for _, n := range want {
		if _, ok := topology[n]; !ok {
			return nil, fmt.Errorf("build lab: unknown node %q", n)
		}
		seen[n] = true
	}
	l := &Lab{prefix: prefix, txCsum: opts.TxChecksumOffload, defaults: opts.KernelDefaults, deleted: map[string]bool{}}
	sws := map[string]bool{}
	for _, n := range allNodes {
		if seen[n] {
			l.nodes = append(l.nodes, n)
			for _, ifc := range topology[n].ifs {
				sws[ifc.Switch] = true
			}
		}
	}
	for _, s := range []string{Pub, Int} {
		if sws[s] {
			l.switches = append(l.switches, s)
		}
	}
	if opts.FloatingOn != "" {
		if opts.FloatingOn != LB1 && opts.FloatingOn != LB2 {
			return nil, fmt.Errorf("build lab: floating addresses go on %s or %s, not %q", LB1, LB2, opts.FloatingOn)
		}
		if !seen[opts.FloatingOn] {
			return nil, fmt.Errorf("build lab: floating node %s is not in the lab", opts.FloatingOn)
		}
	}
	if err := l.build(opts.FloatingOn); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up after failed build: %w", cerr))
		}
		return nil, err
	}
	return l, nil
}

func (l *Lab) build(floating string) error {
	for _, s := range l.switches {
		if err := l.addNetns(s); err != nil {
			return err
		}
	}
	for _, n := range l.nodes {
		if err := l.addNetns(n); err != nil {
			return err
		}
	}
	for _, s := range l.switches {
		if err := l.buildSwitch(s); err != nil {
			return err
		}
	}
	for _, n := range l.nodes {
		if err := l.buildNode(n); err != nil {
			return err
		}
	}
	if floating != "" {
		if err := l.addFloating(floating, false); err != nil {
			return err
		}
	}
	return nil
}

// addNetns creates the named namespace for node and records it.
func (l *Lab) addNetns(node string) error {
	name := l.NetnsName(node)
	if _, err := os.Stat(filepath.Join(NetnsDir, name)); err == nil {
		return fmt.Errorf("create namespace %s: already exists (leftover? see CleanupPrefix)", name)
	}
	if out, err := exec.Command(ipPath(), "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("create namespace %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	l.mu.Lock()
	l.created = append(l.created, name)
	l.mu.Unlock()
	return nil
}

// handle opens a netlink handle inside the namespace of node (or switch).
func (l *Lab) handle(node string) (*netlink.Handle, netns.NsHandle, error) {
	ns, err := netns.GetFromPath(l.NetnsPath(node))
	if err != nil {
		return nil, -1, fmt.Errorf("open namespace %s: %w", l.NetnsName(node), err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		_ = ns.Close()
		return nil, -1, fmt.Errorf("open netlink in %s: %w", l.NetnsName(node), err)
	}
	return h, ns, nil
}

func (l *Lab) buildSwitch(sw string) error {
	h, ns, err := l.handle(sw)
	if err != nil {
		return err
	}
	defer func() { _ = ns.Close() }()
	defer h.Close()
	if err := loUp(h); err != nil {
		return fmt.Errorf("set loopback up in %s: %w", l.NetnsName(sw), err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = BridgeName
	br := &netlink.Bridge{LinkAttrs: la}
	if err := h.LinkAdd(br); err != nil {
		return fmt.Errorf("add bridge in %s: %w", l.NetnsName(sw), err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return fmt.Errorf("set bridge up in %s: %w", l.NetnsName(sw), err)
	}
	return nil
}

func loUp(h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	return h.LinkSetUp(lo)
}

// mac returns a deterministic locally administered MAC for an address:
// 02:00:a:b:c:d on the node side, 02:01:a:b:c:d on the switch side.
func mac(addr netip.Addr, switchSide bool) net.HardwareAddr {
	b := addr.As4()
	m := net.HardwareAddr{0x02, 0x00, b[0], b[1], b[2], b[3]}
	if switchSide {
		m[1] = 0x01
	}
	return m
}

func (l *Lab) buildNode(node string) error {
	spec := topology[node]
	h, ns, err := l.handle(node)
	if err != nil {
		return err
	}
	defer func() { _ = ns.Close() }()
	defer h.Close()
	if err := loUp(h); err != nil {
		return fmt.Errorf("set loopback up in %s: %w", l.NetnsName(node), err)
	}
	for _, ifc := range spec.ifs {
		if err := l.addVeth(node, ifc, ns); err != nil {
			return err
		}
		link, err := h.LinkByName(ifc.Name)
		if err != nil {
			return fmt.Errorf("find %s in %s: %w", ifc.Name, l.NetnsName(node), err)
		}
		if err := l.tune(node, ifc.Name); err != nil {
			return err
		}
		if err := h.AddrAdd(link, addr(ifc.Addr, "")); err != nil {
			return fmt.Errorf("add address %s to %s in %s: %w", ifc.Addr, ifc.Name, l.NetnsName(node), err)
		}
		if err := h.LinkSetUp(link); err != nil {
			return fmt.Errorf("set %s up in %s: %w", ifc.Name, l.NetnsName(node), err)
		}
	}
	if err := addDefaultRoute(h, node); err != nil {
		return fmt.Errorf("add default route in %s: %w", l.NetnsName(node), err)
	}
	if spec.forward {
		if err := l.Do(node, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
		}); err != nil {
			return fmt.Errorf("enable ip_forward in %s: %w", l.NetnsName(node), err)
		}
	}
	return nil
}

// tune sets GRO on and transmit checksum offload as the lab's options say
// on veth end name in node, or leaves the kernel's defaults.
func (l *Lab) tune(node, name string) error {
	if l.defaults {
		return nil
	}
	if err := l.Do(node, func() error { return SetGRO(name, true) }); err != nil {
		return fmt.Errorf("enable gro on %s in %s: %w", name, l.NetnsName(node), err)
	}
	if err := l.Do(node, func() error { return setTxChecksum(name, l.txCsum) }); err != nil {
		return fmt.Errorf("set tx checksum offload on %s in %s: %w", name, l.NetnsName(node), err)
	}
	return nil
}

// addVeth creates the veth pair for ifc: the request is made inside the
// switch namespace, where the port end stays, and the peer is created
// directly in the node's namespace (nodeNs).
func (l *Lab) addVeth(node string, ifc Interface, nodeNs netns.NsHandle) error {
	h, ns, err := l.handle(ifc.Switch)
	if err != nil {
		return err
	}
	defer func() { _ = ns.Close() }()
	defer h.Close()
	br, err := h.LinkByName(BridgeName)
	if err != nil {
		return fmt.Errorf("find bridge in %s: %w", l.NetnsName(ifc.Switch), err)
	}
	la := netlink.NewLinkAttrs()
	la.Name = ifc.Port
	la.HardwareAddr = mac(ifc.Addr.Addr(), true)
	la.MasterIndex = br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: la, PeerName: ifc.Name,
		PeerHardwareAddr: mac(ifc.Addr.Addr(), false), PeerNamespace: netlink.NsFd(nodeNs)}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s for %s: %w", ifc.Port, ifc.Name, l.NetnsName(node), err)
	}
	if err := l.tune(ifc.Switch, ifc.Port); err != nil {
		return err
	}
	if err := h.LinkSetUp(veth); err != nil {
		return fmt.Errorf("set %s up in %s: %w", ifc.Port, l.NetnsName(ifc.Switch), err)
	}
	return nil
}

// addr builds a netlink address with its broadcast address (`brd +`).
func addr(p netip.Prefix, label string) *netlink.Addr {
	ip := p.Addr().As4()
	mask := net.CIDRMask(p.Bits(), 32)
	brd := make(net.IP, 4)
	for i := range brd {
		brd[i] = ip[i] | ^mask[i]
	}
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(ip[:]), Mask: mask}, Broadcast: brd, Label: label}
}

func addDefaultRoute(h *netlink.Handle, node string) error {
	spec := topology[node]
	if spec.gw == "" {
		return nil
	}
	link, err := h.LinkByName(spec.ifs[0].Name)
	if err != nil {
		return err
	}
	return h.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.ParseIP(spec.gw).To4()})
}

// Prefix returns the lab's namespace prefix.
func (l *Lab) Prefix() string { return l.prefix }

// Nodes returns the nodes this lab was built with, in topology order.
func (l *Lab) Nodes() []string { return slices.Clone(l.nodes) }

// Has reports whether node was built in this lab (and not deleted).
func (l *Lab) Has(node string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.has(node)
}

func (l *Lab) has(node string) bool {
	return (slices.Contains(l.nodes, node) || slices.Contains(l.switches, node)) &&
		!l.deleted[l.NetnsName(node)]
}

// NetnsName returns the namespace name of node or switch: "<prefix>-<node>".
func (l *Lab) NetnsName(node string) string { return l.prefix + "-" + node }

// NetnsPath returns the path of node's namespace: /run/netns/<prefix>-<node>.
func (l *Lab) NetnsPath(node string) string { return filepath.Join(NetnsDir, l.NetnsName(node)) }

// check returns an error unless node is a live node (or switch when
// switches is true) of this lab.
func (l *Lab) check(node string, switches bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("use lab %s: closed", l.prefix)
	}
	if !switches && (node == Pub || node == Int) {
		return fmt.Errorf("use node %s: a switch, not a node", node)
	}
	if !l.has(node) {
		return fmt.Errorf("use node %s: not in lab %s", node, l.prefix)
	}
	return nil
}

// track registers a stop function to be called by Close.
func (l *Lab) track(stop func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("use lab %s: closed", l.prefix)
	}
	l.stops = append(l.stops, stop)
	return nil
}

// ipPath finds iproute2's ip binary, also when PATH lacks the sbin dirs.
func ipPath() string {
	if p, err := exec.LookPath("ip"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "ip"
}

// Attach returns the lab of prefix that another process built and left
// running: the nodes and switches whose namespaces exist. Close removes
// it, processes included.
func Attach(prefix string) (*Lab, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	l := &Lab{prefix: prefix, deleted: map[string]bool{}}
	for _, s := range []string{Pub, Int} {
		if _, err := os.Stat(l.NetnsPath(s)); err == nil {
			l.switches = append(l.switches, s)
			l.created = append(l.created, l.NetnsName(s))
		}
	}
	for _, n := range allNodes {
		if _, err := os.Stat(l.NetnsPath(n)); err == nil {
			l.nodes = append(l.nodes, n)
			l.created = append(l.created, l.NetnsName(n))
		}
	}
	if len(l.nodes) == 0 {
		return nil, fmt.Errorf("attach lab: no lab with prefix %q (no namespace %s)", prefix, l.NetnsName(Client))
	}
	return l, nil
}
