package e2e

// The shipped systemd unit's capability set is enough: the pair runs with
// exactly the capabilities deploy/systemd/director.service leaves it
// (setpriv's bounding set, which for root is what systemd's
// CapabilityBoundingSet amounts to), and does its whole job.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/labrun"
)

// unitCapabilities reads CapabilityBoundingSet of the shipped unit, as
// setpriv's capability names (cap_net_admin -> net_admin).
func unitCapabilities(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/systemd/director.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapabilityBoundingSet="); ok {
			var out []string
			for _, c := range strings.Fields(v) {
				out = append(out, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
			}
			return out
		}
	}
	t.Fatal("the unit has no CapabilityBoundingSet")
	return nil
}

// TestPairWithUnitCapabilities: lb1 and lb2 with only the unit's
// capabilities load and attach the data plane, bind the heartbeat's port
// 694 on their interface, take the floating addresses with gratuitous ARP,
// forward the seed's 40 connections 30/10, and hand over on SIGTERM.
func TestPairWithUnitCapabilities(t *testing.T) {
	caps := unitCapabilities(t)
	l := newLab(t, lab.Options{})
	key := filepath.Join(t.TempDir(), "authkey")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrap := []string{"setpriv", "--bounding-set", "-all,+" + strings.Join(caps, ",+"), "--"}
	t.Logf("capabilities: %v", caps)
	names := map[string]string{lab.LB1: l.Prefix() + "-lb1", lab.LB2: l.Prefix() + "-lb2"}
	dirs := map[string]*labrun.Director{}
	for _, n := range []string{lab.LB1, lab.LB2} {
		peer := lab.LB2
		if n == lab.LB2 {
			peer = lab.LB1
		}
		socket := filepath.Join(t.TempDir(), "director.sock")
		cfg := lab.PairConfig{Node: names[n], Peer: names[peer], Owner: names[lab.LB1], Socket: socket, KeyFile: key,
			Keepalive: 100 * time.Millisecond, Deadtime: 500 * time.Millisecond, AutoFailback: true,
			ARPCount: 3, ARPInterval: 50 * time.Millisecond}.YAML()
		// XDP forced: auto takes TC on the lab's veths, and the
		// capabilities must be enough for XDP, what auto picks on a NIC.
		node, rest, _ := strings.Cut(cfg, "\n")
		cfg = node + "\ndataplane: xdp\n" + rest
		dirs[n] = labrun.Start(t, l, n, cfg, labrun.Options{Bin: directorBin(t), Socket: socket, Wrap: wrap})
	}
	p := &haPair{t: t, l: l}
	p.waitHolders([]string{lab.LB1}, 15*time.Second)
	if st := dirs[lab.LB1].MustStatus(); !strings.HasPrefix(st.Dataplane, "xdp") {
		t.Errorf("lb1 data plane %q, want xdp", st.Dataplane)
	}
	if out, err := l.Run(lab.LB1, "grep", "^Cap", "/proc/"+strconv.Itoa(dirs[lab.LB1].Cmd.Process.Pid)+"/status"); err == nil {
		t.Logf("lb1's daemon:\n%s", out)
	}
	counts, _ := split(t, l, "http://192.168.56.10/", 40)
	if counts["web1"] != 30 || counts["web2"] != 10 {
		t.Errorf("wrr 3:1 through lb1: %v, want 30/10", counts)
	}

	// A clean stop hands both addresses to lb2, which answers.
	if err := dirs[lab.LB1].Cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	took := p.waitHolders([]string{lab.LB2}, 15*time.Second)
	counts, _ = split(t, l, "http://192.168.56.10/", 40)
	if counts["web1"] != 30 || counts["web2"] != 10 {
		t.Errorf("wrr 3:1 through lb2: %v, want 30/10", counts)
	}
	t.Logf("lb2 took both addresses %v after lb1's stop; 40 connections through it: %v", took.Round(time.Millisecond), counts)

	// Nothing was refused on the way: a missing capability shows as an
	// error (gratuitous ARP, a sysctl, a socket option) or as a warning
	// saying the kernel refused (EPERM, EACCES). Other warnings (a health
	// check slow under load) are not this test's business.
	for _, n := range []string{lab.LB1, lab.LB2} {
		for _, line := range strings.Split(dirs[n].Log.String(), "\n") {
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "not permitted") ||
				strings.Contains(line, "permission denied") {
				t.Errorf("%s: %s", n, line)
			}
		}
	}
}
