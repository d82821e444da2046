package loader

// Attaching the program to the interfaces: the hooks tried in order
// (XDP native, XDP generic, TC) and why each failed, pinned links, and
// detaching what another mode left.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// attach attaches or re-targets the program on each interface and removes
// pinned attachments of interfaces no longer wanted.
func (d *Dataplane) attach(opts Options) error {
	want := map[string]bool{}
	for _, ifname := range opts.Interfaces {
		want[ifname] = true
		iface, err := net.InterfaceByName(ifname)
		if err != nil {
			return fmt.Errorf("attach to %s: %w", ifname, err)
		}
		if err := setSysctls(ifname); err != nil {
			return err
		}
		mode, fallbacks, err := firstWorking(ifname, d.attempts(iface, opts))
		d.Fallbacks = append(d.Fallbacks, fallbacks...)
		if err != nil {
			return err
		}
		// The new hook runs before the old one is removed: XDP sees a
		// packet before TC does and both share the maps, so a change of
		// mode loses nothing.
		if err := d.detachOthers(iface.Name, mode); err != nil {
			return err
		}
		d.Attachments = append(d.Attachments, Attachment{Interface: ifname, Ifindex: iface.Index, Mode: mode})
	}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("read %s: %w", d.dir, err)
	}
	for _, e := range entries {
		if name, kind := attachmentPin(e.Name()); kind != "" && !want[name] {
			if err := removeAttachment(filepath.Join(d.dir, e.Name()), name, kind); err != nil {
				return err
			}
		}
	}
	return nil
}

// attempt is one way to attach to an interface; try returns the mode it
// got.
type attempt struct {
	mode string
	try  func() (string, error)
}

// attempts lists, best first, the ways opts allows on iface.
func (d *Dataplane) attempts(iface *net.Interface, opts Options) []attempt {
	native := attempt{ModeNameNative, func() (string, error) { return d.attachXDP(iface, link.XDPDriverMode) }}
	generic := attempt{ModeNameGeneric, func() (string, error) { return d.attachXDP(iface, link.XDPGenericMode) }}
	tcx := attempt{ModeNameTCX, func() (string, error) { return d.attachTCX(iface) }}
	clsact := attempt{ModeNameClsact, func() (string, error) { return d.attachClsact(iface) }}
	var tc []attempt
	switch opts.TCAttach {
	case TCAttachTCX:
		tc = []attempt{tcx}
	case TCAttachClsact:
		tc = []attempt{clsact}
	default:
		tc = []attempt{tcx, clsact}
	}
	why := xdpUnsafe(iface.Name)
	switch opts.Mode {
	case ModeNative, ModeGeneric:
		if why != "" {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s: XDP forced on an interface where it can lose packets (%s); it works only with GRO on at the peer of %s (ethtool -K <peer> gro on) and transmit checksum offload off at every sender whose packets cross it (ethtool -K <sender> tx off), or use dataplane: tc",
				iface.Name, why, iface.Name))
		}
		if opts.Mode == ModeNative {
			return []attempt{native}
		}
		return []attempt{generic}
	case ModeTC:
		return tc
	}
	if why != "" {
		// auto never picks a hook that may lose packets: TC sees the
		// skb's checksum state and hands packets to the stack's own
		// transmit path.
		skip := func(mode string) attempt {
			return attempt{mode, func() (string, error) {
				return "", fmt.Errorf("%w: %s; TC is safe there (dataplane: xdp forces XDP)", errNotChosen, why)
			}}
		}
		return append([]attempt{skip(ModeNameNative), skip(ModeNameGeneric)}, tc...)
	}
	return append([]attempt{native, generic}, tc...)
}

// xdpUnsafe says why the XDP program may lose packets on interface ifname,
// or "" when nothing is known against it. On a veth, a frame redirected
// into it is dropped unless its peer has NAPI (GRO on, or an XDP program),
// and packets from local senders with transmit checksum offload on (a
// veth's default) carry a half-finished TCP/UDP checksum (CHECKSUM_PARTIAL)
// that XDP cannot see, so the rewritten packet arrives with a wrong
// checksum. A tun/tap device carries the same half-finished checksums from
// its guest or program.
//
// A variable so that tests can make a veth pass for a physical NIC.
var xdpUnsafe = func(ifname string) string {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return ""
	}
	switch l.Type() {
	case "veth":
		return "veth: XDP redirects into a veth are lost unless its peer has GRO on, and senders' checksum offload leaves checksums XDP cannot finish"
	case "tuntap":
		return "tun/tap: packets from the guest carry checksums XDP cannot finish"
	}
	return ""
}

// firstWorking runs the attempts in order until one succeeds and returns its
// mode and the failures before it. When all fail, the error names each.
func firstWorking(ifname string, attempts []attempt) (string, []Fallback, error) {
	var fallbacks []Fallback
	var reasons []string
	for _, a := range attempts {
		mode, err := a.try()
		if err == nil {
			return mode, fallbacks, nil
		}
		fallbacks = append(fallbacks, Fallback{Interface: ifname, Mode: a.mode, Reason: err.Error(),
			NotChosen: errors.Is(err, errNotChosen)})
		reasons = append(reasons, a.mode+": "+err.Error())
	}
	if len(reasons) == 1 {
		return "", nil, errors.New(reasons[0])
	}
	return "", nil, fmt.Errorf("no data plane attaches to %s: %s", ifname, strings.Join(reasons, "; "))
}

