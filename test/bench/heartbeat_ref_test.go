// This file holds BenchmarkHeartbeatReferenceFailover, the reference arm
// for director's own heartbeat: it measures the client-visible blackout
// when the active director fails under the real Linux-HA Heartbeat 3.0.6
// (Debian package heartbeat), in the same namespace lab and scenario as
// the e2e failover test (test/e2e/ha_test.go). Each run builds a fresh lab
// (test/lab: client, lb1, lb2, web1, web2 behind the pub and int bridges)
// and starts one heartbeat per director, configured from the seed's
// /etc/ha.d (shared/seed/etc/ha.d beside the repository): `bcast enp0s3`,
// `node lb1 lb2`, md5 authkeys, lb1 owning IPaddr 192.168.56.10 (the VIP)
// and IPaddr 192.168.200.250 (the real servers' gateway); keepalive and
// deadtime are the timers under test. IPVS is not available here, so the
// seed's ipvsadm resource is replaced by a static nftables DNAT of VIP:80
// to web1/web2 (3:1) on both directors; it only matters on the one that
// holds the VIP, and heartbeat moves the two addresses only. A client loop
// then opens a new HTTP connection to the VIP every 20 ms (200 ms timeout)
// and records when each one succeeds; lb1's links go down; the blackout is
// the longest gap between two successes from the last one before the
// failure until lb1 comes back (a failing attempt costs its 200 ms timeout
// plus the 20 ms pace, so the end of a blackout is seen within about
// 220 ms, as in the e2e loop). Both timer sets (the seed's 1 s/5 s and
// 100 ms/500 ms) run hbRuns times, alternating, and a table gives every
// blackout and the medians, with the takeover time (failure until lb2
// holds both addresses) beside them.
//
// lb1 is failed only after heartbeat has left its start-up state
// (hbSettle): for 5 s after starting, heartbeat advertises its deadtime
// plus 2 s, and a failure then is detected 2 s late.
//
// Each heartbeat runs inside its director's network namespace (ip netns
// exec), in a UTS namespace of its own whose hostname is lb1 or lb2
// (heartbeat takes its node name from uname -n), and in a private mount
// namespace in which /etc/ha.d, /var/lib/heartbeat, /var/log and /run are
// bind mounts of a per-node temporary directory, so the two instances
// share no configuration, uuid, generation, FIFO, pid file or resource
// lock with each other or with the host. The copied ha.cf may only name
// the lab's interfaces. What the package needed to run this way:
//   - the seed's `IPaddr::ADDR` resources fail with the resource-agents
//     4.12 IPaddr agent, whose nic parameter defaults to eth0 ("Invalid
//     parameter value: nic [eth0] Calculated nic: [enp0s3]"), so the
//     netmask and interface are added: IPaddr::192.168.56.10/24/enp0s3;
//   - the private /run needs the directories the packages' tmpfiles.d
//     create: /run/heartbeat (and ccm, crm, dopd), /run/crm and
//     /run/resource-agents, the agents' lock and send_arp pid directory;
//   - the IPaddr agent adds the address with ifconfig (package net-tools,
//     only recommended by resource-agents) and announces it with the
//     packaged send_arp (/usr/libexec/heartbeat/send_arp).
//
// Heartbeat is installed with apt-get when missing; the benchmark skips if
// that fails. Cleanup, also on failure: every process left in lb1's and
// lb2's namespaces is killed (when lb1 returns, both nodes see a healed
// partition and restart by exec'ing heartbeat without -f, which forks
// into the background, so the pid started here is not enough), the lab is
// deleted and the temporary directories are removed. Nothing runs in, or
// is configured in, the host's namespaces. With HBREF_LOGS=<dir> each
// run's heartbeat logs are copied to dir first. Run it as root:
//
//	go test -run '^$' -bench HeartbeatReferenceFailover -benchtime 1x -count=1 -v -timeout 20m ./test/bench/

package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/director-lb/director/test/testenv"

	"github.com/director-lb/director/test/lab"
)

// hbRuns is how many runs each timer set gets per benchmark iteration.
const hbRuns = 3

// Paths of the Debian packages (heartbeat, resource-agents, net-tools).
const (
	hbBinary    = "/usr/libexec/heartbeat/heartbeat"
	hbSendARP   = "/usr/libexec/heartbeat/send_arp"
	hbIPaddrRA  = "/usr/lib/ocf/resource.d/heartbeat/IPaddr"
	hbIfconfig  = "/usr/sbin/ifconfig"
	hbHostHAD   = "/etc/ha.d"
	hbHostState = "/var/lib/heartbeat"
)

// hbSeedDir is the seed's /etc/ha.d, relative to this package's directory
// (shared/ lies beside the repository).
const hbSeedDir = "../../../shared/seed/etc/ha.d"

