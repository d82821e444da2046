package loader

// The TC data plane: the same pipeline as the XDP program (bpf/tc_director.c)
// attached at an interface's TC ingress hook, for interfaces where XDP cannot
// attach. Two ways to attach it:
//
//   - TCX (kernel 6.6 and later): a bpf_link, pinned as tcx_<ifname> in the
//     node directory and switched to a new program atomically on adoption,
//     like the XDP link;
//   - legacy clsact: a clsact qdisc (added if missing) and a direct-action
//     BPF filter with the director's own priority and handle, replaced in
//     place on adoption. A filter is not a BPF object and cannot be pinned,
//     so the node directory holds a marker directory clsact_<ifname> whose
//     entries record the interface's index (ifindex_<n>) and whether the
//     director added the qdisc (qdisc): removal deletes the filter, and the
//     qdisc only if it is ours and holds no other filter.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TC attach methods (Options.TCAttach).
const (
	// TCAttachAuto uses TCX where the kernel has it, clsact otherwise.
	TCAttachAuto = "auto"
	// TCAttachTCX forces TCX links.
	TCAttachTCX = "tcx"
	// TCAttachClsact forces the legacy clsact qdisc and filter.
	TCAttachClsact = "clsact"
)

// Attachment modes, as Attachment.Mode and Fallback.Mode spell them.
const (
	ModeNameNative  = "xdp native"
	ModeNameGeneric = "xdp generic"
	ModeNameTCX     = "tc (tcx)"
	ModeNameClsact  = "tc (clsact)"
)

// The legacy filter's place on the ingress hook: a priority and handle of
// the director's own, so that its filter is found, replaced and deleted
// without touching anyone else's.
const (
	clsactPriority = 0xd1
	clsactHandle   = 0xd1
)

func tcxPath(dir, ifname string) string    { return filepath.Join(dir, "tcx_"+ifname) }
func clsactPath(dir, ifname string) string { return filepath.Join(dir, "clsact_"+ifname) }

// checkTCAttach validates Options.TCAttach.
func checkTCAttach(s string) error {
	switch s {
	case "", TCAttachAuto, TCAttachTCX, TCAttachClsact:
		return nil
	}
	return fmt.Errorf("invalid TC attach method %q: want auto, tcx or clsact", s)
}

// attachTCX switches the pinned TCX link of iface to the TC program, or
// makes and pins a new one.
func (d *Dataplane) attachTCX(iface *net.Interface) (string, error) {
	path := tcxPath(d.dir, iface.Name)
	prog := d.objs.TcDirector
	if l, err := link.LoadPinnedLink(path, nil); err == nil {
		info, ierr := l.Info()
		if ierr == nil && info.TCX() != nil && int(info.TCX().Ifindex) == iface.Index {
			if err := l.Update(prog); err != nil {
				_ = l.Close() // the link stays pinned, with the old program
				return "", fmt.Errorf("replace TCX program on %s: %w", iface.Name, err)
			}
			d.links = append(d.links, l)
			return ModeNameTCX, nil
		}
		// The interface was recreated: the old link is defunct. An
		// unpin that fails shows as the Pin error below.
		_ = l.Unpin()
		_ = l.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("open pinned link %s: %w", path, err)
	}
	l, err := attachTCXLink(link.TCXOptions{Interface: iface.Index, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		return "", fmt.Errorf("attach TCX ingress to %s: %w", iface.Name, err)
	}
	if err := l.Pin(path); err != nil {
		_ = l.Close() // detaches the link just made
		return "", fmt.Errorf("pin TCX link of %s: %w", iface.Name, err)
	}
	d.links = append(d.links, l)
	return ModeNameTCX, nil
}

// attachTCXLink is link.AttachTCX; tests replace it to make TCX fail.
var attachTCXLink = link.AttachTCX

func clsactFilter(ifindex, fd int) *netlink.BpfFilter {
	return &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: ifindex, Parent: netlink.HANDLE_MIN_INGRESS,
			Handle: clsactHandle, Priority: clsactPriority, Protocol: unix.ETH_P_ALL},
		Fd: fd, Name: "director", DirectAction: true,
	}
}

func clsactQdisc(ifindex int) *netlink.GenericQdisc {
	return &netlink.GenericQdisc{QdiscType: "clsact", QdiscAttrs: netlink.QdiscAttrs{LinkIndex: ifindex,
		Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT}}
}

// hasClsact reports whether ifindex has a clsact qdisc.
func hasClsact(ifindex int) (bool, error) {
	lk, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false, err
	}
	qs, err := netlink.QdiscList(lk)
	if err != nil {
		return false, fmt.Errorf("list qdiscs of %s: %w", lk.Attrs().Name, err)
	}
	for _, q := range qs {
		if q.Type() == "clsact" {
			return true, nil
		}
	}
	return false, nil
}

