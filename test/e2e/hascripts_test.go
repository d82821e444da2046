package e2e

// End-to-end tests of script resources and notify hooks: files written by
// the scripts show what ran, where, in which order, and that a script
// resource that fails (or hangs past its timeout) releases the group to
// the peer instead of leaving it half held.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
)

// scriptPair starts the pair with a script resource and a notify hook
// writing to files in dir; lb1's resource script is lb1Script (a shell
// body) if not empty.
func scriptPair(t *testing.T, dir, lb1Script, lb1Timeout string) *haPair {
	t.Helper()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ok := write("resource.sh", `echo "$1 $2" >> "`+dir+`/resource-$1.log"; echo "resource $2 on $1"`+"\n")
	bad := ok
	if lb1Script != "" {
		bad = write("resource-lb1.sh", `echo "$1 $2" >> "`+dir+`/resource-$1.log"`+"\n"+lb1Script)
	}
	notify := write("notify.sh", `echo "$1 $2 [$3] env=$DIRECTOR_HA_STATE/$DIRECTOR_HA_GROUP" >> "`+dir+`/notify-$DIRECTOR_HA_NODE.log"`+"\n")
	return startPairMod(t, haTimers{100 * time.Millisecond, 500 * time.Millisecond}, true, func(c *lab.PairConfig) {
		script, node, timeout := ok, "lb2", "5s"
		if strings.HasSuffix(c.Node, "-lb1") {
			script, node, timeout = bad, "lb1", lb1Timeout
		}
		c.Resources = "    name: web\n    scripts:\n      - {path: " + script + ", args: [" + node + "], timeout: " + timeout + "}\n"
		c.HAExtra = "  notify: {path: " + notify + ", timeout: 5s}\n"
	})
}

// readLines reads a log file written by the scripts ("" if absent).
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

// waitLines polls until path has want lines (each with spaces as "_").
func waitLines(t *testing.T, path string, want []string, within time.Duration) {
	t.Helper()
	waitLinesFrom(t, path, want, false, within)
}