// hbLaunch runs inside the director's network namespace, in new UTS and
// mount namespaces (unshare): it names the node, puts the node's own
// directories over the package's and execs heartbeat in the foreground
// (-f, Debian's addition, as its systemd unit runs it).
// Arguments: $1 node, $2 the node's directory, $3 the heartbeat binary.
const hbLaunch = `set -e
hostname "$1"
test "$(uname -n)" = "$1"
mount --bind "$2/ha.d" /etc/ha.d
mount --bind "$2/lib" /var/lib/heartbeat
mount --bind "$2/log" /var/log
mount --bind "$2/run" /run
exec "$3" -f
`

// hbNAT is the static stand-in for the seed's ipvsadm resource: VIP:80 to
// web1 and web2, 3:1, loaded on both directors.
const hbNAT = `table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 192.168.56.10 tcp dport 80 dnat to numgen inc mod 4 map { 0-2 : 192.168.200.11, 3 : 192.168.200.12 }
	}
}
`

// hbTimers are heartbeat's keepalive and deadtime.
type hbTimers struct{ keepalive, deadtime time.Duration }

func (t hbTimers) String() string { return fmt.Sprintf("%v/%v", t.keepalive, t.deadtime) }

// hbTime writes d in ha.cf's time syntax: whole seconds as a plain
// number, anything else in milliseconds ("100ms").
func hbTime(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10)
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// hbTimerSets are the timers measured: the seed's, the sub-second pair,
// and director's fastest (measured with the concurrent client loop, as
// test/e2e's TestHAFailoverFast).
var hbTimerSets = []hbTimers{
	{time.Second, 5 * time.Second},
	{100 * time.Millisecond, 500 * time.Millisecond},
	{20 * time.Millisecond, 100 * time.Millisecond},
}

// hbSettle is how long after starting heartbeat a run waits before it
// fails lb1. For its first 5 s the master control process advertises its
// deadtime plus 2 s (master_control_process: hb_add_deadtime(2000), popped
// by a 5000 ms timer), and the peer declares a node dead after the
// deadtime that node last advertised in its status messages; a failure
// in that window would be detected 2 s late. The wait ends two keepalives
// and a second of margin after the pop, once lb2 has heard lb1's real
// deadtime.
func hbSettle(tm hbTimers) time.Duration { return 6*time.Second + 2*tm.keepalive }

// hbResult is one run's outcome.
type hbResult struct {
	blackout time.Duration // longest gap between client successes
	takeover time.Duration // failure until lb2 held both addresses
	failed   int           // client attempts that failed
}

