// The VM's smoke tests: the guest is the kernel the VM tests are for, with
// IPVS usable through github.com/moby/ipvs, the XDP data plane loading on
// a veth, the legacy TC modules present and a namespace lab working.

package vmtests

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/director-lb/director/loader"
	"github.com/director-lb/director/test/lab"
)

func TestKernelIs61(t *testing.T) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	if !strings.HasPrefix(b.String(), "6.1.") {
		t.Fatalf("kernel release %q, want Debian's 6.1", b.String())
	}
	t.Logf("kernel %s", b.String())
}

// TestModulesLoaded: what the VM's tests rely on was loaded by the guest's
// init (modprobe with the extracted tree's modules.dep and softdeps).
func TestModulesLoaded(t *testing.T) {
	for _, m := range []string{
		"ip_vs", "ip_vs_rr", "ip_vs_wrr", "nf_conntrack", "nf_defrag_ipv4", "nf_defrag_ipv6",
		"libcrc32c", "crc32c_generic", "veth", "bridge", "sch_ingress", "cls_bpf",
	} {
		if _, err := os.Stat("/sys/module/" + m); err != nil {
			t.Errorf("module %s not loaded: %v", m, err)
		}
	}
}

// namedNetns creates a network namespace /run/netns/<name> with its
// loopback up, removed at the end of the test, without moving the caller's
// thread into it. IPVS refuses a real server whose address type the
// namespace cannot tell (no local routing table yet): the loopback gives
// it one.
func namedNetns(t *testing.T, name string) string {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.NewNamed(name)
		if err != nil {
			errc <- err
			return
		}
		defer func() { _ = ns.Close() }()
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Error(err)
		}
	})
	return "/run/netns/" + name
}

// TestIPVSService creates an IPVS service with two real servers through
// moby/ipvs, in a namespace of its own, and reads it back.
func TestIPVSService(t *testing.T) {
	h, err := ipvs.New(namedNetns(t, fmt.Sprintf("vmt-ipvs-%d", os.Getpid())))
	if err != nil {
		t.Fatalf("ipvs handle: %v", err)
	}
	defer h.Close()
	svc := &ipvs.Service{
		Address: net.ParseIP("192.168.56.10").To4(), Port: 80, Protocol: syscall.IPPROTO_TCP,
		AddressFamily: syscall.AF_INET, SchedName: ipvs.WeightedRoundRobin, Netmask: 0xffffffff,
	}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("new service: %v", err)
	}
	for _, d := range []struct {
		ip     string
		weight int
	}{{"192.168.200.11", 3}, {"192.168.200.12", 1}} {
		if err := h.NewDestination(svc, &ipvs.Destination{
			Address: net.ParseIP(d.ip).To4(), Port: 80, Weight: d.weight,
			ConnectionFlags: ipvs.ConnectionFlagMasq, AddressFamily: syscall.AF_INET,
		}); err != nil {
			t.Fatalf("new destination %s: %v", d.ip, err)
		}
	}
	svcs, err := h.GetServices()
	if err != nil {
		t.Fatalf("get services: %v", err)
	}
	if len(svcs) != 1 || !svcs[0].Address.Equal(svc.Address) || svcs[0].Port != 80 || svcs[0].SchedName != "wrr" {
		t.Fatalf("services read back: %+v", svcs)
	}
	dsts, err := h.GetDestinations(svcs[0])
	if err != nil {
		t.Fatalf("get destinations: %v", err)
	}
	got := map[string]int{}
	for _, d := range dsts {
		if d.ConnectionFlags&ipvs.ConnectionFlagFwdMask != ipvs.ConnectionFlagMasq {
			t.Errorf("destination %s: forwarding flags %#x, want masquerade", d.Address, d.ConnectionFlags)
		}
		got[fmt.Sprintf("%s:%d", d.Address, d.Port)] = d.Weight
	}
	want := map[string]int{"192.168.200.11:80": 3, "192.168.200.12:80": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("destinations read back %v, want %v", got, want)
	}
	if err := h.DelService(svc); err != nil {
		t.Fatalf("delete service: %v", err)
	}
}

