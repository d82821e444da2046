package loader

// Loader tests against the real kernel: a private network namespace with a
// veth pair to attach to, and a node name of the test's own so that the
// pinned state under /sys/fs/bpf/director never collides with anything.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/test/testenv"
)

// inNetns runs fn on a thread inside a new network namespace holding a
// veth pair a0/a1, both up. The thread is never returned to the pool.
func inNetns(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	var setupErr error
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.New()
		if err != nil {
			setupErr = err
			return
		}
		defer func() { _ = ns.Close() }()
		la := netlink.NewLinkAttrs()
		la.Name = "a0"
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "a1"}); err != nil {
			setupErr = err
			return
		}
		for _, n := range []string{"a0", "a1"} {
			l, err := netlink.LinkByName(n)
			if err == nil {
				err = netlink.LinkSetUp(l)
			}
			if err != nil {
				setupErr = err
				return
			}
		}
		fn()
	}()
	<-done
	if setupErr != nil {
		t.Fatalf("set up namespace: %v", setupErr)
	}
}

// cleanupNode removes node's pinned state at the test's end.
func cleanupNode(t *testing.T, node string) {
	t.Cleanup(func() {
		if err := Remove("", node); err != nil {
			t.Errorf("remove pinned state of %s: %v", node, err)
		}
	})
}

func testNode(t *testing.T) string {
	return fmt.Sprintf("test-%s-%d", t.Name(), os.Getpid())
}

func TestNodeNames(t *testing.T) {
	for _, bad := range []string{"", "a/b", "a.b", "..", "_tmp_x"} {
		if checkNode(bad) == nil {
			t.Errorf("node name %q accepted", bad)
		}
	}
	if err := checkNode("lb1"); err != nil {
		t.Error(err)
	}
}

func TestOpenAdoptRemove(t *testing.T) {
	testenv.RequirePrivileged(t)
	node := testNode(t)
	cleanupNode(t, node)
	inNetns(t, func() {
		opts := Options{Node: node, Interfaces: []string{"a0"}, Mode: ModeNative, FlowTableSize: 1024}
		d, err := Open(opts)
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		if d.Adopted {
			t.Error("fresh state reported as adopted")
		}
		if len(d.Attachments) != 1 || d.Attachments[0].Mode != "xdp native" {
			t.Errorf("attachments %+v, want a0 in xdp native mode", d.Attachments)
		}
		for _, name := range []string{"flows", "services", "reals", "schedule", "config", "meta", "link_a0"} {
			if _, err := os.Stat(filepath.Join(d.Dir(), name)); err != nil {
				t.Errorf("pin %s: %v", name, err)
			}
		}
		for _, sc := range []string{"forwarding", "accept_local"} {
			if v, _ := os.ReadFile(sysctlPath("a0", sc)); string(v) != "1\n" {
				t.Errorf("net.ipv4.conf.a0.%s = %q after Open, want 1", sc, v)
			}
		}
		if hz, err := d.Maps.HZ(); err != nil || hz == 0 {
			t.Errorf("HZ not recorded: %d, %v", hz, err)
		}
		k := bpf.FlowKey{Saddr: 1, Daddr: 2, Sport: 3, Dport: 4, Proto: bpf.ProtoTCP}
		if err := d.Maps.PutFlow(k, bpf.Flow{Dir: bpf.DirForward, Timeout: 1 << 40}); err != nil {
			t.Error(err)
		}

		// A second control plane for the same node is refused.
		if _, err := Open(opts); !errors.Is(err, ErrBusy) {
			t.Errorf("second open: %v, want ErrBusy", err)
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}

		// Closing keeps forwarding: the program stays attached.
		if !attached(t, "a0") {
			t.Error("program detached by Close")
		}

		// Reopening adopts the same maps: the flow is still there.
		d2, err := Open(opts)
		if err != nil {
			t.Errorf("reopen: %v", err)
			return
		}
		if !d2.Adopted {
			t.Error("reopen did not adopt")
		}
		if _, ok, err := d2.Maps.LookupFlow(k); err != nil || !ok {
			t.Errorf("flow lost across reopen (found %v, %v)", ok, err)
		}
		if err := d2.Close(); err != nil {
			t.Error(err)
		}

		// Other map sizes cannot adopt this state: a clear error.
		bad := opts
		bad.FlowTableSize = 2048
		if _, err := Open(bad); !errors.Is(err, ErrIncompatible) {
			t.Errorf("open with another flow table size: %v, want ErrIncompatible", err)
		}

		// Nor can another ABI.
		m, err := ebpf.LoadPinnedMap(filepath.Join(d.Dir(), "meta"), nil)
		if err != nil {
			t.Error(err)
			return
		}
		if err := m.Put(uint32(0), bpf.StateMeta{Abi: bpf.ABI + 1}); err != nil {
			t.Error(err)
		}
		if _, err := Open(opts); !errors.Is(err, ErrIncompatible) {
			t.Errorf("open over another ABI: %v, want ErrIncompatible", err)
		}
		if err := m.Put(uint32(0), bpf.StateMeta{Abi: bpf.ABI}); err != nil {
			t.Error(err)
		}
		_ = m.Close()

		// Removal: detached, nothing left.
		if err := Remove("", node); err != nil {
			t.Errorf("remove: %v", err)
		}
		if _, err := os.Stat(d.Dir()); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Remove (%v)", d.Dir(), err)
		}
		if attached(t, "a0") {
			t.Error("program still attached after Remove")
		}
	})
}

