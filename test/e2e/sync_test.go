package e2e

// End-to-end tests of conntrack sync: established connections through lb1
// survive lb1's failure (lb2 takes over with lb1's connections already in
// its flow table) and the owner's return (auto_failback hands the group
// back only once lb1 has lb2's full table). The same scenario with the
// sync disabled shows the connections break, so the test tests something.
// The failure is a crash with state loss: lb1's daemon is killed, its
// pinned data plane removed and its addresses dropped (as a reboot
// would), its links cut; it comes back with an empty flow table.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/director-lb/director/bpf"
	"github.com/director-lb/director/loader"
	"github.com/director-lb/director/test/lab"
)

// keptConn is one keep-alive connection of the client and the real server
// that answered it first.
type keptConn struct {
	c      *http.Client
	vip    string
	server string
}

// openKept opens n keep-alive connections through the VIP, one request each.
func openKept(t *testing.T, l *lab.Lab, n int) []*keptConn {
	t.Helper()
	return openKeptTo(t, l, n, lab.VIP)
}

// openKeptTo opens n keep-alive connections to vip:80, one request each.
func openKeptTo(t *testing.T, l *lab.Lab, n int, vip string) []*keptConn {
	t.Helper()
	out := make([]*keptConn, n)
	for i := range out {
		c := l.HTTPClient(lab.Client, true)
		c.Timeout = 3 * time.Second
		server, err := askKept(c, vip)
		if err != nil {
			t.Fatalf("keep-alive connection %d: %v", i, err)
		}
		// From now on a broken connection must not be replaced silently.
		c.Transport.(*http.Transport).DialContext = func(context.Context, string, string) (net.Conn, error) {
			return nil, errors.New("no new connection: only the established one counts")
		}
		out[i] = &keptConn{c: c, vip: vip, server: server}
	}
	return out
}

// askKept makes one request to vip:80 and returns who answered.
func askKept(c *http.Client, vip string) (string, error) {
	resp, err := c.Get("http://" + vip + "/")
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.Header.Get(lab.ServedByHeader), nil
}

// surviving asks every kept connection again and counts those answered by
// the same real server over the same connection.
func surviving(kept []*keptConn) (int, []string) {
	ok := 0
	var problems []string
	for i, k := range kept {
		server, err := askKept(k.c, k.vip)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("conn %d: %v", i, err))
		case server != k.server:
			problems = append(problems, fmt.Sprintf("conn %d: answered by %s, was %s", i, server, k.server))
		default:
			ok++
		}
	}
	return ok, problems
}

// download is a rate-limited download through the VIP, started now.
// pinnedFlowClients gives the state of node's forward flow entries by
// client port.
func pinnedFlowClients(node string) (map[uint16]uint8, error) {
	flows, err := pinnedFlows(loader.PinDir(loader.DefaultPinRoot, node))
	out := map[uint16]uint8{}
	for k, v := range flows {
		if v.Dir == bpf.DirForward {
			out[bpf.PortFromBe16(k.Sport)] = v.State
		}
	}
	return out, err
}

// waitSynced polls until lb2's flow table has at least n connections.
func waitSynced(t *testing.T, node string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := pinnedFlowClients(node)
		if err == nil && len(got) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s tracks %d connections after %v, want at least %d (%v)", node, len(got), within, n, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// crash fails lab node n as a power failure and reboot would: first its
// links go down (nothing more leaves it), then its daemon is killed and
// its data plane and addresses removed. In the other order, the instant
// between removing the program and cutting the links lets its stack
// answer the clients' packets to the VIP with resets.
func (p *haPair) crash(n string) {
	p.t.Helper()
	if err := p.l.SetLinks(n, false); err != nil {
		p.t.Fatal(err)
	}
	d := p.dirs[n]
	if err := d.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("%s killed: %v", n, <-d.Done)
	if out, err := exec.Command(d.Bin, "stop", "--node", p.names[n]).CombinedOutput(); err != nil {
		p.t.Fatalf("remove %s's data plane: %v %s", n, err, out)
	}
	if err := p.l.RemoveFloating(n); err != nil {
		p.t.Fatal(err)
	}
}

// syncScenario runs the failover and failback with the sync on or off and
// returns how many of the kept connections survived the failover.
func syncScenario(t *testing.T, sync bool) (survived, total int) {
	tm := haTimers{100 * time.Millisecond, 500 * time.Millisecond}
	p := startPairSync(t, tm, true, sync)
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)

	// A 4 MB download at 1 MB/s, and 50 keep-alive connections.
	const size = 4 << 20
	dl := startDownload(t, p.l, size, 1<<20)
	const conns = 50
	kept := openKept(t, p.l, conns)
	if sync {
		waitSynced(t, p.names[lab.LB2], conns+1, 5*time.Second)
	}

	t0 := time.Now()
	p.crash(lab.LB1)
	p.waitHolds(lab.LB2, tm.deadtime+5*time.Second)
	p.waitState(lab.LB2, "active", 5*time.Second)
	t.Logf("lb2 active %v after lb1 crashed", time.Since(t0))

	survived, problems := surviving(kept)
	r := <-dl.done
	t.Logf("sync %v: %d of %d keep-alive connections survived the failover; download: %d bytes, err %v",
		sync, survived, conns, r.n, r.err)
	if !sync {
		if survived == conns || (r.err == nil && r.n == int64(size)) {
			t.Errorf("without sync, %d of %d connections and the download (%d bytes, %v) survived: the test cannot tell sync from none",
				survived, conns, r.n, r.err)
		}
		return survived, conns
	}
	if survived != conns {
		t.Errorf("%d of %d connections survived the failover: %v", survived, conns, problems)
	}
	if r.err != nil || r.n != int64(size) || r.sum != expectedSum(size) {
		t.Errorf("download across the failover: %d bytes sha256 %s err %v, want %d bytes %s",
			r.n, r.sum, r.err, size, expectedSum(size))
	}
	st := p.dirs[lab.LB2].MustStatus()
	if st.HA == nil || st.HA.Sync == nil || st.HA.Sync.Role != "sending" || st.HA.Sync.Installed < conns {
		t.Errorf("lb2's sync status after the takeover: %+v", st.HA)
	}

	// lb1 returns with an empty table: auto_failback hands it the group
	// once it has lb2's full table, and the connections go on through it.
	if err := p.l.SetLinks(lab.LB1, true); err != nil {
		t.Fatal(err)
	}
	p.start(lab.LB1)
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB1, "active", 5*time.Second)
	st = p.dirs[lab.LB1].MustStatus()
	if st.HA.Sync == nil || st.HA.Sync.FullReceived < 1 || st.HA.Sync.Installed < conns {
		t.Fatalf("lb1 took the group back without lb2's full table: %+v", st.HA.Sync)
	}
	// In that order: the whole table first, then the group (the last
	// transition is lb1's to active).
	if !st.HA.Sync.LastFullTable.Before(st.HA.LastTransition) {
		t.Errorf("lb1's full table came at %v, after it became active at %v",
			st.HA.Sync.LastFullTable, st.HA.LastTransition)
	}
	back, problems := surviving(kept)
	t.Logf("%d of %d connections survived the failback", back, conns)
	if back != conns {
		t.Errorf("%d of %d connections survived the failback: %v", back, conns, problems)
	}
	return survived, conns
}