// waitLinesFrom is waitLines, want being only the first lines if prefix.
func waitLinesFrom(t *testing.T, path string, want []string, prefix bool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := readLines(t, path)
		if prefix && len(got) > len(want) {
			got = got[:len(want)]
		}
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:\n%s\nwant:\n%s", filepath.Base(path), strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestHAScriptResourceAndNotify: lb1 acquires: its script resource is
// started after the addresses and the notify hook sees every transition
// with the state, the group and the reason; a clean stop of lb1 stops its
// script and starts lb2's.
func TestHAScriptResourceAndNotify(t *testing.T) {
	dir := t.TempDir()
	p := scriptPair(t, dir, "", "5s")
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	waitLines(t, filepath.Join(dir, "resource-lb1.log"), []string{"lb1_start"}, 5*time.Second)
	notify1 := filepath.Join(dir, "notify-"+p.names[lab.LB1]+".log")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(strings.Join(readLines(t, notify1), " "), "active_web") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
	n1 := readLines(t, notify1)
	if len(n1) < 2 || !strings.HasPrefix(n1[0], "acquiring_web_[") || !strings.HasSuffix(n1[0], "env=acquiring/web") ||
		!strings.HasPrefix(n1[len(n1)-1], "active_web_[addresses_up]") {
		t.Fatalf("lb1's notify hook saw %q, want acquiring then active, with the group and reason", n1)
	}

	if out, err := p.dirs[lab.LB1].CLI("stop"); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	p.waitHolders([]string{lab.LB2}, 5*time.Second)
	waitLines(t, filepath.Join(dir, "resource-lb2.log"), []string{"lb2_start"}, 5*time.Second)
	waitLines(t, filepath.Join(dir, "resource-lb1.log"), []string{"lb1_start", "lb1_stop"}, 5*time.Second)
	n1 = readLines(t, notify1)
	if last := n1[len(n1)-1]; !strings.HasPrefix(last, "stopped_web_") {
		t.Errorf("lb1's last notification %q, want stopped", last)
	}
	st := p.dirs[lab.LB2].MustStatus().HA
	if st.Group != "web" || st.Scripts.Runs != 1 || st.Scripts.Failures != 0 || st.Notify.Runs < 3 {
		t.Errorf("lb2's status: group %q, scripts %+v, notify %+v", st.Group, st.Scripts, st.Notify)
	}
	t.Logf("lb1 notified: %q", n1)
}

// TestHAScriptResourceFails: lb1's script resource fails to start (exit
// 1), then, in a second run, hangs past its timeout: each time lb1
// stops what it started, releases the addresses and lb2 takes the group;
// the failures are counted and the notify hook saw the release.
func TestHAScriptResourceFails(t *testing.T) {
	for _, c := range []struct{ name, body, timeout string }{
		{"exit 1", "[ \"$2\" = start ] && exit 1\nexit 0\n", "5s"},
		{"hangs", "[ \"$2\" = start ] && sleep 30\nexit 0\n", "300ms"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := scriptPair(t, dir, c.body, c.timeout)
			p.waitHolders([]string{lab.LB2}, 15*time.Second)
			p.waitState(lab.LB2, "active", 5*time.Second)
			// lb1 tries again after its backoff, as long as it is the owner.
			waitLinesFrom(t, filepath.Join(dir, "resource-lb1.log"), []string{"lb1_start", "lb1_stop"}, true, 5*time.Second)
			waitLines(t, filepath.Join(dir, "resource-lb2.log"), []string{"lb2_start"}, 5*time.Second)
			st := p.dirs[lab.LB1].MustStatus().HA
			if st.Scripts.Failures < 1 || st.State != "standby" {
				t.Errorf("lb1 after its script failed: state %s, scripts %+v", st.State, st.Scripts)
			}
			n1 := strings.Join(readLines(t, filepath.Join(dir, "notify-"+p.names[lab.LB1]+".log")), "\n")
			if !strings.Contains(n1, "releasing_web_[acquire_failed") {
				t.Errorf("lb1's notify hook did not see the failed acquisition's release:\n%s", n1)
			}
			// lb2 keeps the group: lb1 tries again after a backoff
			// (initdead, doubling), adding the addresses while lb2 still
			// forwards and removing them when its script fails again.
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
				if !p.holds(lab.LB2, lab.VIP, lab.PubIf) || !p.holds(lab.LB2, lab.Gateway, lab.IntIf) || p.haState(lab.LB2) != "active" {
					t.Fatalf("lb2 let the group go while lb1's script fails: holders %v", p.holders())
				}
				time.Sleep(20 * time.Millisecond) // sampling a state that must not change
			}
		})
	}
}

// TestHAScriptMissing: a script resource that does not exist keeps the
// daemon from starting, naming the configuration line and the file.
func TestHAScriptMissing(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "authkey")
	if err := os.WriteFile(key, []byte("a lab pair secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := lab.PairConfig{Node: "sm-lb1", Peer: "sm-lb2", Owner: "sm-lb1", Socket: filepath.Join(dir, "s.sock"), KeyFile: key,
		Keepalive: time.Second, Deadtime: 5 * time.Second, AutoFailback: true,
		Resources: "    scripts: [{path: " + filepath.Join(dir, "nope.sh") + "}]\n"}
	cfg := filepath.Join(dir, "director.yaml")
	if err := os.WriteFile(cfg, []byte(c.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("unshare", "--net", directorBin(t), "run", "--config", cfg).CombinedOutput()
	if err == nil {
		t.Fatal("director run started with a missing script resource")
	}
	if !strings.Contains(string(out), "nope.sh") || !strings.Contains(string(out), "line ") {
		t.Errorf("error does not name the script and its line:\n%s", out)
	}
}