func TestRemoveResetsAcceptLocal(t *testing.T) {
	testenv.RequirePrivileged(t)
	node := testNode(t)
	cleanupNode(t, node)
	inNetns(t, func() {
		d, err := Open(Options{Node: node, Interfaces: []string{"a0"}, FlowTableSize: 1024})
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		if err := d.Remove(); err != nil {
			t.Error(err)
		}
		if v, _ := os.ReadFile(sysctlPath("a0", "accept_local")); string(v) != "0\n" {
			t.Errorf("accept_local = %q after Remove, want 0", v)
		}
	})
}

func TestOpenForcedGenericAndStaleLinks(t *testing.T) {
	testenv.RequirePrivileged(t)
	node := testNode(t)
	cleanupNode(t, node)
	inNetns(t, func() {
		d, err := Open(Options{Node: node, Interfaces: []string{"a0", "a1"}, Mode: ModeGeneric, FlowTableSize: 1024})
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		if d.Mode() != "xdp generic" {
			t.Errorf("mode %q, want xdp generic", d.Mode())
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		// Reopen on a0 only: the link on a1 is removed.
		d, err = Open(Options{Node: node, Interfaces: []string{"a0"}, Mode: ModeGeneric, FlowTableSize: 1024})
		if err != nil {
			t.Errorf("reopen: %v", err)
			return
		}
		defer func() {
			if err := d.Remove(); err != nil {
				t.Error(err)
			}
		}()
		if attached(t, "a1") {
			t.Error("a1 still has the program after it left the interface list")
		}
		if !attached(t, "a0") {
			t.Error("a0 lost the program")
		}
	})
}

func TestOpenErrors(t *testing.T) {
	testenv.RequirePrivileged(t)
	if _, err := Open(Options{Node: "../x", Interfaces: []string{"lo"}}); err == nil {
		t.Error("node name with a slash accepted")
	}
	if _, err := Open(Options{Node: "ok"}); err == nil {
		t.Error("no interface accepted")
	}
	node := testNode(t)
	cleanupNode(t, node)
	inNetns(t, func() {
		_, err := Open(Options{Node: node, Interfaces: []string{"nope0"}, FlowTableSize: 1024})
		if err == nil {
			t.Error("missing interface accepted")
		}
		// A failed first Open leaves no pinned state behind.
		if _, err := os.Stat(PinDir("", node)); !os.IsNotExist(err) {
			t.Errorf("pinned state left by a failed Open (%v)", err)
		}
	})
}

func attached(t *testing.T, ifname string) bool {
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Errorf("link %s: %v", ifname, err)
		return false
	}
	return l.Attrs().Xdp != nil && l.Attrs().Xdp.Attached
}

