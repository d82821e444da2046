package e2e

// The data planes every forwarding test runs on: XDP, and the TC program
// attached by TCX and by a legacy clsact filter. The TCX run's lab leaves
// transmit checksum offload on, so that the TC program rewrites
// CHECKSUM_PARTIAL packets (GRO-merged ones included) as well as complete
// ones; the XDP data plane needs it off (see test/lab).

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/director-lb/director/loader"
	"github.com/director-lb/director/test/lab"
)

// plane is one data plane under test.
type plane struct {
	name     string // the subtest's name
	mode     loader.Mode
	tcAttach string
	want     string // the mode the loader reports
	txCsum   bool   // the lab keeps transmit checksum offload on
	// dataplane and tcAttachKey are the configuration file's keys.
	dataplane, tcAttachKey string
}

var planes = []plane{
	{name: "xdp", mode: loader.ModeNative, want: "xdp native", dataplane: "xdp"},
	{name: "tcx", mode: loader.ModeTC, tcAttach: loader.TCAttachTCX, want: "tc (tcx)", txCsum: true,
		dataplane: "tc", tcAttachKey: "tcx"},
	{name: "clsact", mode: loader.ModeTC, tcAttach: loader.TCAttachClsact, want: "tc (clsact)",
		dataplane: "tc", tcAttachKey: "clsact"},
}

// forEachPlane runs fn as one subtest per data plane.
func forEachPlane(t *testing.T, fn func(t *testing.T, pl plane)) {
	for _, pl := range planes {
		t.Run(pl.name, func(t *testing.T) { fn(t, pl) })
	}
}

// seedLabFor is seedLabWith with the plane's checksum offload setting.
func seedLabFor(t *testing.T, pl plane) *lab.Lab {
	t.Helper()
	return seedLabWith(t, lab.Options{TxChecksumOffload: pl.txCsum})
}

// startDirectorOn runs the control process on lb1 with the plane's mode and
// checks that the plane's hook, and only it, carries the program.
func startDirectorOn(t *testing.T, l *lab.Lab, pl plane, node string) *controlProc {
	t.Helper()
	p := startDirectorSpec(t, l, node, pl.mode, pl.tcAttach)
	if p.ready.Mode != pl.want {
		t.Errorf("mode %q, want %s", p.ready.Mode, pl.want)
	}
	expectPlane(t, l, pl)
	return p
}

// hooks is what of the director is attached to an interface of lb1.
type hooks struct {
	xdp bool
	tc  loader.TCState
}

func lb1Hooks(t *testing.T, l *lab.Lab, ifname string) hooks {
	t.Helper()
	var h hooks
	err := l.Do(lab.LB1, func() error {
		lk, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		h.xdp = lk.Attrs().Xdp != nil && lk.Attrs().Xdp.Attached
		iface, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		h.tc, err = loader.ReadTCState(iface.Index)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// expectPlane checks that on both of lb1's interfaces the program runs on
// the plane's hook and on no other.
func expectPlane(t *testing.T, l *lab.Lab, pl plane) {
	t.Helper()
	for _, ifname := range []string{"enp0s3", "enp0s8"} {
		h := lb1Hooks(t, l, ifname)
		want := hooks{}
		switch pl.want {
		case "tc (tcx)":
			want.tc.TCXPrograms = 1
		case "tc (clsact)":
			want.tc = loader.TCState{ClsactFilter: true, ClsactQdisc: true}
		default:
			want.xdp = true
		}
		if h != want {
			t.Errorf("%s: attached %+v, want %+v (%s only)", ifname, h, want, pl.want)
		}
	}
}

// expectNoHooks checks that nothing of the director is left on lb1's
// interfaces: no XDP program, no TCX program, no clsact filter or qdisc.
func expectNoHooks(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, ifname := range []string{"enp0s3", "enp0s8"} {
		if h := lb1Hooks(t, l, ifname); h != (hooks{}) {
			t.Errorf("%s: %+v left after removal", ifname, h)
		}
	}
}
