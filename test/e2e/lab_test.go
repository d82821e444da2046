package e2e

// director lab, as a newcomer runs it: up (the split), failover (the
// blackout), down (nothing left behind).

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/testenv"
)

func TestLabUpFailoverDown(t *testing.T) {
	testenv.RequirePrivileged(t)
	bin := directorBin(t)
	prefix := lab.UniquePrefix()
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"lab"}, append(args, "--prefix", prefix)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("director lab %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { // also after a failure; removing a removed lab is no error
		if out, err := exec.Command(bin, "lab", "down", "--prefix", prefix).CombinedOutput(); err != nil {
			t.Errorf("director lab down: %v\n%s", err, out)
		}
	})
	servers := countProcs("serve-http")

	out := run("up", "--fast")
	if !strings.Contains(out, "web1 30, web2 10") {
		t.Errorf("lab up: no 30/10 split in\n%s", out)
	}
	out = run("status")
	if !strings.Contains(out, "floating addresses on lb1") {
		t.Errorf("lab status:\n%s", out)
	}
	out = run("failover")
	m := regexp.MustCompile(`client blackout: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("lab failover printed no blackout:\n%s", out)
	}
	b, err := time.ParseDuration(m[1])
	if err != nil || b <= 0 || b > 500*time.Millisecond+time.Second+500*time.Millisecond {
		t.Errorf("lab failover blackout %s, want within deadtime (500ms) + 1s (+0.5s margin)\n%s", m[1], out)
	}
	// With conntrack sync every established connection survives (the
	// count checks the same connection answers, not a reconnection).
	if !strings.Contains(out, "established connections that survived the failover: 20 of 20") {
		t.Errorf("lab failover: want 20 of 20 established connections surviving (conntrack sync):\n%s", out)
	}
	run("down")

	if names, _ := filepath.Glob(filepath.Join(lab.NetnsDir, prefix+"-*")); len(names) != 0 {
		t.Errorf("namespaces left: %v", names)
	}
	for _, n := range []string{"lb1", "lb2"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/bpf/director", prefix+"-"+n)); !os.IsNotExist(err) {
			t.Errorf("pinned state of %s left (%v)", n, err)
		}
	}
	if _, err := os.Stat(filepath.Join("/run/director-lab", prefix)); !os.IsNotExist(err) {
		t.Errorf("lab files left (%v)", err)
	}
	if n := countProcs("/run/director-lab/" + prefix + "/"); n != 0 {
		t.Errorf("%d director processes of the lab left", n)
	}
	if n := countProcs("serve-http"); n != servers {
		t.Errorf("%d lab web servers running after down, %d before up", n, servers)
	}
}

// countProcs counts processes whose command line contains s.
func countProcs(s string) int {
	n := 0
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			n++
		}
	}
	return n
}