// tcState reads ifname's TC state.
func tcState(t *testing.T, ifname string) TCState {
	t.Helper()
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Fatalf("interface %s: %v", ifname, err)
	}
	s, err := ReadTCState(iface.Index)
	if err != nil {
		t.Fatalf("read TC state of %s: %v", ifname, err)
	}
	return s
}

// haveTCX says whether the kernel has TCX (6.6 and later): a TCX query is
// refused with EINVAL before.
func haveTCX(t *testing.T) bool {
	_, err := link.QueryPrograms(link.QueryOptions{Target: 1, Attach: ebpf.AttachTCXIngress})
	return err == nil
}

// TestOpenTCModes walks one node through every mode change an operator
// can make with a restart: TCX, XDP, clsact, TCX again, then removal. At
// each step exactly one hook carries the program, and what the director
// added is gone afterwards. Without TCX (kernels before 6.6) the TCX steps
// are left out and tc_attach auto must land on clsact.
func TestOpenTCModes(t *testing.T) {
	testenv.RequirePrivileged(t)
	tcx := haveTCX(t)
	node := testNode(t)
	cleanupNode(t, node)
	inNetns(t, func() {
		open := func(mode Mode, how string) *Dataplane {
			t.Helper()
			d, err := Open(Options{Node: node, Interfaces: []string{"a0"}, Mode: mode, TCAttach: how, FlowTableSize: 1024})
			if err != nil {
				t.Fatalf("open (mode %d, tc %q): %v", mode, how, err)
			}
			return d
		}
		expect := func(step, mode string, xdp bool, tcx int, filter bool) {
			t.Helper()
			s := tcState(t, "a0")
			if attached(t, "a0") != xdp || s.TCXPrograms != tcx || s.ClsactFilter != filter {
				t.Errorf("%s: xdp %v, tcx programs %d, clsact filter %v; want %v, %d, %v",
					step, attached(t, "a0"), s.TCXPrograms, s.ClsactFilter, xdp, tcx, filter)
			}
			if mode != "" {
				if _, err := os.Stat(filepath.Join(PinDir("", node), map[string]string{
					ModeNameTCX: "tcx_a0", ModeNameClsact: "clsact_a0", ModeNameNative: "link_a0"}[mode])); err != nil {
					t.Errorf("%s: pin of %s: %v", step, mode, err)
				}
			}
		}

		k := bpf.FlowKey{Saddr: 1, Daddr: 2, Sport: 3, Dport: 4, Proto: bpf.ProtoTCP}
		if tcx {
			d := open(ModeTC, TCAttachTCX)
			if d.Mode() != ModeNameTCX || len(d.Fallbacks) != 0 {
				t.Errorf("mode %q, fallbacks %+v; want tc (tcx), none", d.Mode(), d.Fallbacks)
			}
			expect("tcx", ModeNameTCX, false, 1, false)
			if err := d.Maps.PutFlow(k, bpf.Flow{Dir: bpf.DirForward, Timeout: 1 << 40}); err != nil {
				t.Error(err)
			}
			if err := d.Close(); err != nil {
				t.Error(err)
			}
			expect("tcx after close", ModeNameTCX, false, 1, false)

			d = open(ModeTC, TCAttachTCX) // adopts: the link is updated, not doubled
			if !d.Adopted {
				t.Error("tcx reopen did not adopt")
			}
			expect("tcx adopted", ModeNameTCX, false, 1, false)
			if err := d.Close(); err != nil {
				t.Error(err)
			}
		} else if _, err := Open(Options{Node: node, Interfaces: []string{"a0"}, Mode: ModeTC, TCAttach: TCAttachTCX,
			FlowTableSize: 1024}); err == nil || !strings.Contains(err.Error(), "tc (tcx): ") {
			t.Errorf("forced tcx without TCX: %v, want an error naming tc (tcx)", err)
		}

		d := open(ModeNative, "")
		if err := d.Maps.PutFlow(k, bpf.Flow{Dir: bpf.DirForward, Timeout: 1 << 40}); err != nil {
			t.Error(err)
		}

		expect("xdp", ModeNameNative, true, 0, false)
		if err := d.Close(); err != nil {
			t.Error(err)
		}

		d = open(ModeTC, TCAttachClsact)
		if d.Mode() != ModeNameClsact {
			t.Errorf("mode %q, want tc (clsact)", d.Mode())
		}
		expect("clsact", ModeNameClsact, false, 0, true)
		if s := tcState(t, "a0"); !s.ClsactQdisc {
			t.Error("no clsact qdisc")
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		d = open(ModeTC, TCAttachClsact) // the filter is replaced in place
		expect("clsact adopted", ModeNameClsact, false, 0, true)
		if _, ok, err := d.Maps.LookupFlow(k); err != nil || !ok {
			t.Errorf("flow lost across mode changes (found %v, %v)", ok, err)
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}

		d = open(ModeTC, TCAttachAuto)
		if tcx { // TCX is preferred: the clsact filter goes
			expect("tc auto", ModeNameTCX, false, 1, false)
			if s := tcState(t, "a0"); s.ClsactQdisc {
				t.Error("clsact qdisc added by the director left behind")
			}
		} else {
			expect("tc auto", ModeNameClsact, false, 0, true)
			if len(d.Fallbacks) != 1 || d.Fallbacks[0].Mode != ModeNameTCX {
				t.Errorf("fallbacks %+v, want tc (tcx) refused", d.Fallbacks)
			}
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}

		if err := Remove("", node); err != nil {
			t.Errorf("remove: %v", err)
		}
		expect("removed", "", false, 0, false)
	})
}

// TestClsactKeepsForeignQdisc: a clsact qdisc that was there before the
// director stays after its removal.
func TestClsactKeepsForeignQdisc(t *testing.T) {
	testenv.RequirePrivileged(t)
	node := testNode(t)
	cleanupNode(t, node)
	inNetns(t, func() {
		iface, _ := net.InterfaceByName("a0")
		if err := netlink.QdiscAdd(clsactQdisc(iface.Index)); err != nil {
			t.Fatalf("add clsact: %v", err)
		}
		d, err := Open(Options{Node: node, Interfaces: []string{"a0"}, Mode: ModeTC, TCAttach: TCAttachClsact, FlowTableSize: 1024})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if err := d.Remove(); err != nil {
			t.Error(err)
		}
		if s := tcState(t, "a0"); s.ClsactFilter || !s.ClsactQdisc {
			t.Errorf("after removal: filter %v, qdisc %v; want the foreign qdisc alone", s.ClsactFilter, s.ClsactQdisc)
		}
	})
}

// pretendNIC makes the test's veths pass for NICs where XDP is safe, for
// the tests of the auto order itself.
func pretendNIC(t *testing.T) {
	orig := xdpUnsafe
	t.Cleanup(func() { xdpUnsafe = orig })
	xdpUnsafe = func(string) string { return "" }
}

// TestAutoAvoidsXDPOnVeth: on a veth, auto goes to TC and says why XDP
// was not chosen; forcing XDP works, with a warning that names the two
// settings it needs.
func TestAutoAvoidsXDPOnVeth(t *testing.T) {
	testenv.RequirePrivileged(t)
	node := testNode(t)
	cleanupNode(t, node)
	inNetns(t, func() {
		d, err := Open(Options{Node: node, Interfaces: []string{"a0"}, FlowTableSize: 1024})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		// Then TCX, where the kernel has it (6.6 on), else clsact.
		if !strings.HasPrefix(d.Mode(), "tc") || len(d.Fallbacks) < 2 ||
			!strings.Contains(d.Fallbacks[0].Reason, "not chosen by auto: veth") ||
			!strings.Contains(d.Fallbacks[1].Reason, "not chosen by auto: veth") {
			t.Errorf("auto on a veth: %s %+v, want tc after xdp native and generic not chosen for the veth", d.Mode(), d.Fallbacks)
		}
		if len(d.Warnings) != 0 {
			t.Errorf("warnings %q without a forced mode", d.Warnings)
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}
		d, err = Open(Options{Node: node, Interfaces: []string{"a0"}, Mode: ModeNative, FlowTableSize: 1024})
		if err != nil {
			t.Fatalf("open forced: %v", err)
		}
		defer func() { _ = d.Close() }()
		if d.Mode() != "xdp native" {
			t.Errorf("forced xdp runs as %s", d.Mode())
		}
		w := strings.Join(d.Warnings, "\n")
		if !strings.Contains(w, "gro on") || !strings.Contains(w, "tx off") || !strings.Contains(w, "a0") {
			t.Errorf("forced xdp on a veth: warnings %q, want the GRO and checksum offload settings named", w)
		}
	})
}

// TestAutoFallsBackToTC makes XDP (and then TCX) refuse to attach, as a
// driver without XDP would: auto mode lands on TC and reports why each
// better mode was not used, in order.
func TestAutoFallsBackToTC(t *testing.T) {
	testenv.RequirePrivileged(t)
	node := testNode(t)
	cleanupNode(t, node)
	origXDP, origTCX := attachXDPLink, attachTCXLink
	t.Cleanup(func() { attachXDPLink, attachTCXLink = origXDP, origTCX })
	attachXDPLink = func(link.XDPOptions) (link.Link, error) {
		return nil, errors.New("injected: no XDP")
	}
	pretendNIC(t)
	inNetns(t, func() {
		d, err := Open(Options{Node: node, Interfaces: []string{"a0"}, FlowTableSize: 1024})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		got := fmt.Sprintf("%s %v", d.Mode(), d.Fallbacks)
		want := "tc (tcx) [{a0 xdp native attach XDP to a0: injected: no XDP false} {a0 xdp generic attach XDP to a0: injected: no XDP false}]"
		if !haveTCX(t) {
			want = "tc (clsact) [{a0 xdp native attach XDP to a0: injected: no XDP false} {a0 xdp generic attach XDP to a0: injected: no XDP false} " +
				"{a0 tc (tcx) attach TCX ingress to a0: tcx not supported (requires >= v6.6) false}]"
		}
		if got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		if s := tcState(t, "a0"); attached(t, "a0") || s.TCXPrograms+map[bool]int{true: 1}[s.ClsactFilter] != 1 {
			t.Error("want the TC program alone on a0")
		}
		if err := d.Close(); err != nil {
			t.Error(err)
		}

		attachTCXLink = func(link.TCXOptions) (link.Link, error) { return nil, errors.New("injected: no TCX") }
		if err := Remove("", node); err != nil {
			t.Fatal(err)
		}
		d, err = Open(Options{Node: node, Interfaces: []string{"a0"}, FlowTableSize: 1024})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer func() {
			if err := d.Remove(); err != nil {
				t.Error(err)
			}
		}()
		if d.Mode() != ModeNameClsact || len(d.Fallbacks) != 3 || d.Fallbacks[2].Mode != ModeNameTCX {
			t.Errorf("mode %q, fallbacks %+v; want tc (clsact) after three", d.Mode(), d.Fallbacks)
		}
	})
}

func TestFirstWorking(t *testing.T) {
	fail := func(msg string) func() (string, error) { return func() (string, error) { return "", errors.New(msg) } }
	ok := func(mode string) func() (string, error) { return func() (string, error) { return mode, nil } }
	mode, fb, err := firstWorking("e0", []attempt{{"a", fail("no a")}, {"b", ok("b!")}, {"c", fail("unused")}})
	if err != nil || mode != "b!" || len(fb) != 1 || fb[0] != (Fallback{Interface: "e0", Mode: "a", Reason: "no a"}) {
		t.Errorf("got %q %+v %v", mode, fb, err)
	}
	skip := func() (string, error) { return "", fmt.Errorf("%w: veth", errNotChosen) }
	_, fb, err = firstWorking("e0", []attempt{{"a", skip}, {"b", fail("no b")}, {"c", ok("c!")}})
	if err != nil || len(fb) != 2 || !fb[0].NotChosen || fb[1].NotChosen {
		t.Errorf("a mode auto passes over is marked NotChosen, a failure is not: %+v %v", fb, err)
	}
	_, _, err = firstWorking("e0", []attempt{{"a", fail("no a")}, {"b", fail("no b")}})
	if err == nil || err.Error() != "no data plane attaches to e0: a: no a; b: no b" {
		t.Errorf("all failed: %v", err)
	}
	_, _, err = firstWorking("e0", []attempt{{"a", fail("no a")}})
	if err == nil || err.Error() != "a: no a" {
		t.Errorf("one failed: %v", err)
	}
}
