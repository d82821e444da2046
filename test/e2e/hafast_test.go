package e2e

// End-to-end tests of the pair at keepalive 20 ms / deadtime 100 ms: the
// failover blackout (median of 5 failovers, a concurrent 20 ms client
// loop), and a soak of the active node under stress (its CPUs saturated by
// stress-ng, a SYN flood through it by hping3, bursts of heartbeat loss
// shorter than deadtime) that must cause no failover. The soak lasts
// HA_SOAK (a Go duration; 20s by default, 5m in make bench-ha). Timing
// here depends on the machine's load: the tests log uptime's load average
// with their figures.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/lab"
)

// fastTimers are the 20 ms / 100 ms.
var fastTimers = haTimers{20 * time.Millisecond, 100 * time.Millisecond}

// startFastPair starts the pair at fastTimers with 100 ms health checks.
func startFastPair(t *testing.T, extra func(node string) string) *haPair {
	t.Helper()
	return startPairMod(t, fastTimers, true, func(c *lab.PairConfig) {
		c.HealthInterval = 100 * time.Millisecond
		if extra != nil {
			c.HAExtra = extra(c.Node)
		}
	})
}

// loadAverage is uptime's load average, for the log.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// TestHAFailoverFast: at 20 ms / 100 ms, the median blackout of 5
// failovers of lb1 (links down) is at most 200 ms. Each time lb1 comes
// back and takes the group back; the failback's gaps are logged (at these
// timers a machine this busy also has false failovers: see the soak),
// TestHAFailbackHitless asserts them.
func TestHAFailoverFast(t *testing.T) {
	p := startFastPair(t, nil)
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	loop := p.l.StartConcurrentClientLoop()
	defer loop.Stop()
	if err := loop.WaitSuccesses(time.Time{}, 5, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var blackouts, failbacks []time.Duration
	for i := range 5 {
		t0 := time.Now()
		if err := p.l.SetLinks(lab.LB1, false); err != nil {
			t.Fatal(err)
		}
		p.waitHolds(lab.LB2, 5*time.Second)
		p.waitState(lab.LB2, "active", 5*time.Second)
		if err := loop.WaitSuccesses(time.Now(), 5, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		b, ok := loop.Blackout(t0)
		if !ok {
			t.Fatalf("failover %d: no answered connection before or after", i)
		}
		blackouts = append(blackouts, b)

		back := time.Now()
		if err := p.l.SetLinks(lab.LB1, true); err != nil {
			t.Fatal(err)
		}
		p.waitHolders([]string{lab.LB1}, 20*time.Second)
		p.waitState(lab.LB1, "active", 5*time.Second)
		p.waitState(lab.LB2, "standby", 5*time.Second)
		if err := loop.WaitSuccesses(time.Now(), 5, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		fb, stalled, _ := loop.Outage(back)
		failbacks = append(failbacks, fb)
		t.Logf("cycle %d: failover blackout %v, failback longest gap %v (without a failed connection: %v)", i, b, fb, stalled)
	}
	slices.Sort(blackouts)
	slices.Sort(failbacks)
	med := blackouts[len(blackouts)/2]
	t.Logf("20ms/100ms: failover blackout median %v (all %v); failback longest gap median %v, max %v; load %s",
		med, blackouts, failbacks[len(failbacks)/2], failbacks[len(failbacks)-1], loadAverage())
	if med > 200*time.Millisecond {
		t.Errorf("failover blackout median %v, want at most 200ms", med)
	}
}

// soakLoads are the loads of list (comma-separated among cpu, flood and
// loss), or of HA_SOAK_LOADS if set, to tell their effects apart.
func soakLoads(t *testing.T, list string) map[string]bool {
	if s, ok := os.LookupEnv("HA_SOAK_LOADS"); ok {
		list = s
	}
	out := map[string]bool{}
	for _, l := range strings.Split(list, ",") {
		if l != "cpu" && l != "flood" && l != "loss" && l != "" {
			t.Fatalf("soak loads: unknown load %q (cpu, flood, loss)", l)
		}
		out[l] = l != ""
	}
	return out
}

// heartbeatPayload is the size of a heartbeat from node naming owner, with
// sha256 (heartbeat/message.go: a 40-byte header, the names, a 32-byte MAC).
func heartbeatPayload(node, owner string) int { return 40 + len(node) + len(owner) + 32 }

// soakDuration is HA_SOAK, or 20 s.
func soakDuration(t *testing.T) time.Duration {
	if s := os.Getenv("HA_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("HA_SOAK=%q: %v", s, err)
		}
		return d
	}
	return 20 * time.Second
}

// TestHASoakUnderStress: at 20 ms / 100 ms, lb1 active, for HA_SOAK: every
// CPU saturated by stress-ng, a SYN flood from the client through lb1 to
// the VIP, and every 2 s a burst of heartbeat loss (lb2 drops lb1's
// heartbeats: 2 at 20 ms / 100 ms, a gap of 60 ms; HA_SOAK_TIMERS sets
// other timers): no transition on either node, lb1 holds the group
// throughout. The intervals between heartbeats each node heard are
// logged: the jitter.
//
// make test runs it at 100 ms / 500 ms: at 20 ms / 100 ms, stress-ng on
// both CPUs delays the daemons' threads by 130-350 ms at load 6-13 here
// (issue 14 left open for it; make bench-ha, DIRECTOR_HA_TARGETS=1, runs
// the 20 ms / 100 ms soak for 5 minutes).
func TestHASoakUnderStress(t *testing.T) {
	tm := haTimers{100 * time.Millisecond, 500 * time.Millisecond}
	if haTargets() {
		tm = fastTimers
	}
	soakScenario(t, tm, "cpu,loss")
}

// TestHASoakSYNFlood: the same soak with a SYN flood through lb1 too, at
// 100 ms / 500 ms. At 20 ms / 100 ms the flood is more than this lab
// absorbs: hping3, the two directors and the real servers share the
// machine's 2 CPUs, and the flood's softirq work delays heartbeats by
// 200-420 ms (no packet is dropped: /proc/net/softnet_stat shows
// squeezes, no drops), which a 100 ms deadtime cannot tell from a death.
// docs/ha.md has the figures.
func TestHASoakSYNFlood(t *testing.T) {
	soakScenario(t, haTimers{100 * time.Millisecond, 500 * time.Millisecond}, "cpu,flood,loss")
}

// soakScenario runs the soak at tm under the loads (a comma-separated
// list of cpu, flood and loss), or those of HA_SOAK_LOADS and the timers
// of HA_SOAK_TIMERS (keepalive/deadtime) when set.
func soakScenario(t *testing.T, tm haTimers, loadList string) {
	for _, tool := range []string{"stress-ng", "hping3", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (make deps-test installs it): %v", tool, err)
		}
	}
	if s := os.Getenv("HA_SOAK_TIMERS"); s != "" {
		k, d, _ := strings.Cut(s, "/")
		var err1, err2 error
		tm.keepalive, err1 = time.ParseDuration(k)
		tm.deadtime, err2 = time.ParseDuration(d)
		if err1 != nil || err2 != nil {
			t.Fatalf("HA_SOAK_TIMERS=%q: want keepalive/deadtime (20ms/100ms)", s)
		}
	}
	p := startPairMod(t, tm, true, func(c *lab.PairConfig) { c.HealthInterval = 100 * time.Millisecond })
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	soak := soakDuration(t)
	if os.Getenv("HA_SOAK_NICE") != "" {
		for _, n := range []string{lab.LB1, lab.LB2} {
			tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", p.dirs[n].Cmd.Process.Pid))
			for _, task := range tasks {
				_ = exec.Command("renice", "-n", os.Getenv("HA_SOAK_NICE"), "-p", filepath.Base(task)).Run()
			}
		}
	}
	before := map[string]uint64{}
	for _, n := range []string{lab.LB1, lab.LB2} {
		before[n] = p.dirs[n].MustStatus().HA.Transitions
	}

	ctx, cancel := context.WithTimeout(context.Background(), soak)
	defer cancel()
	secs := int((soak + time.Second) / time.Second)
	// Every CPU, in lb1's namespace (CPU is not namespaced: the whole
	// machine is saturated), bounded by --timeout and ctx.
	loads := soakLoads(t, loadList)
	var procs []*exec.Cmd
	defer func() {
		cancel()
		for _, c := range procs {
			_ = c.Wait() // killed by ctx: the exit status says nothing
		}
	}()
	if loads["cpu"] {
		procs = append(procs, exec.CommandContext(ctx, "ip", "netns", "exec", p.l.NetnsName(lab.LB1),
			"stress-ng", "--cpu", "0", "--timeout", strconv.Itoa(secs)+"s", "--quiet"))
	}
	if loads["flood"] {
		// A SYN flood to the VIP from an address no node has.
		procs = append(procs, exec.CommandContext(ctx, "ip", "netns", "exec", p.l.NetnsName(lab.Client),
			"timeout", strconv.Itoa(secs), "hping3", "-q", "-S", "--flood", "-p", "80", "-a", "192.168.56.200", lab.VIP))
	}
	for i, c := range procs {
		if err := c.Start(); err != nil {
			procs = procs[:i]
			t.Fatal(err)
		}
	}
	// A burst of heartbeat loss: lb2 drops the next lossBurst heartbeats
	// of lb1, counted by nftables' quota in the kernel, so that the burst
	// is exact whatever the load does to nft's own start-up.
	lossBurst := max(1, int((tm.deadtime-2*tm.keepalive)/tm.keepalive)-1) // a gap of deadtime - 2 keepalives at most
	pkt := 20 + 8 + heartbeatPayload(p.names[lab.LB1], p.names[lab.LB1])  // IPv4 + UDP + message
	rules := filepath.Join(t.TempDir(), "hbloss.nft")
	// The quota drops the next lossBurst heartbeats once loaded, and
	// again after each reset. The table stays: no hook comes and goes.
	if err := os.WriteFile(rules, []byte(fmt.Sprintf(`table inet hbloss {
	quota hbq { until %d bytes }
	chain in { type filter hook input priority 0; ip saddr %s udp dport 694 quota name "hbq" drop; }
}
`, lossBurst*pkt+pkt/2, lab.LB1PubAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	if loads["loss"] {
		if out, err := p.l.Run(lab.LB2, "nft", "-f", rules); err != nil {
			t.Fatalf("nft: %v %s", err, out)
		}
	}
	bursts := 0
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	samples := 0
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			if !loads["loss"] {
				continue
			}
			if out, err := p.l.Run(lab.LB2, "nft", "reset", "quota", "inet", "hbloss", "hbq"); err != nil {
				t.Fatalf("nft: %v %s", err, out)
			}
			bursts++
		case <-time.After(50 * time.Millisecond):
			samples++
			if got := p.holders(); len(got) != 1 || got[0] != lab.LB1 {
				t.Errorf("holders %v during the soak, want [lb1]", got)
				cancel()
			}
		}
	}
	if out, err := p.l.Run(lab.LB2, "nft", "list", "quota", "inet", "hbloss", "hbq"); loads["loss"] && (err != nil || !strings.Contains(out, "used")) {
		t.Errorf("the last loss burst did not drop %d heartbeats of %d bytes: %v %s", lossBurst, pkt, err, out)
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		h := p.dirs[n].MustStatus().HA
		g := h.HeartbeatGaps
		t.Logf("%s: heartbeat intervals heard: %d, p99 <= %v, max %v (keepalive %v, deadtime %v)",
			n, g.Count, g.P99, g.Max, tm.keepalive, tm.deadtime)
		if h.Transitions != before[n] {
			t.Errorf("%s: %d transitions during the soak (last: %s), want none", n, h.Transitions-before[n], h.LastReason)
		}
	}
	t.Logf("soak %v, loads %v (cpu: stress-ng on every CPU, flood: hping3 SYN flood, loss: %d bursts of %d lost heartbeats), %d holder samples; load %s",
		soak, loads, bursts, lossBurst, samples, loadAverage())
}

// TestHAPingNodes: with the client's address as the pair's ping node (the
// upstream router of the seed's lab), lb1 losing it (nftables drops its
// echo requests) moves the group to lb2, which still reaches it; when
// lb1 reaches it again, auto_failback hands the group back.
func TestHAPingNodes(t *testing.T) {
	p := startPairMod(t, fastTimers, true, func(c *lab.PairConfig) {
		c.HealthInterval = 100 * time.Millisecond
		c.HAExtra = "  ping: {nodes: [" + lab.ClientAddr + "], interval: 50ms, deadping: 300ms}\n"
	})
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	waitScore(t, p.dirs[lab.LB1], 1, 5*time.Second)
	waitScore(t, p.dirs[lab.LB2], 1, 5*time.Second)
	loop := p.l.StartConcurrentClientLoop()
	defer loop.Stop()
	if err := loop.WaitSuccesses(time.Time{}, 5, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	rules := filepath.Join(t.TempDir(), "pingcut.nft")
	if err := os.WriteFile(rules, []byte("table inet pingcut {\n\tchain out { type filter hook output priority 0; ip daddr "+
		lab.ClientAddr+" icmp type echo-request drop; }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	if out, err := p.l.Run(lab.LB1, "nft", "-f", rules); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	took := p.waitHolders([]string{lab.LB2}, 5*time.Second)
	if err := loop.WaitSuccesses(time.Now(), 5, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	gap, _, _ := loop.Outage(cut)
	st := p.dirs[lab.LB2].MustStatus().HA
	t.Logf("lb1 lost its ping node: lb2 held the group alone %v later (%s); longest gap %v", took, st.LastReason, gap)
	if gap > hitlessLimit() {
		t.Errorf("moving the group off a node without its uplink: longest gap %v, want at most %v (both forward during the move)", gap, hitlessLimit())
	}

	if out, err := p.l.Run(lab.LB1, "nft", "delete", "table", "inet", "pingcut"); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	took = p.waitHolders([]string{lab.LB1}, 10*time.Second)
	t.Logf("lb1 reaches its ping node again: it holds the group alone %v later", took)
}

// TestHAOneLinkOfTwoCut: with heartbeats on both the public and the
// internal link, cutting one (lb2 drops heartbeats arriving on the public
// one) keeps one owner: no failover, no split brain.
func TestHAOneLinkOfTwoCut(t *testing.T) {
	p := startPairMod(t, fastTimers, true, func(c *lab.PairConfig) {
		c.HeartbeatIfs = []string{lab.PubIf, lab.IntIf}
	})
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	before := p.dirs[lab.LB2].MustStatus().HA.Transitions
	rules := filepath.Join(t.TempDir(), "linkcut.nft")
	if err := os.WriteFile(rules, []byte("table inet linkcut {\n\tchain in { type filter hook input priority 0; iifname "+
		lab.PubIf+" udp dport 694 drop; }\n\tchain out { type filter hook output priority 0; oifname "+lab.PubIf+" udp dport 694 drop; }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := p.l.Run(lab.LB2, "nft", "-f", rules); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	deadline := time.Now().Add(20 * fastTimers.deadtime)
	for time.Now().Before(deadline) {
		if got := p.holders(); len(got) != 1 || got[0] != lab.LB1 {
			t.Fatalf("holders %v with one heartbeat link of two cut, want [lb1]", got)
		}
		time.Sleep(20 * time.Millisecond) // sampling a state that must not change
	}
	st := p.dirs[lab.LB2].MustStatus().HA
	if st.Transitions != before || st.State != "standby" || !st.Peers[0].Alive {
		t.Errorf("lb2 with one link cut: state %s, %d transitions, peer alive %v", st.State, st.Transitions-before, st.Peers[0].Alive)
	}
	t.Logf("one link of two cut for %v: lb1 kept the group, lb2 standby with its peer alive", 20*fastTimers.deadtime)
}

// waitScore polls until d's heartbeat says it reaches reach ping nodes.
func waitScore(t *testing.T, d *runningDirector, reach int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := d.Status()
		if err == nil && st.HA != nil && st.HA.Score.Reach == reach {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ping nodes reached: not %d after %v (%v)", reach, within, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}
