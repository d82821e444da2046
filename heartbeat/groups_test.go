package heartbeat

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// groupNodes starts one node per group (owners[i] owns group i) for name,
// all sharing one endpoint of fn.
func groupNodes(t *testing.T, fn *fakeNet, log *holdLog, name string, owners []string) ([]*runningNode, *GroupDispatch) {
	t.Helper()
	trs, stats, err := GroupTransports(fn.endpoint(name), len(owners))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	var out []*runningNode
	for i, owner := range owners {
		cfg := testConfig(name, true)
		cfg.Owner, cfg.Group = owner, i
		res := &fakeRes{name: name + "/" + owner, log: log, acquireDelay: 5 * time.Millisecond}
		n, err := NewNode(cfg, testAuth, trs[i], res, logger.With("group", i))
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
					t.Logf("%s group %d: Run: %v", name, i, err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("%s group %d: Run did not return", name, i)
			}
		})
		out = append(out, rn)
	}
	return out, stats
}

// Two groups, one owned by each node: each holds its own, takes the
// other's when its peer is cut off, and after the heal each group is back
// with its owner; a clean stop hands one node's group over and the peer
// keeps its own.
func TestGroupsTwoOwners(t *testing.T) {
	fn, log := newFakeNet(), &holdLog{}
	owners := []string{"lb1", "lb2"}
	a, _ := groupNodes(t, fn, log, "lb1", owners)
	b, _ := groupNodes(t, fn, log, "lb2", owners)

	waitFor(t, 2*time.Second, "each node active for its own group, standby for the other", func() bool {
		return a[0].state() == Active && a[1].state() == Standby && b[0].state() == Standby && b[1].state() == Active
	})
	if !a[0].res.isHeld() || a[1].res.isHeld() || b[0].res.isHeld() || !b[1].res.isHeld() {
		t.Fatal("addresses held by the wrong nodes")
	}
	for _, rn := range append(a, b...) {
		if c := rn.node.Counters(); c.Malformed != 0 || c.AuthFailures != 0 || c.Replays != 0 {
			t.Fatalf("%s: refused the peer's messages: %+v", rn.name, c)
		}
	}

	// lb1 cut off: lb2 takes lb1's group within deadtime and keeps its own.
	cut := time.Now()
	fn.setCut("lb1", true)
	waitFor(t, 2*time.Second, "lb2 active for both groups", func() bool {
		return b[0].state() == Active && b[1].state() == Active
	})
	if took := log.firstAcquire("lb2/lb1", cut).Sub(cut); took > testDeadtime+3*testKeepalive {
		t.Fatalf("lb2 took lb1's group %v after the cut, want within deadtime %v (+ margin)", took, testDeadtime)
	}
	if !b[1].res.isHeld() || log.lastRelease("lb2/lb2").After(cut) {
		t.Fatal("lb2 let its own group go during the failover")
	}

	// Heal: each group goes back to its owner (auto_failback, equal scores).
	heal := time.Now()
	fn.setCut("lb1", false)
	waitFor(t, 3*time.Second, "each group back with its owner", func() bool {
		return a[0].state() == Active && a[1].state() == Standby && b[0].state() == Standby && b[1].state() == Active &&
			a[0].res.isHeld() && !a[1].res.isHeld() && !b[0].res.isHeld() && b[1].res.isHeld()
	})
	if o := log.longestOverlap(heal); o > 2*testKeepalive {
		t.Fatalf("a group held by both for %v after the heal, want at most 2 keepalives", o)
	}

	// A clean stop of lb1's group node hands it to lb2 at once; lb2's own
	// group does not move.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopped := time.Now()
	if err := a[0].node.Stop(ctx); err != nil {
		t.Fatalf("stop lb1's group: %v", err)
	}
	waitFor(t, time.Second, "lb2 active for lb1's group after the stop", func() bool { return b[0].state() == Active })
	if took := log.firstAcquire("lb2/lb1", stopped).Sub(stopped); took > testDeadtime {
		t.Fatalf("lb2 took the stopped group after %v, want at once (deadtime %v)", took, testDeadtime)
	}
	if b[1].state() != Active || a[1].state() != Standby {
		t.Fatalf("the other group moved: lb1 %v, lb2 %v", a[1].state(), b[1].state())
	}
}

// A packet naming a group the node does not have reaches group 0's node,
// which refuses it as malformed; the other groups never see it.
func TestGroupsUnknownIndex(t *testing.T) {
	fn, log := newFakeNet(), &holdLog{}
	a, _ := groupNodes(t, fn, log, "lb1", []string{"lb1", "lb2"})
	peer := fn.endpoint("lb2")
	c := NewCodec(testAuth, uint64(time.Now().UnixNano()))
	c.group = 5
	b, err := c.Encode(Message{Kind: KindHeartbeat, From: "lb2", State: Standby, Owner: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Send(b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "group 0 to refuse the packet", func() bool { return a[0].node.Counters().Malformed > 0 })
	if got := a[1].node.Counters(); got.Malformed != 0 || got.HeartbeatsReceived != 0 {
		t.Fatalf("group 1 saw the packet: %+v", got)
	}
}

func TestGroupTransportsRejects(t *testing.T) {
	fn := newFakeNet()
	for _, n := range []int{0, MaxGroups + 1} {
		if _, _, err := GroupTransports(fn.endpoint("x"), n); err == nil {
			t.Errorf("%d groups accepted", n)
		}
	}
	cfg := testConfig("lb1", true)
	cfg.Group = MaxGroups
	if err := cfg.Validate(); err == nil {
		t.Error("group index MaxGroups accepted")
	}
}
