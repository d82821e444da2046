package loader

// Loader tests against the real kernel: a private network namespace with a
// veth pair to attach to, and a node name of the test's own so that the
// pinned state under /sys/fs/bpf/director never collides with anything.

import (
	"errors"
	"fmt"
	"github.com/director-lb/director/test/testenv"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/director-lb/director/bpf"
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
		defer ns.Close()
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
	t.Cleanup(func() { Remove("", node) })
	inNetns(t, func() {
		opts := Options{Node: node, Interfaces: []string{"a0"}, FlowTableSize: 1024}
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
		d.Close()

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
		d2.Close()

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
		m.Put(uint32(0), bpf.StateMeta{Abi: bpf.ABI + 1})
		if _, err := Open(opts); !errors.Is(err, ErrIncompatible) {
			t.Errorf("open over another ABI: %v, want ErrIncompatible", err)
		}
		m.Put(uint32(0), bpf.StateMeta{Abi: bpf.ABI})
		m.Close()

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
	t.Cleanup(func() { Remove("", node) })
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
	t.Cleanup(func() { Remove("", node) })
	inNetns(t, func() {
		d, err := Open(Options{Node: node, Interfaces: []string{"a0", "a1"}, Mode: ModeGeneric, FlowTableSize: 1024})
		if err != nil {
			t.Errorf("open: %v", err)
			return
		}
		if d.Mode() != "xdp generic" {
			t.Errorf("mode %q, want xdp generic", d.Mode())
		}
		d.Close()
		// Reopen on a0 only: the link on a1 is removed.
		d, err = Open(Options{Node: node, Interfaces: []string{"a0"}, Mode: ModeGeneric, FlowTableSize: 1024})
		if err != nil {
			t.Errorf("reopen: %v", err)
			return
		}
		defer d.Remove()
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
	t.Cleanup(func() { Remove("", node) })
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