func TestSyncFailoverKeepsConnections(t *testing.T) {
	syncScenario(t, true)
}

func TestSyncDisabledBreaksConnections(t *testing.T) {
	syncScenario(t, false)
}

// TestSyncLag measures, at a steady rate of new connections through lb1,
// the time from a connection's handshake to its entry in lb2's flow table,
// and the sync bytes per connection.
func TestSyncLag(t *testing.T) {
	tm := haTimers{100 * time.Millisecond, 500 * time.Millisecond}
	p := startPair(t, tm, true)
	p.waitHolders([]string{lab.LB1}, 10*time.Second)
	p.waitState(lab.LB1, "active", 10*time.Second)
	p.waitState(lab.LB2, "standby", 10*time.Second)
	waitReady(t, p, lab.LB2, 10*time.Second)

	before := p.dirs[lab.LB1].MustStatus().HA.Sync
	const n, every = 100, 20 * time.Millisecond // 50 new connections a second
	dial := p.l.Dialer(lab.Client)
	opened := map[uint16]time.Time{}
	var open []net.Conn
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	seen := map[uint16]time.Duration{}
	next := time.Now()
	for i := 0; i < n || (len(seen) < n && time.Since(next) < 5*time.Second); {
		if i < n && !time.Now().Before(next) {
			c, err := dial(t.Context(), "tcp4", lab.VIP+":80")
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, c)
			opened[uint16(c.LocalAddr().(*net.TCPAddr).Port)] = time.Now()
			i++
			next = next.Add(every)
		}
		got, err := pinnedFlowClients(p.names[lab.LB2])
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		for port := range got {
			if at, ok := opened[port]; ok && seen[port] == 0 {
				seen[port] = now.Sub(at)
			}
		}
		time.Sleep(2 * time.Millisecond) // the sampling period of the measurement
	}
	if len(seen) != n {
		t.Fatalf("%d of %d connections reached lb2's table", len(seen), n)
	}
	lags := make([]time.Duration, 0, n)
	for _, d := range seen {
		lags = append(lags, d)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	// Close them: lb2 must see every connection in FIN; then count the
	// bytes per connection, whole lifetime.
	for _, c := range open {
		_ = c.Close()
	}
	open = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := pinnedFlowClients(p.names[lab.LB2])
		if err != nil {
			t.Fatal(err)
		}
		fin := 0
		for port := range opened {
			if got[port] == bpf.StateFIN {
				fin++
			}
		}
		if fin == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d closed connections in FIN on lb2 after 5s", fin, n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
	after := p.dirs[lab.LB1].MustStatus().HA.Sync
	bytes := after.BytesSent - before.BytesSent
	t.Logf("sync lag (handshake to lb2's table, sampled every 2 ms) at 50 new connections/s: median %v, p90 %v, max %v; "+
		"%d bytes in %d messages for %d connections (%.0f bytes per connection, %d records); sender lag max %v",
		lags[n/2], lags[n*9/10], lags[n-1], bytes, after.MessagesSent-before.MessagesSent, n,
		float64(bytes)/n, after.RecordsSent-before.RecordsSent, after.MaxLag)
	if lags[n/2] > 100*time.Millisecond {
		t.Errorf("median sync lag %v: want a few milliseconds", lags[n/2])
	}
}

// waitReady polls until director n reports its sync ready.
func waitReady(t *testing.T, p *haPair, n string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := p.dirs[n].Status()
		if err == nil && st.HA != nil && st.HA.Sync != nil && st.HA.Sync.Ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s sync not ready after %v: %+v %v", n, within, st.HA, err)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}
