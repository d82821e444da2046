package heartbeat

// Tests of the runner on real time with short settings (keepalive 20ms,
// deadtime 100ms): two Nodes wired by an in-memory transport of two links
// that can be cut, with fake resources that log when each node holds the
// addresses, so that overlaps can be measured. Synchronisation is by
// polling with deadlines, never by bare sleeps.

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testKeepalive = 20 * time.Millisecond
	testDeadtime  = 100 * time.Millisecond
)

// fakeNet delivers every packet to the other endpoints on two links, as a
// transport with two interfaces would (so duplicates arrive too).
type fakeNet struct {
	mu  sync.Mutex
	eps map[string]*fakeEndpoint
	cut map[string]bool // a node whose links are cut: nothing in or out
}

func newFakeNet() *fakeNet {
	return &fakeNet{eps: map[string]*fakeEndpoint{}, cut: map[string]bool{}}
}

func (fn *fakeNet) endpoint(name string) *fakeEndpoint {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	e := &fakeEndpoint{net: fn, name: name, ch: make(chan Packet, 256)}
	fn.eps[name] = e
	return e
}

func (fn *fakeNet) setCut(name string, cut bool) {
	fn.mu.Lock()
	fn.cut[name] = cut
	fn.mu.Unlock()
}

type fakeEndpoint struct {
	net    *fakeNet
	name   string
	ch     chan Packet
	closed bool // guarded by net.mu
}

func (e *fakeEndpoint) Send(b []byte) error {
	fn := e.net
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if e.closed {
		return errors.New("send: endpoint closed")
	}
	if fn.cut[e.name] {
		return nil // a cut cable loses packets silently
	}
	for name, o := range fn.eps {
		if name == e.name || o.closed || fn.cut[name] {
			continue
		}
		for _, link := range []string{"link-a", "link-b"} {
			select {
			case o.ch <- Packet{Data: append([]byte(nil), b...), Link: link, From: netip.MustParseAddrPort("192.0.2.1:694")}:
			default: // a full queue drops, as a socket buffer would
			}
		}
	}
	return nil
}

func (e *fakeEndpoint) Packets() <-chan Packet { return e.ch }

func (e *fakeEndpoint) Close() error {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	if !e.closed {
		e.closed = true
		close(e.ch)
	}
	return nil
}

// holdLog records when each node's addresses are configured.
type holdLog struct {
	mu     sync.Mutex
	events []holdEvent
}

type holdEvent struct {
	at   time.Time
	node string
	held bool
}

func (l *holdLog) add(node string, held bool) {
	l.mu.Lock()
	l.events = append(l.events, holdEvent{time.Now(), node, held})
	l.mu.Unlock()
}

// firstAcquire is when node first started holding at or after from (zero
// if not).
func (l *holdLog) firstAcquire(node string, from time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.node == node && e.held && !e.at.Before(from) {
			return e.at
		}
	}
	return time.Time{}
}

// lastRelease is when node last stopped holding (zero if never).
func (l *holdLog) lastRelease(node string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var t time.Time
	for _, e := range l.events {
		if e.node == node && !e.held {
			t = e.at
		}
	}
	return t
}

// longestOverlap is the longest time both nodes held at once, counted from
// from on.
func (l *holdLog) longestOverlap(from time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := map[string]bool{}
	var longest time.Duration
	var since time.Time
	for _, e := range l.events {
		before := len(held) == 2 && held["lb1"] && held["lb2"]
		held[e.node] = e.held
		after := held["lb1"] && held["lb2"]
		if !before && after {
			since = e.at
		}
		if before && !after && e.at.After(from) {
			longest = max(longest, e.at.Sub(later(since, from)))
		}
	}
	if held["lb1"] && held["lb2"] {
		longest = max(longest, time.Since(later(since, from)))
	}
	return longest
}

// fakeRes is a resource group: adding takes acquireDelay (the spaced ARPs)
// after the addresses are up.
type fakeRes struct {
	name         string
	log          *holdLog
	acquireDelay time.Duration

	mu        sync.Mutex
	held      bool
	failAcq   error
	acquires  int
	releases  int
	announces int
}

