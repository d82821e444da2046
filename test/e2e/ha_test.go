package e2e

// End-to-end tests of the heartbeat pair: `director run` on lb1 and lb2 of
// the namespace lab, heartbeats over the public link, lb1 owning the
// resource group (VIP 192.168.56.10 and gateway 192.168.200.250). A client
// loop of new connections through the VIP measures the blackout when lb1
// fails.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/testenv"

	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/test/lab"
	"github.com/director-lb/director/test/labrun"
)

// haTimers are keepalive and deadtime.
type haTimers struct{ keepalive, deadtime time.Duration }

func (h haTimers) String() string { return fmt.Sprintf("%v/%v", h.keepalive, h.deadtime) }

// haConfig is lbN's configuration file.
func haConfig(node, peer, owner, socket, keyFile string, tm haTimers, autoFailback bool) string {
	return lab.PairConfig{Node: node, Peer: peer, Owner: owner, Socket: socket, KeyFile: keyFile,
		Keepalive: tm.keepalive, Deadtime: tm.deadtime, AutoFailback: autoFailback,
		ARPCount: 3, ARPInterval: 50 * time.Millisecond, MetricsListen: "127.0.0.1:9917"}.YAML()
}

// haPair is lb1 and lb2 running director with heartbeats.
type haPair struct {
	t        *testing.T
	l        *lab.Lab
	names    map[string]string // lab node -> director node name
	dirs     map[string]*runningDirector
	keyFile  string
	timers   haTimers
	failback bool
	noSync   bool // conntrack sync disabled
	// metrics is the metrics listener (default 127.0.0.1:9917).
	metrics string
	mod     func(*lab.PairConfig) // changes each node's configuration, if not nil
	labOpts lab.Options           // the lab's options (tuned veths by default)
}

func startPair(t *testing.T, tm haTimers, autoFailback bool) *haPair {
	return startPairSync(t, tm, autoFailback, true)
}

// startPairSync is startPair with the conntrack sync on or off.
func startPairSync(t *testing.T, tm haTimers, autoFailback, sync bool) *haPair {
	return startPairWith(t, &haPair{timers: tm, failback: autoFailback, noSync: !sync})
}

// startPairMod is startPair with each node's configuration changed by mod.
func startPairMod(t *testing.T, tm haTimers, autoFailback bool, mod func(*lab.PairConfig)) *haPair {
	t.Helper()
	return startPairWith(t, &haPair{timers: tm, failback: autoFailback, mod: mod})
}