// TestXDPAttaches loads the data plane of bpf/ and attaches it to a veth in
// a namespace of its own.
func TestXDPAttaches(t *testing.T) {
	if err := loader.Probe(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	node := fmt.Sprintf("vmt-xdp-%d", os.Getpid())
	t.Cleanup(func() {
		if err := loader.Remove("", node); err != nil {
			t.Error(err)
		}
	})
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		errc <- func() error {
			ns, err := netns.New()
			if err != nil {
				return err
			}
			defer func() { _ = ns.Close() }()
			la := netlink.NewLinkAttrs()
			la.Name = "a0"
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: "a1"}); err != nil {
				return fmt.Errorf("add veth: %w", err)
			}
			for _, n := range []string{"a0", "a1"} {
				l, err := netlink.LinkByName(n)
				if err == nil {
					err = netlink.LinkSetUp(l)
				}
				if err != nil {
					return fmt.Errorf("veth %s up: %w", n, err)
				}
			}
			d, err := loader.Open(loader.Options{Node: node, Interfaces: []string{"a0"}})
			if err != nil {
				return fmt.Errorf("open data plane: %w", err)
			}
			t.Logf("attached: %s", d.Mode())
			if err := d.Close(); err != nil {
				return err
			}
			return loader.Remove("", node)
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestLabBuilds builds the seed's namespace lab and gets an HTTP answer
// from web1 to lb1 over the internal switch.
func TestLabBuilds(t *testing.T) {
	start := time.Now()
	l, err := lab.New(lab.Options{})
	if err != nil {
		t.Fatalf("build lab: %v", err)
	}
	defer func() { _ = l.Close() }()
	t.Logf("lab %s built in %v", l.Prefix(), time.Since(start).Round(time.Millisecond))
	if _, err := l.ServeHTTP(lab.Web1, ":80"); err != nil {
		t.Fatal(err)
	}
	resp, err := l.HTTPClient(lab.LB1, false).Get("http://" + lab.Web1Addr + "/")
	if err != nil {
		t.Fatalf("lb1 -> web1: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if strings.TrimSpace(string(body)) != lab.Web1 {
		t.Fatalf("lb1 -> web1 answered %q", body)
	}
}

// TestModuleAutoload: a module the kernel asks for on demand is loaded by
// the host's modprobe from the 6.1 tree (the guest init points
// /proc/sys/kernel/modprobe at it). IPVS loads a persistence engine that
// way; the sip one is not in the preloaded set.
func TestModuleAutoload(t *testing.T) {
	if _, err := os.Stat("/sys/module/ip_vs_pe_sip"); err == nil {
		t.Fatal("ip_vs_pe_sip already loaded: the test would prove nothing")
	}
	h, err := ipvs.New(namedNetns(t, fmt.Sprintf("vmt-pe-%d", os.Getpid())))
	if err != nil {
		t.Fatalf("ipvs handle: %v", err)
	}
	defer h.Close()
	svc := &ipvs.Service{
		Address: net.ParseIP("192.168.56.10").To4(), Port: 5060, Protocol: syscall.IPPROTO_UDP,
		AddressFamily: syscall.AF_INET, SchedName: ipvs.RoundRobin, Netmask: 0xffffffff,
		Flags: 0x1 /* IP_VS_SVC_F_PERSISTENT */, Timeout: 60, PEName: "sip",
	}
	if err := h.NewService(svc); err != nil {
		t.Fatalf("new service with persistence engine sip: %v", err)
	}
	defer func() {
		if err := h.DelService(svc); err != nil {
			t.Error(err)
		}
	}()
	if _, err := os.Stat("/sys/module/ip_vs_pe_sip"); err != nil {
		t.Fatalf("ip_vs_pe_sip not loaded on demand: %v", err)
	}
}