func (r *fakeRes) Acquire(ctx context.Context) error {
	r.mu.Lock()
	r.acquires++
	fail := r.failAcq
	if fail == nil {
		r.held = true
		r.log.add(r.name, true)
	}
	r.mu.Unlock()
	if fail != nil {
		return fail
	}
	select {
	case <-time.After(r.acquireDelay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *fakeRes) Release(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releases++
	if r.held {
		r.held = false
		r.log.add(r.name, false)
	}
	return nil
}

func (r *fakeRes) Announce(ctx context.Context) error {
	r.mu.Lock()
	r.announces++
	r.mu.Unlock()
	return nil
}

func (r *fakeRes) Held() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held, nil
}

func (r *fakeRes) isHeld() bool {
	h, _ := r.Held()
	return h
}

type runningNode struct {
	name   string
	node   *Node
	res    *fakeRes
	cancel context.CancelFunc
	done   chan error
}

func testConfig(name string, af bool) Config {
	return Config{Node: name, Nodes: []string{"lb1", "lb2"}, Owner: "lb1", AutoFailback: af,
		Keepalive: testKeepalive, Deadtime: testDeadtime}
}

func startNode(t *testing.T, fn *fakeNet, log *holdLog, name string, af bool, auth Auth, res *fakeRes) *runningNode {
	t.Helper()
	if res == nil {
		res = &fakeRes{name: name, log: log, acquireDelay: 5 * time.Millisecond}
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := NewNode(testConfig(name, af), auth, fn.endpoint(name), res, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rn := &runningNode{name: name, node: n, res: res, cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-rn.done:
			if err != nil {
				t.Logf("%s: Run: %v", name, err) // tests that expect no error check it themselves
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: Run did not return", name)
		}
	})
	return rn
}

func (rn *runningNode) state() State { return rn.node.Status().State }

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitRun(t *testing.T, rn *runningNode) error {
	t.Helper()
	select {
	case err := <-rn.done:
		rn.done <- err // for the cleanup
		return err
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Run did not return", rn.name)
		return nil
	}
}

var testAuth = Auth{Key: []byte("a shared secret of the test pair")}

func TestNodeFailoverFailbackAndStop(t *testing.T) {
	fn, log := newFakeNet(), &holdLog{}
	a := startNode(t, fn, log, "lb1", true, testAuth, nil)
	b := startNode(t, fn, log, "lb2", true, testAuth, nil)

	waitFor(t, 2*time.Second, "lb1 (the owner) active, lb2 standby", func() bool {
		return a.state() == Active && a.res.isHeld() && b.state() == Standby
	})
	if b.res.isHeld() {
		t.Fatal("lb2 holds the addresses too")
	}

	// Cut lb1 off: lb2 takes over within deadtime (plus a margin for the
	// last heartbeat's age and scheduling).
	cut := time.Now()
	fn.setCut("lb1", true)
	waitFor(t, 2*time.Second, "lb2 active after the cut", func() bool { return b.state() == Active })
	took := log.firstAcquire("lb2", cut).Sub(cut)
	if took > testDeadtime+3*testKeepalive {
		t.Fatalf("lb2 took over %v after the cut, want within deadtime %v (+ margin)", took, testDeadtime)
	}
	if took < testDeadtime-testKeepalive-5*time.Millisecond {
		t.Fatalf("lb2 took over %v after the cut, before deadtime %v", took, testDeadtime)
	}
	waitFor(t, time.Second, "lb1 to see lb2 dead", func() bool { return !a.node.Status().Peers[0].Alive })
	if a.state() != Active {
		t.Fatalf("isolated lb1 is %v, want active (split brain while cut)", a.state())
	}

	// Heal: the owner keeps the group (auto_failback), lb2 releases at
	// once; both hold it for no longer than a keepalive or two.
	heal := time.Now()
	fn.setCut("lb1", false)
	waitFor(t, 2*time.Second, "lb2 released after the heal", func() bool {
		return b.state() == Standby && !b.res.isHeld()
	})
	if a.state() != Active || !a.res.isHeld() {
		t.Fatalf("lb1 is %v (held %v), want active", a.state(), a.res.isHeld())
	}
	if o := log.longestOverlap(heal); o > 2*testKeepalive {
		t.Fatalf("both held the addresses for %v after the heal, want at most 2 keepalives (%v)", o, 2*testKeepalive)
	}
	waitFor(t, time.Second, "lb1 to re-announce once lb2 let go", func() bool {
		a.res.mu.Lock()
		defer a.res.mu.Unlock()
		return a.res.announces == 1
	})

	st := a.node.Status()
	if st.Node != "lb1" || st.State != Active || !st.Held || st.ActiveSince.IsZero() || st.Counters.Transitions < 2 ||
		st.LastReason == "" || st.LastTransition.IsZero() || st.Counters.HeartbeatsSent == 0 ||
		st.Counters.HeartbeatsReceived == 0 || st.Counters.Duplicates == 0 {
		t.Fatalf("lb1's status %+v", st)
	}
	if p := st.Peers[0]; p.Name != "lb2" || !p.Alive || p.State != Standby || p.Age > testDeadtime {
		t.Fatalf("lb1's view of lb2 %+v", p)
	}

	// A clean stop of the active hands over at once, not after deadtime.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.node.Stop(ctx); err != nil {
		t.Fatalf("stop lb1: %v", err)
	}
	released := log.lastRelease("lb1")
	if a.res.isHeld() {
		t.Fatal("lb1 still holds the addresses after Stop")
	}
	if err := waitRun(t, a); err != nil {
		t.Fatalf("lb1's Run: %v", err)
	}
	waitFor(t, time.Second, "lb2 active after lb1's stop", func() bool { return b.state() == Active })
	if took := log.firstAcquire("lb2", released).Sub(released); took > testDeadtime/2 {
		t.Fatalf("lb2 acquired %v after lb1 released, want at once (deadtime is %v)", took, testDeadtime)
	}
	if log.longestOverlap(released) != 0 {
		t.Fatal("both held the addresses during the clean handover")
	}

	// Cancelling Run's context stops cleanly too: the addresses go.
	b.cancel()
	if err := waitRun(t, b); err != nil {
		t.Fatalf("lb2's Run: %v", err)
	}
	if b.res.isHeld() || b.state() != Stopped {
		t.Fatalf("lb2 after cancel: %v, held %v", b.state(), b.res.isHeld())
	}
}

func TestNodeReturnWithoutFailback(t *testing.T) {
	for _, af := range []bool{false, true} {
		t.Run(map[bool]string{false: "auto_failback off: lb2 keeps", true: "auto_failback on: lb1 takes back"}[af], func(t *testing.T) {
			fn, log := newFakeNet(), &holdLog{}
			b := startNode(t, fn, log, "lb2", af, testAuth, nil)
			waitFor(t, 2*time.Second, "lb2 alone active after initdead", func() bool { return b.state() == Active })
			back := time.Now()
			a := startNode(t, fn, log, "lb1", af, testAuth, nil)
			waitFor(t, 2*time.Second, "lb1 heard", func() bool { return b.node.Status().Peers[0].Alive })
			if !af {
				// Give a failback every chance to happen: initdead.
				waitFor(t, 2*time.Second, "lb1 standby", func() bool { return a.state() == Standby })
				deadline := time.Now().Add(2 * testDeadtime)
				for time.Now().Before(deadline) {
					if b.state() != Active || a.res.isHeld() {
						t.Fatalf("without auto_failback lb2 should keep the group: lb2 %v, lb1 held %v", b.state(), a.res.isHeld())
					}
					time.Sleep(time.Millisecond)
				}
				return
			}
			waitFor(t, 2*time.Second, "lb1 active", func() bool { return a.state() == Active && b.state() == Standby })
			if took := log.firstAcquire("lb1", back).Sub(back); took > testDeadtime {
				t.Fatalf("lb1 got the group back %v after starting, want without a deadtime wait", took)
			}
			// Make before break: lb2 forwards until lb1 is active, then
			// releases at once (a few keepalives at most).
			if o := log.longestOverlap(back); o == 0 || o > 5*testKeepalive {
				t.Fatalf("both held for %v during the failback, want an overlap of at most 5 keepalives", o)
			}
		})
	}
}

func TestNodeAcquireFailure(t *testing.T) {
	fn, log := newFakeNet(), &holdLog{}
	res := &fakeRes{name: "lb1", log: log, failAcq: errors.New("add 192.168.56.10/24 to enp0s3: no such device")}
	a := startNode(t, fn, log, "lb1", true, testAuth, res)
	b := startNode(t, fn, log, "lb2", true, testAuth, nil)
	waitFor(t, 2*time.Second, "lb2 active after lb1 failed", func() bool { return b.state() == Active })
	if a.state() != Standby || a.res.isHeld() {
		t.Fatalf("lb1 is %v", a.state())
	}
	if st := a.node.Status(); !strings.Contains(st.LastReason, "acquire failed (add 192.168.56.10/24 to enp0s3: no such device)") {
		t.Fatalf("lb1's last reason %q", st.LastReason)
	}
}

func TestNodeWrongKey(t *testing.T) {
	fn, log := newFakeNet(), &holdLog{}
	a := startNode(t, fn, log, "lb1", false, testAuth, nil)
	b := startNode(t, fn, log, "lb2", false, Auth{Key: []byte("not the same secret, not at all")}, nil)
	// Neither hears the other: both take the group after initdead, and
	// count the refused packets.
	waitFor(t, 2*time.Second, "both active", func() bool { return a.state() == Active && b.state() == Active })
	waitFor(t, time.Second, "auth failures counted", func() bool {
		return a.node.Status().Counters.AuthFailures > 0 && b.node.Status().Counters.AuthFailures > 0
	})
	if a.node.Status().Counters.HeartbeatsReceived != 0 {
		t.Fatal("lb1 accepted a heartbeat signed with another key")
	}
}

func TestNodeCrashRestartHolding(t *testing.T) {
	fn, log := newFakeNet(), &holdLog{}
	b := startNode(t, fn, log, "lb2", false, testAuth, nil)
	// lb1 comes up with the addresses still configured (it was killed),
	// while lb2, alone, holds the group: the older claim (lb2) keeps it.
	waitFor(t, 2*time.Second, "lb2 active", func() bool { return b.state() == Active })
	res := &fakeRes{name: "lb1", log: log, held: true}
	log.add("lb1", true)
	a := startNode(t, fn, log, "lb1", false, testAuth, res)
	waitFor(t, 2*time.Second, "lb1 released its stale addresses", func() bool {
		return a.state() == Standby && !a.res.isHeld()
	})
	if b.state() != Active {
		t.Fatalf("lb2 is %v", b.state())
	}
}

func TestNewNodeRejects(t *testing.T) {
	fn := newFakeNet()
	res := &fakeRes{name: "lb1", log: &holdLog{}}
	cases := []struct {
		name string
		cfg  Config
		auth Auth
		tr   Transport
		res  Resources
		err  string
	}{
		{"three nodes", Config{Node: "lb1", Nodes: []string{"lb1", "lb2", "lb3"}, Owner: "lb1"}, testAuth, fn.endpoint("x"), res, "want exactly 2 names"},
		{"no key", testConfig("lb1", false), Auth{}, fn.endpoint("x"), res, "auth key: empty"},
		{"crc", testConfig("lb1", false), Auth{Method: "crc", Key: []byte("k")}, fn.endpoint("x"), res, "crc"},
		{"no transport", testConfig("lb1", false), testAuth, nil, res, "a transport and resources are needed"},
		{"no resources", testConfig("lb1", false), testAuth, fn.endpoint("x"), nil, "a transport and resources are needed"},
	}
	for _, c := range cases {
		if _, err := NewNode(c.cfg, c.auth, c.tr, c.res, nil); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
}

func TestNodeStopBeforeRunAndRunTwice(t *testing.T) {
	fn, log := newFakeNet(), &holdLog{}
	n, err := NewNode(testConfig("lb1", false), testAuth, fn.endpoint("lb1"), &fakeRes{name: "lb1", log: log}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- n.Stop(ctx) }()
	if err := n.Run(ctx); err != nil {
		t.Fatalf("Run after Stop: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n.Status().State != Stopped {
		t.Fatalf("state %v", n.Status().State)
	}
	if err := n.Run(ctx); err == nil {
		t.Fatal("a second Run succeeded")
	}
}