// attachmentPin parses a node directory entry that records an attachment:
// the interface's name and the kind (link_, tcx_ or clsact_), or "".
func attachmentPin(entry string) (ifname, kind string) {
	for _, k := range []string{"link_", "tcx_", "clsact_"} {
		if n, ok := strings.CutPrefix(entry, k); ok {
			return n, k
		}
	}
	return "", ""
}

// detachOthers removes ifname's attachments of other modes than mode.
func (d *Dataplane) detachOthers(ifname, mode string) error {
	var stale []string
	switch mode {
	case ModeNameTCX:
		stale = []string{linkPath(d.dir, ifname), clsactPath(d.dir, ifname)}
	case ModeNameClsact:
		stale = []string{linkPath(d.dir, ifname), tcxPath(d.dir, ifname)}
	default:
		stale = []string{tcxPath(d.dir, ifname), clsactPath(d.dir, ifname)}
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		_, kind := attachmentPin(filepath.Base(p))
		if err := removeAttachment(p, ifname, kind); err != nil {
			return err
		}
	}
	return nil
}

// removeAttachment undoes one pinned attachment of ifname.
func removeAttachment(path, ifname, kind string) error {
	if kind == "clsact_" {
		return removeClsact(path, ifname)
	}
	return detachPinned(path)
}

// attachXDPLink is link.AttachXDP; tests replace it to make XDP fail.
var attachXDPLink = link.AttachXDP

// attachXDP switches a pinned XDP link of iface to the new program, or
// makes and pins a new link in the mode of flags, and reads back the mode.
func (d *Dataplane) attachXDP(iface *net.Interface, flags link.XDPAttachFlags) (string, error) {
	path := linkPath(d.dir, iface.Name)
	prog := d.objs.XdpDirector
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		info, ierr := l.Info()
		if ierr == nil && info.XDP() != nil && int(info.XDP().Ifindex) == iface.Index {
			if err := l.Update(prog); err != nil {
				_ = l.Close() // the link stays pinned, with the old program
				return "", fmt.Errorf("replace program on %s: %w", iface.Name, err)
			}
			d.links = append(d.links, l)
			return xdpMode(iface.Index)
		}
		// The interface was recreated: the old link is defunct. An
		// unpin that fails shows as the Pin error below.
		_ = l.Unpin()
		_ = l.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("open pinned link %s: %w", path, err)
	}

	l, err := attachXDPLink(link.XDPOptions{Program: prog, Interface: iface.Index, Flags: flags})
	if err != nil {
		return "", fmt.Errorf("attach XDP to %s: %w", iface.Name, err)
	}
	if err := l.Pin(path); err != nil {
		_ = l.Close() // detaches the link just made
		return "", fmt.Errorf("pin link of %s: %w", iface.Name, err)
	}
	d.links = append(d.links, l)
	return xdpMode(iface.Index)
}

// xdpMode reads back how XDP is attached to ifindex.
func xdpMode(ifindex int) (string, error) {
	lk, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return "", fmt.Errorf("read link %d: %w", ifindex, err)
	}
	x := lk.Attrs().Xdp
	if x == nil || !x.Attached {
		return "", fmt.Errorf("interface %s: XDP program not attached", lk.Attrs().Name)
	}
	switch x.AttachMode {
	case 1: // XDP_ATTACHED_DRV
		return "xdp native", nil
	case 2: // XDP_ATTACHED_SKB
		return "xdp generic", nil
	case 3: // XDP_ATTACHED_HW
		return "xdp offload", nil
	}
	return fmt.Sprintf("xdp mode %d", x.AttachMode), nil
}

// linkIsLocal reports whether the pinned XDP or TCX link at path is attached
// to interface ifname of the caller's network namespace (same index, same
// name), so that its sysctls may be touched: a removal run from another
// namespace must not change an unrelated interface that has the same name.
func linkIsLocal(path, ifname string) bool {
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		return false
	}
	defer func() { _ = l.Close() }() // read only: it stays pinned
	info, err := l.Info()
	if err != nil {
		return false
	}
	var ifindex int
	switch {
	case info.XDP() != nil:
		ifindex = int(info.XDP().Ifindex)
	case info.TCX() != nil:
		ifindex = int(info.TCX().Ifindex)
	default:
		return false
	}
	iface, err := net.InterfaceByIndex(ifindex)
	return err == nil && iface.Name == ifname
}

func detachPinned(path string) error {
	l, err := link.LoadPinnedLink(path, nil)
	if err != nil {
		// Not loadable (defunct): removing the pin is all there is to do.
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", path, rerr)
		}
		return nil
	}
	// Closing the last reference detaches the link; close(2) has no
	// failure that would leave it attached.
	defer func() { _ = l.Close() }()
	if err := l.Unpin(); err != nil {
		return fmt.Errorf("unpin %s: %w", path, err)
	}
	return nil
}
