package e2e

// director import on the seed's own files runs the seed's pair: each
// node's configuration is imported on that node (its addresses given as
// --net, as the host's interfaces would give them), and the two
// directors hold the floating addresses on lb1, forward the client to the
// real servers, and move both addresses to lb2 when lb1 fails.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/testenv"
)

func TestImportedSeedPair(t *testing.T) {
	testenv.RequirePrivileged(t)
	bin := directorBin(t)
	// The seed's files; authkeys copied with mode 0600 (git keeps no modes).
	etc := filepath.Join(t.TempDir(), "etc")
	for _, f := range []string{"ipvsadm.rules", "default/ipvsadm", "ha.d/ha.cf", "ha.d/authkeys", "ha.d/haresources"} {
		data, err := os.ReadFile(filepath.Join("../../control/importer/testdata/seed", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(etc, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l := newLab(t, lab.Options{})
	nets := map[string][]string{
		lab.LB1: {"enp0s3=" + lab.LB1PubAddr + "/24", "enp0s8=" + lab.LB1IntAddr + "/24"},
		lab.LB2: {"enp0s3=" + lab.LB2PubAddr + "/24", "enp0s8=" + lab.LB2IntAddr + "/24"},
	}
	// Node names of this run's own (pinned state and sockets are shared
	// with other runs): lb1 and lb2 renamed, nothing else touched.
	rename := regexp.MustCompile(`\blb([12])\b`)
	dirs := map[string]*runningDirector{}
	for _, n := range []string{lab.LB1, lab.LB2} {
		args := []string{"import", "--node", n}
		for _, nw := range nets[n] {
			args = append(args, "--net", nw)
		}
		args = append(args, filepath.Join(etc, "ipvsadm.rules"), filepath.Join(etc, "default/ipvsadm"),
			filepath.Join(etc, "ha.d/ha.cf"), filepath.Join(etc, "ha.d/authkeys"), filepath.Join(etc, "ha.d/haresources"))
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			t.Fatalf("director import on %s: %v", n, err)
		}
		socket := filepath.Join(t.TempDir(), "director.sock")
		cfg := rename.ReplaceAllString(string(out), l.Prefix()+"-lb$1") + "control_socket: " + socket + "\n"
		// labrun reads the node from the first line: move it there.
		nodeLine := regexp.MustCompile(`(?m)^node: \S+`)
		cfg = nodeLine.FindString(cfg) + "\n" + nodeLine.ReplaceAllString(cfg, "")
		dirs[n] = startDirectorIn(t, l, n, cfg, socket)
	}
	p := &haPair{t: t, l: l, dirs: dirs, names: map[string]string{lab.LB1: l.Prefix() + "-lb1", lab.LB2: l.Prefix() + "-lb2"}}
	p.waitHolders([]string{lab.LB1}, 30*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	counts, _ := split(t, l, "http://192.168.56.10/", 8)
	if counts["web1"] != 6 || counts["web2"] != 2 {
		t.Errorf("through the imported lb1: %v, want web1 6, web2 2 (wrr 3:1)", counts)
	}

	// lb1 fails: lb2 takes both addresses after the seed's deadtime (5 s).
	if err := l.SetLinks(lab.LB1, false); err != nil {
		t.Fatal(err)
	}
	took := p.waitHolds(lab.LB2, 15*time.Second)
	t.Logf("lb2 held the group %v after lb1 failed (deadtime 5s)", took)
	counts, _ = split(t, l, "http://192.168.56.10/", 4)
	if counts["web1"]+counts["web2"] != 4 {
		t.Errorf("through lb2 after the failover: %v", counts)
	}
}