// startPairWith starts the pair as p (timers and options) says.
func startPairWith(t *testing.T, p *haPair) *haPair {
	t.Helper()
	l := newLab(t, p.labOpts)
	p.t, p.l, p.dirs = t, l, map[string]*runningDirector{}
	p.names = map[string]string{lab.LB1: l.Prefix() + "-lb1", lab.LB2: l.Prefix() + "-lb2"}
	dir := t.TempDir()
	p.keyFile = filepath.Join(dir, "authkey")
	if err := os.WriteFile(p.keyFile, []byte("lab pair secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		p.start(n)
	}
	return p
}

func (p *haPair) other(n string) string {
	if n == lab.LB1 {
		return lab.LB2
	}
	return lab.LB1
}

// start runs director on lab node n.
func (p *haPair) start(n string) *runningDirector {
	p.t.Helper()
	socket := filepath.Join(p.t.TempDir(), "director.sock")
	listen := p.metrics
	if listen == "" {
		listen = "127.0.0.1:9917"
	}
	c := lab.PairConfig{Node: p.names[n], Peer: p.names[p.other(n)], Owner: p.names[lab.LB1], Socket: socket,
		KeyFile: p.keyFile, Keepalive: p.timers.keepalive, Deadtime: p.timers.deadtime, AutoFailback: p.failback,
		ARPCount: 3, ARPInterval: 50 * time.Millisecond, MetricsListen: listen, NoSync: p.noSync}
	if p.mod != nil {
		p.mod(&c)
	}
	cfg := c.YAML()
	d := startDirectorIn(p.t, p.l, n, cfg, socket)
	p.dirs[n] = d
	return d
}

// holders lists the lab directors holding the floating addresses; one
// holding only part of the group (for the instant between two address
// changes) shows as "<node>(partial)", which no expected list contains.
func (p *haPair) holders() []string {
	p.t.Helper()
	var out []string
	for _, n := range []string{lab.LB1, lab.LB2} {
		vip, gw := p.holds(n, lab.VIP, lab.PubIf), p.holds(n, lab.Gateway, lab.IntIf)
		switch {
		case vip && gw:
			out = append(out, n)
		case vip || gw:
			out = append(out, n+"(partial)")
		}
	}
	return out
}

// holds reports whether lab node n has address addr on ifname.
func (p *haPair) holds(n, addr, ifname string) bool {
	out, err := p.l.Run(n, "ip", "-4", "-o", "addr", "show", "dev", ifname)
	if err != nil {
		return false // a deleted or unreachable namespace holds nothing
	}
	return strings.Contains(out, " "+addr+"/")
}

// waitHolders polls until exactly want hold the group.
func (p *haPair) waitHolders(want []string, within time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	for {
		got := p.holders()
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			p.t.Fatalf("holders %v after %v, want %v", got, within, want)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// waitHolds polls until lab node n holds the whole group, whatever the
// other holds (a failed node keeps addresses on its downed links: no
// traffic reaches them there).
func (p *haPair) waitHolds(n string, within time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	for !p.holds(n, lab.VIP, lab.PubIf) || !p.holds(n, lab.Gateway, lab.IntIf) {
		if time.Since(start) > within {
			p.t.Fatalf("%s does not hold the group after %v", n, within)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	return time.Since(start)
}

// waitState polls until director n reports HA state want.
func (p *haPair) waitState(n, want string, within time.Duration) {
	p.t.Helper()
	start := time.Now()
	for p.haState(n) != want {
		if time.Since(start) > within {
			p.t.Fatalf("%s in state %q after %v, want %q", n, p.haState(n), within, want)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// haState reads director n's HA state.
func (p *haPair) haState(n string) string {
	st, err := p.dirs[n].Status()
	if err != nil || st.HA == nil {
		return fmt.Sprintf("unreadable (%v)", err)
	}
	return st.HA.State
}

// failoverScenario: lb1 owns; a client loop; lb1's links go down; lb2
// takes both addresses and the loop recovers within deadtime + 1 s; lb1
// comes back and, with auto_failback, takes the group back.
func failoverScenario(t *testing.T, tm haTimers) time.Duration {
	p := startPair(t, tm, true)
	p.waitHolders([]string{lab.LB1}, 10*tm.deadtime+5*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)

	checkHAReporting(t, p)

	loop := p.l.StartClientLoop()
	defer loop.Stop()
	if err := loop.WaitSuccesses(time.Time{}, 5, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	if err := p.l.SetLinks(lab.LB1, false); err != nil {
		t.Fatal(err)
	}
	took := p.waitHolds(lab.LB2, tm.deadtime+5*time.Second)
	p.waitState(lab.LB2, "active", 5*time.Second)
	if err := loop.WaitSuccesses(t0, 3, tm.deadtime+3*time.Second); err != nil {
		t.Fatal(err)
	}
	b, ok := loop.Blackout(t0)
	t.Logf("%v: lb2 held the group %v after lb1 failed; client blackout %v", tm, took, b)
	if limit := tm.deadtime + time.Second + 500*time.Millisecond; !ok || b > limit {
		t.Errorf("client blackout %v, want at most deadtime + 1s (+0.5s margin) = %v", b, limit)
	}

	// lb1 returns: with auto_failback it takes the group back.
	if err := p.l.SetLinks(lab.LB1, true); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	p.waitHolders([]string{lab.LB1}, 2*tm.deadtime+5*time.Second)
	if err := loop.WaitSuccesses(back, 3, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkHAReporting: status and metrics show the pair, and a forged
// heartbeat is dropped and counted.
func checkHAReporting(t *testing.T, p *haPair) {
	t.Helper()
	out, err := p.dirs[lab.LB1].CLI("status")
	if err != nil || !strings.Contains(out, "ha: active") || !strings.Contains(out, "peer "+p.names[lab.LB2]+": alive, standby") ||
		!strings.Contains(out, "address 192.168.56.10/24 on enp0s3: held") {
		t.Errorf("lb1 status does not show the pair: %v\n%s", err, out)
	}
	// A datagram that is not a valid heartbeat, from the client.
	conn, err := p.l.Dialer(lab.Client)(context.Background(), "udp4", "192.168.56.11:694")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("DRHB\x01\x01forged heartbeat")); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := p.dirs[lab.LB1].metricsIn(lab.LB1)
		if metricValue(t, m, "director_ha_state", map[string]string{"state": "active"}) != 1 ||
			metricValue(t, m, "director_ha_peer_alive", map[string]string{"peer": p.names[lab.LB2]}) != 1 ||
			metricValue(t, m, "director_ha_heartbeats_received_total", nil) == 0 ||
			metricValue(t, m, "director_ha_address_held", map[string]string{"address": "192.168.200.250/24"}) != 1 {
			t.Fatalf("lb1 metrics do not show the active pair:\n%s", grepLines(m, "director_ha_"))
		}
		rejected := metricValue(t, m, "director_ha_messages_rejected_total", map[string]string{"reason": "malformed"}) +
			metricValue(t, m, "director_ha_messages_rejected_total", map[string]string{"reason": "auth"})
		if rejected > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("forged heartbeat not counted:\n%s", grepLines(m, "director_ha_"))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestHAFailoverSubSecond(t *testing.T) {
	failoverScenario(t, haTimers{100 * time.Millisecond, 500 * time.Millisecond})
}

func TestHAFailoverSeedTimers(t *testing.T) {
	failoverScenario(t, haTimers{time.Second, 5 * time.Second})
}

// TestHAPartitionHeals: heartbeats between lb1 and lb2 are dropped (an
// nftables rule in lb2), so both take the group; when the partition heals,
// exactly one keeps it (the owner, with auto_failback) within a few
// keepalives.
func TestHAPartitionHeals(t *testing.T) {
	tm := haTimers{100 * time.Millisecond, 500 * time.Millisecond}
	p := startPair(t, tm, true)
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	rules := filepath.Join(t.TempDir(), "hbcut.nft")
	if err := os.WriteFile(rules, []byte(`table inet hbcut {
	chain in { type filter hook input priority 0; udp dport 694 drop; }
	chain out { type filter hook output priority 0; udp dport 694 drop; }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := p.l.Run(lab.LB2, "nft", "-f", rules); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	p.waitHolders([]string{lab.LB1, lab.LB2}, 5*time.Second)
	if out, err := p.l.Run(lab.LB2, "nft", "delete", "table", "inet", "hbcut"); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	took := p.waitHolders([]string{lab.LB1}, 10*tm.keepalive+2*time.Second)
	t.Logf("partition healed into one owner in %v", took)
	// And it stays that way.
	time.Sleep(3 * tm.deadtime) // observing stability, not waiting for a condition
	if got := p.holders(); fmt.Sprint(got) != fmt.Sprint([]string{lab.LB1}) {
		t.Errorf("holders %v after the heal settled, want [lb1]", got)
	}
}

// TestHACleanStopHandsOver: director stop on the active node hands the group
// over at once, without waiting for deadtime.
func TestHACleanStopHandsOver(t *testing.T) {
	tm := haTimers{time.Second, 5 * time.Second}
	p := startPair(t, tm, true)
	p.waitHolders([]string{lab.LB1}, 30*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	t0 := time.Now()
	if out, err := p.dirs[lab.LB1].CLI("stop"); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	took := p.waitHolders([]string{lab.LB2}, tm.deadtime)
	t.Logf("clean stop: lb2 held the group %v after director stop on lb1", time.Since(t0))
	if took > 2*tm.keepalive+time.Second {
		t.Errorf("handover took %v: it waited for deadtime instead of being immediate", took)
	}
}

// TestHAKeyFileMode: a key file readable by others makes the daemon refuse
// to start, with an error that says what to do.
func TestHAKeyFileMode(t *testing.T) {
	testenv.RequirePrivileged(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "authkey")
	if err := os.WriteFile(key, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "director.yaml")
	if err := os.WriteFile(cfg, []byte(haConfig("kf-lb1", "kf-lb2", "kf-lb1", filepath.Join(dir, "s.sock"), key,
		haTimers{time.Second, 5 * time.Second}, true)), 0o644); err != nil {
		t.Fatal(err)
	}
	// In an empty network namespace of its own: nothing of the host's is in reach.
	cmd := exec.Command("unshare", "--net", directorBin(t), "run", "--config", cfg)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("director run started with a key file of mode 0644")
	}
	if !strings.Contains(string(out), key) || !strings.Contains(string(out), "chmod 600") {
		t.Errorf("error does not name the key file and the fix:\n%s", out)
	}
}

// startDirectorIn runs director run with cfg on lab node n.
func startDirectorIn(t *testing.T, l *lab.Lab, n, cfg, socket string) *runningDirector {
	t.Helper()
	return &runningDirector{labrun.Start(t, l, n, cfg, labrun.Options{Bin: directorBin(t), Socket: socket})}
}

// hitlessLimit is the longest gap between answered new connections a
// planned move of the group may cause: issue 14's target, 100 ms, a few
// client-loop paces. It holds in make test since peer forwarding closed
// the handover race (docs/ha.md, "Peer forwarding in a handover window"):
// a connection whose SYN reached one director and whose next packet
// reaches the other is handed back to the first instead of being reset
// or left to time out (the loop's 200 ms timeout).
func hitlessLimit() time.Duration {
	return 100 * time.Millisecond
}

// haTargets says whether the HA tests assert issue 14's targets (make
// bench-ha) rather than what make test can hold on a loaded 2-core machine.
func haTargets() bool { return os.Getenv("DIRECTOR_HA_TARGETS") == "1" }

// TestHAFailbackHitless: lb1 fails (links down) and lb2 takes over; lb1's
// checks meanwhile find every real server down. When lb1 returns it does
// not take the group back until its connection table is synced and its
// checks find the servers up, and then takes it while lb2 still forwards:
// the client loop sees no gap longer than hitlessLimit, and 20 keep-alive
// connections survive the failover, the failback and a clean director
// stop of lb1 (handed over the same way).
func TestHAFailbackHitless(t *testing.T) {
	testFailbackHitless(t, startPair(t, haTimers{100 * time.Millisecond, 500 * time.Millisecond}, true))
}

// TestHAFailbackHitlessUntuned is TestHAFailbackHitless on veths as the
// kernel makes them (GRO off, checksum offload on), with the data plane
// auto takes there (TC, as on the lab's tuned veths): peer forwarding
// leaves by bpf_redirect to the ingress interface.
func TestHAFailbackHitlessUntuned(t *testing.T) {
	testFailbackHitless(t, startPairWith(t, &haPair{timers: haTimers{100 * time.Millisecond, 500 * time.Millisecond},
		failback: true, labOpts: lab.Options{KernelDefaults: true}}))
}

// TestHAFailbackHitlessXDP is TestHAFailbackHitless with the data plane
// forced to XDP on the lab's tuned veths (auto takes TC on veths): peer
// forwarding leaves by XDP_TX.
func TestHAFailbackHitlessXDP(t *testing.T) {
	testFailbackHitless(t, startPairMod(t, haTimers{100 * time.Millisecond, 500 * time.Millisecond}, true,
		func(c *lab.PairConfig) { c.Dataplane = "xdp" }))
}

func testFailbackHitless(t *testing.T, p *haPair) {
	tm := p.timers
	for _, n := range []string{lab.LB1, lab.LB2} {
		t.Logf("%s: data plane %s", n, p.dirs[n].MustStatus().Dataplane)
	}
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)

	const conns = 20
	kept := openKept(t, p.l, conns)
	waitSynced(t, p.names[lab.LB2], conns, 5*time.Second)
	keptOK := func(when string) {
		t.Helper()
		ok, problems := surviving(kept)
		t.Logf("%s: %d of %d keep-alive connections answered by their real server", when, ok, conns)
		if ok != conns {
			t.Errorf("%s: %d of %d keep-alive connections survived: %v", when, ok, conns, problems)
		}
	}
	// New connections every 20 ms, whether or not the last ones were
	// answered: a failed one does not hide the next for its timeout.
	loop := p.l.StartConcurrentClientLoop()
	defer loop.Stop()
	if err := loop.WaitSuccesses(time.Time{}, 5, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// Failover: lb1's links go down, lb2 takes the group after deadtime.
	if err := p.l.SetLinks(lab.LB1, false); err != nil {
		t.Fatal(err)
	}
	p.waitHolds(lab.LB2, tm.deadtime+5*time.Second)
	p.waitState(lab.LB2, "active", 5*time.Second)
	keptOK("after the failover")
	// lb1's checks cannot reach the real servers: wait until they say so,
	// which is what made the failback break new connections.
	for _, web := range []string{lab.Web1Addr, lab.Web2Addr} {
		waitHealth(t, p.dirs[lab.LB1], web, "down", 20*time.Second)
	}

	// Failback: lb1's links come back.
	before := map[string]model.Status{lab.LB1: p.dirs[lab.LB1].MustStatus(), lab.LB2: p.dirs[lab.LB2].MustStatus()}
	forwarded := map[string]uint64{lab.LB1: stackForwarded(t, p.l, lab.LB1), lab.LB2: stackForwarded(t, p.l, lab.LB2)}
	if err := p.l.SetLinks(lab.LB1, true); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	took := p.waitHolders([]string{lab.LB1}, 30*time.Second)
	p.waitState(lab.LB1, "active", 5*time.Second)
	p.waitState(lab.LB2, "standby", 5*time.Second)
	if err := loop.WaitSuccesses(time.Now(), 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	gap, stalled, ok := loop.Outage(back)
	_, failed := loop.Successes()
	t.Logf("failback: lb1 held the group alone %v after its return; longest gap between answered connections with a failed one in it %v (gaps without: %v, the loop starved); %d failed in the whole run, the failover's included; load %s",
		took, gap, stalled, failed, loadAverage())
	if !ok || gap > hitlessLimit() {
		var at []string
		for _, f := range loop.FailedSince(back) {
			at = append(at, f.Sub(back).Round(time.Millisecond).String())
		}
		t.Errorf("failback: longest gap between answered connections %v, want at most %v (failed attempts started at %v after lb1's return, lb1 active at %v)",
			gap, hitlessLimit(), at, p.dirs[lab.LB1].MustStatus().HA.LastTransition.Sub(back).Round(time.Millisecond))
	}
	for _, f := range loop.Failures(back) {
		t.Logf("failback: attempt started at %v failed after %v: %s", f.Start.Sub(back).Round(time.Millisecond), f.Took.Round(time.Millisecond), f.Err)
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		after := p.dirs[n].MustStatus()
		var lag time.Duration
		if after.HA.Sync != nil {
			lag = after.HA.Sync.MaxLag
		}
		t.Logf("failback: %s %s at %v; sync lag at most %v; packets meanwhile %v, %d forwarded by the kernel (not NATed)",
			n, after.HA.State, after.HA.LastTransition.Sub(back).Round(time.Millisecond), lag.Round(time.Microsecond),
			packetsDiff(before[n].Stats.Packets, after.Stats.Packets), stackForwarded(t, p.l, n)-forwarded[n])
	}
	checkHandoverWindow(t, p, "failback", nil)
	st := p.dirs[lab.LB1].MustStatus()
	for _, s := range st.Services {
		for _, r := range s.Reals {
			if r.Health != "up" {
				t.Errorf("lb1 active with real server %v health %q", r.Addr, r.Health)
			}
		}
	}
	keptOK("after the failback")

	// A clean stop of lb1 hands the group to lb2 the same way.
	before = map[string]model.Status{lab.LB1: p.dirs[lab.LB1].MustStatus(), lab.LB2: p.dirs[lab.LB2].MustStatus()}
	logAt := map[string]int{lab.LB1: len(p.dirs[lab.LB1].Log.String()), lab.LB2: len(p.dirs[lab.LB2].Log.String())}
	stop := time.Now()
	if out, err := p.dirs[lab.LB1].CLI("stop"); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	p.waitHolders([]string{lab.LB2}, 5*time.Second)
	if err := loop.WaitSuccesses(time.Now(), 10, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	gap, stalled, ok = loop.Outage(stop)
	_, failed2 := loop.Successes()
	t.Logf("director stop: longest gap between answered connections with a failed one in it %v (without: %v); %d failed", gap, stalled, failed2-failed)
	t.Logf("director stop: lb2's packets meanwhile %v", packetsDiff(before[lab.LB2].Stats.Packets, p.dirs[lab.LB2].MustStatus().Stats.Packets))
	checkHandoverWindow(t, p, "director stop", logAt)
	if !ok || gap > hitlessLimit() {
		t.Errorf("director stop: longest gap between answered connections %v, want at most %v", gap, hitlessLimit())
	}
	keptOK("after director stop of lb1")
}

// checkHandoverWindow checks, from both daemons' logs, that each learnt
// the peer's links from its heartbeats and had its handover window (peer
// forwarding) open during the move (opened after since, the log offsets
// at the move's start, or still open from an earlier move then), and logs
// those lines.
func checkHandoverWindow(t *testing.T, p *haPair, when string, since map[string]int) {
	t.Helper()
	for _, n := range []string{lab.LB1, lab.LB2} {
		log := p.dirs[n].Log.String()
		start := min(since[n], len(log))
		var links, opened int
		open := false
		for line := range strings.Lines(log[:start]) {
			if strings.Contains(line, "handover window") {
				open = strings.Contains(line, "open=true")
			}
			if strings.Contains(line, "the peer's links") {
				links++
			}
		}
		if open {
			opened++ // still open from an earlier move when this one started
		}
		for line := range strings.Lines(log[start:]) {
			switch {
			case strings.Contains(line, "the peer's links"):
				links++
			case strings.Contains(line, "handover window"):
				if strings.Contains(line, "open=true") {
					opened++
				}
			default:
				continue
			}
			t.Logf("%s: %s: %s", when, n, strings.TrimSpace(line))
		}
		if links == 0 || opened == 0 {
			t.Errorf("%s: %s learnt the peer's links %d times and had its handover window open %d times, want both", when, n, links, opened)
		}
	}
}

// packetsDiff is after's packet counters less before's, the ones that moved.
func packetsDiff(before, after map[string]uint64) map[string]uint64 {
	d := map[string]uint64{}
	for k, v := range after {
		if v != before[k] {
			d[k] = v - before[k]
		}
	}
	return d
}

// stackForwarded is the number of packets the kernel of lab node n
// forwarded itself (Ip ForwDatagrams): the data plane forwards what it
// translates, so these are packets it passed.
func stackForwarded(t *testing.T, l *lab.Lab, n string) uint64 {
	t.Helper()
	out, err := l.Run(n, "cat", "/proc/net/snmp")
	if err != nil {
		t.Fatalf("read /proc/net/snmp in %s: %v", n, err)
	}
	var names []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Ip:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "ForwDatagrams" && i < len(f) {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					t.Fatalf("/proc/net/snmp in %s: ForwDatagrams %q", n, f[i])
				}
				return v
			}
		}
	}
	t.Fatalf("/proc/net/snmp in %s: no Ip ForwDatagrams", n)
	return 0
}