// hbRun is one failover measurement in a lab of its own; it cleans up
// everything it made before returning.
func hbRun(b *testing.B, seed hbSeed, tm hbTimers, run int) (res hbResult, err error) {
	root, err := os.MkdirTemp("", "hbref-")
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := os.RemoveAll(root); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	l, err := lab.New(lab.Options{})
	if err != nil {
		return res, err
	}
	var nodes []*hbNode
	defer func() {
		// Heartbeat first (every process in the directors' namespaces),
		// then the lab.
		var errs []error
		for _, n := range []string{lab.LB1, lab.LB2} {
			if kerr := hbKillNode(l, n); kerr != nil {
				errs = append(errs, kerr)
			}
		}
		for _, n := range nodes {
			select {
			case <-n.done:
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("heartbeat launcher on %s did not exit", n.name))
			}
		}
		if err != nil {
			for _, n := range nodes {
				err = fmt.Errorf("%w\n%s", err, n.logs())
			}
		}
		if keep := os.Getenv("HBREF_LOGS"); keep != "" {
			for _, n := range nodes {
				if kerr := n.keepLog(keep, run, tm); kerr != nil {
					errs = append(errs, kerr)
				}
			}
		}
		errs = append(errs, l.Close())
		err = errors.Join(append([]error{err}, errs...)...)
	}()

	for _, n := range []string{lab.Web1, lab.Web2} {
		if _, err := l.ServeHTTP(n, ":80"); err != nil {
			return res, err
		}
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		cmd := l.Command(context.Background(), n, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(hbNAT)
		if out, err := cmd.CombinedOutput(); err != nil {
			return res, fmt.Errorf("nft on %s: %w: %s", n, err, strings.TrimSpace(string(out)))
		}
	}
	for _, n := range []string{lab.LB1, lab.LB2} {
		dir := filepath.Join(root, n)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return res, err
		}
		if err := hbPrepare(dir, seed, tm); err != nil {
			return res, fmt.Errorf("prepare %s: %w", n, err)
		}
	}
	started := time.Now()
	for _, n := range []string{lab.LB1, lab.LB2} {
		node, err := hbStart(l, n, filepath.Join(root, n))
		if err != nil {
			return res, err
		}
		nodes = append(nodes, node)
	}
	// lb1 owns both resources, lb2 stands by.
	if _, err := hbWaitHolders(l, nodes, map[string]bool{lab.LB1: true}, 30*time.Second+3*tm.deadtime); err != nil {
		return res, fmt.Errorf("initial acquisition: %w", err)
	}
	// Let heartbeat leave its start-up state, so that the failure is
	// judged with the configured deadtime (see hbSettle).
	time.Sleep(time.Until(started.Add(hbSettle(tm))))

	loop := l.StartClientLoop()
	if tm.deadtime < lab.LoopTimeout {
		loop.Stop()
		loop = l.StartConcurrentClientLoop()
	}
	defer loop.Stop()
	if err := loop.WaitSuccesses(time.Time{}, 5, 10*time.Second); err != nil {
		return res, fmt.Errorf("before the failure: %w", err)
	}

	t0 := time.Now()
	if err := l.SetLinks(lab.LB1, false); err != nil {
		return res, err
	}
	// lb1 keeps its addresses (its links are down), so only lb2 is
	// watched: it must get both.
	for {
		vip, gw, err := hbHolds(l, lab.LB2)
		if err != nil {
			return res, err
		}
		if vip && gw {
			res.takeover = time.Since(t0)
			break
		}
		if time.Since(t0) > tm.deadtime+20*time.Second {
			return res, fmt.Errorf("lb2 has vip=%t gw=%t %v after lb1 failed", vip, gw, time.Since(t0))
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	if err := loop.WaitSuccesses(t0, 5, 10*time.Second); err != nil {
		return res, fmt.Errorf("after takeover: %w", err)
	}
	time.Sleep(500 * time.Millisecond) // watch a little longer for a second gap
	_, failed := loop.Successes()
	res.failed = failed
	var ok bool
	if res.blackout, ok = loop.Blackout(t0); !ok {
		return res, errors.New("no client success before or after the failure")
	}

	// lb1 comes back; the measurement is over.
	if err := l.SetLinks(lab.LB1, true); err != nil {
		return res, err
	}
	b.Logf("run %d, %v: lb1 failed at %s; lb2 held both addresses %v later; client blackout %v (%d failed attempts)",
		run, tm, t0.Format("15:04:05.000"), res.takeover.Round(time.Millisecond), res.blackout.Round(time.Millisecond), res.failed)
	return res, nil
}

// hbMedian is the median of d (the mean of the middle two for an even
// count).
func hbMedian(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkHeartbeatReferenceFailover measures the client blackout of a
// failover under the real Heartbeat 3.0.6 for the seed's timers (1 s/5 s)
// and for 100 ms/500 ms, hbRuns runs each, alternating, and prints every
// blackout and the medians (see the file comment).
func BenchmarkHeartbeatReferenceFailover(b *testing.B) {
	testenv.RequirePrivileged(b)
	hbEnsureInstalled(b)
	seed, err := hbReadSeed()
	if err != nil {
		b.Skipf("no seed configuration: %v", err)
	}
	blackouts := map[hbTimers][]time.Duration{}
	takeovers := map[hbTimers][]time.Duration{}

	b.ResetTimer()
	for range b.N {
		for r := range hbRuns {
			for _, tm := range hbTimerSets {
				res, err := hbRun(b, seed, tm, r+1)
				if err != nil {
					b.Fatalf("run %d, timers %v: %v", r+1, tm, err)
				}
				blackouts[tm] = append(blackouts[tm], res.blackout)
				takeovers[tm] = append(takeovers[tm], res.takeover)
			}
		}
	}
	b.StopTimer()

	ms := func(d time.Duration) string { return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond)) }
	fmt.Printf("\nHeartbeat 3.0.6 failover (bcast enp0s3, IPaddr VIP + gateway, nftables DNAT); client: new connection every %v, timeout %v\n",
		lab.LoopPace, lab.LoopTimeout)
	fmt.Printf("%-22s %4s  %-28s %9s  %-28s %9s\n",
		"keepalive/deadtime", "runs", "blackouts", "median", "takeovers", "median")
	for _, tm := range hbTimerSets {
		var bs, ts []string
		for i := range blackouts[tm] {
			bs = append(bs, ms(blackouts[tm][i]))
			ts = append(ts, ms(takeovers[tm][i]))
		}
		fmt.Printf("%-22s %4d  %-28s %9s  %-28s %9s\n", tm, len(blackouts[tm]),
			strings.Join(bs, " "), ms(hbMedian(blackouts[tm])), strings.Join(ts, " "), ms(hbMedian(takeovers[tm])))
		b.ReportMetric(float64(hbMedian(blackouts[tm]))/float64(time.Millisecond),
			"blackout-ms-"+strings.ReplaceAll(tm.String(), "/", "-"))
	}
	fmt.Printf("blackout: longest gap between client successes from the last before lb1's links went down (resolution ~%v)\n",
		lab.LoopTimeout+lab.LoopPace)
	fmt.Printf("takeover: lb1's links down until lb2 held both the VIP and the gateway (polled every 10 ms)\n")
	b.ReportMetric(0, "ns/op")
}