// clsactMarker is what a marker directory records.
type clsactMarker struct {
	ifindex int  // 0: unreadable
	qdisc   bool // the director added the clsact qdisc
}

func readClsactMarker(path string) clsactMarker {
	var m clsactMarker
	entries, _ := os.ReadDir(path)
	for _, e := range entries {
		if n, ok := strings.CutPrefix(e.Name(), "ifindex_"); ok {
			m.ifindex, _ = strconv.Atoi(n)
		}
		if e.Name() == "qdisc" {
			m.qdisc = true
		}
	}
	return m
}

// attachClsact adds (or replaces in place) the director's filter on the
// clsact ingress hook of iface, adding the qdisc if there is none.
func (d *Dataplane) attachClsact(iface *net.Interface) (string, error) {
	path := clsactPath(d.dir, iface.Name)
	m := readClsactMarker(path)
	if m.ifindex != iface.Index {
		// No marker, or one of a defunct interface of that name.
		if err := os.RemoveAll(path); err != nil {
			return "", fmt.Errorf("remove stale clsact marker %s: %w", path, err)
		}
		m = clsactMarker{}
	}
	have, err := hasClsact(iface.Index)
	if err != nil {
		return "", err
	}
	// The marker is written before the kernel is changed, so a crash
	// in between leaves at worst a marker for nothing, never a filter
	// nobody knows about.
	if err := os.MkdirAll(filepath.Join(path, "ifindex_"+strconv.Itoa(iface.Index)), 0o700); err != nil {
		return "", fmt.Errorf("record clsact filter of %s: %w", iface.Name, err)
	}
	if !have {
		if err := os.Mkdir(filepath.Join(path, "qdisc"), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("record clsact qdisc of %s: %w", iface.Name, err)
		}
		if err := netlink.QdiscAdd(clsactQdisc(iface.Index)); err != nil {
			err = fmt.Errorf("add clsact qdisc to %s: %w", iface.Name, err)
			if rerr := os.RemoveAll(path); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove clsact marker %s: %w", path, rerr))
			}
			return "", err
		}
	}
	if err := netlink.FilterReplace(clsactFilter(iface.Index, d.objs.TcDirector.FD())); err != nil {
		err = fmt.Errorf("add BPF filter to the clsact ingress of %s: %w", iface.Name, err)
		if rerr := removeClsact(path, iface.Name); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return "", err
	}
	return ModeNameClsact, nil
}

// removeClsact deletes the director's filter recorded by the marker at
// path, and the qdisc if the director added it and it holds no other
// filter, then the marker. An interface that no longer exists, or not in
// the caller's network namespace (same index and name), is left alone.
func removeClsact(path, ifname string) error {
	m := readClsactMarker(path)
	if iface, err := net.InterfaceByIndex(m.ifindex); err == nil && iface.Name == ifname {
		err := netlink.FilterDel(clsactFilter(m.ifindex, 0))
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("delete the BPF filter of %s: %w", ifname, err)
		}
		if m.qdisc && clsactEmpty(m.ifindex) {
			if err := netlink.QdiscDel(clsactQdisc(m.ifindex)); err != nil && !errors.Is(err, unix.ENOENT) &&
				!errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("delete the clsact qdisc of %s: %w", ifname, err)
			}
		}
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// clsactEmpty reports whether ifindex's clsact hooks hold no filter.
func clsactEmpty(ifindex int) bool {
	lk, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false
	}
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		fs, err := netlink.FilterList(lk, parent)
		if err != nil || len(fs) > 0 {
			return false
		}
	}
	return true
}

// TCState says what of the director's TC data plane an interface carries,
// read from the kernel: programs on its TCX ingress, and whether the
// director's clsact filter and a clsact qdisc are there. For tests and
// diagnostics.
type TCState struct {
	TCXPrograms  int
	ClsactFilter bool
	ClsactQdisc  bool
}

// ReadTCState reads the TC state of ifindex in the caller's namespace.
func ReadTCState(ifindex int) (TCState, error) {
	var s TCState
	res, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: ebpf.AttachTCXIngress})
	switch {
	case err == nil:
		s.TCXPrograms = len(res.Programs)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EINVAL):
		// No TCX in this kernel (before 6.6 the query is refused).
	default:
		return s, err
	}
	if s.ClsactQdisc, err = hasClsact(ifindex); err != nil || !s.ClsactQdisc {
		return s, err
	}
	lk, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return s, err
	}
	fs, err := netlink.FilterList(lk, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		return s, err
	}
	for _, f := range fs {
		a := f.Attrs()
		if a.Handle == clsactHandle && a.Priority == clsactPriority {
			s.ClsactFilter = true
		}
	}
	return s, nil
}
