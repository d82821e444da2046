package heartbeat

// A simulation of two machines talking through a link that can be cut,
// with fake resources that take time to add and remove the addresses.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type simNode struct {
	name        string
	cfg         Config
	m           *Machine // nil while crashed
	gen, seq    uint64
	held        bool      // the addresses are configured
	acqDone     time.Time // pending acquisition's end (zero: none)
	relDone     time.Time // pending release's end
	acqErr      error     // the result of acquisitions
	announces   []time.Time
	transitions []Transition
}

type delivery struct {
	to  string
	msg Message
	at  time.Time
}

type heldChange struct {
	at   time.Time
	node string
	held bool
}

type pairSim struct {
	t        *testing.T
	now      time.Time
	step     time.Duration
	acqDelay time.Duration // adding the addresses and the spaced ARPs
	relDelay time.Duration
	up       bool
	nodes    map[string]*simNode
	queue    []delivery
	heldLog  []heldChange
}

func newPairSim(t *testing.T, af bool) *pairSim {
	s := &pairSim{t: t, now: t0, step: 10 * ms, acqDelay: 200 * ms, relDelay: 50 * ms, up: true, nodes: map[string]*simNode{}}
	for _, n := range []string{"lb1", "lb2"} {
		cfg := pairCfg(n, af)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		s.nodes[n] = &simNode{name: n, cfg: cfg}
	}
	return s
}

func (s *pairSim) elapsed() time.Duration { return s.now.Sub(t0) }

// boot starts (or restarts) a node, holding the addresses if they are
// still configured.
func (s *pairSim) boot(name string) {
	n := s.nodes[name]
	n.m = NewMachine(n.cfg, s.now, n.held)
	n.gen, n.seq = uint64(s.now.UnixNano()), 0
	n.acqDone, n.relDone = time.Time{}, time.Time{}
	s.feed(n, Tick{Now: s.now})
}

// crash stops a node dead: no more messages, addresses left as they are.
func (s *pairSim) crash(name string) { s.nodes[name].m = nil }

func (s *pairSim) feed(n *simNode, ev Event) {
	if n.m == nil {
		return
	}
	for _, a := range n.m.Step(ev) {
		switch a := a.(type) {
		case Send:
			n.seq++
			a.Msg.Generation, a.Msg.Seq = n.gen, n.seq
			if s.up {
				s.queue = append(s.queue, delivery{to: peerOf(n.name), msg: a.Msg, at: s.now.Add(s.step)})
			}
		case Acquire:
			s.setHeld(n, true) // addresses first, then the ARPs
			n.acqDone = s.now.Add(s.acqDelay)
		case Release:
			n.relDone = s.now.Add(s.relDelay)
		case Announce:
			n.announces = append(n.announces, s.now)
		case Transition:
			n.transitions = append(n.transitions, a)
		}
	}
}

func (s *pairSim) setHeld(n *simNode, held bool) {
	if n.held != held {
		n.held = held
		s.heldLog = append(s.heldLog, heldChange{at: s.now, node: n.name, held: held})
	}
}

// run advances the clock to until (since t0), one step at a time.
func (s *pairSim) run(until time.Duration) {
	for s.now.Before(t0.Add(until)) {
		s.now = s.now.Add(s.step)
		var due, later []delivery
		for _, d := range s.queue {
			if d.at.After(s.now) {
				later = append(later, d)
			} else {
				due = append(due, d)
			}
		}
		s.queue = later // feeding may queue answers
		for _, d := range due {
			s.feed(s.nodes[d.to], Received{Msg: d.msg, Now: s.now})
		}
		for _, name := range []string{"lb1", "lb2"} {
			n := s.nodes[name]
			if n.m == nil {
				continue
			}
			if !n.acqDone.IsZero() && !s.now.Before(n.acqDone) {
				n.acqDone = time.Time{}
				s.feed(n, Acquired{Now: s.now, Err: n.acqErr})
			}
			if !n.relDone.IsZero() && !s.now.Before(n.relDone) {
				n.relDone = time.Time{}
				s.setHeld(n, false)
				s.feed(n, Released{Now: s.now})
			}
			s.feed(n, Tick{Now: s.now})
		}
	}
}

// expect checks who holds the group: holder Active and holding, the other
// not holding (Standby, or Stopped/crashed).
func (s *pairSim) expect(holder string) {
	s.t.Helper()
	for name, n := range s.nodes {
		if name == holder {
			if !n.held || n.m == nil || n.m.State() != Active {
				s.t.Fatalf("at %v: %s should hold the group (held %v, state %v)", s.elapsed(), name, n.held, stateOf(n))
			}
		} else if n.held {
			s.t.Fatalf("at %v: %s should not hold the group (state %v)", s.elapsed(), name, stateOf(n))
		}
	}
}

func stateOf(n *simNode) string {
	if n.m == nil {
		return "crashed"
	}
	return n.m.State().String()
}

// acquiredAt is when name last started holding the addresses at or after
// from (-1 if not).
func (s *pairSim) acquiredAt(name string, from time.Duration) time.Duration {
	for _, c := range s.heldLog {
		if c.node == name && c.held && !c.at.Before(t0.Add(from)) {
			return c.at.Sub(t0)
		}
	}
	return -1
}

// noneHeld is how long neither node held the addresses after from (a gap
// in service), counted from the first time one held them.
func (s *pairSim) noneHeld(from time.Duration) time.Duration {
	held := map[string]bool{}
	var total time.Duration
	var since time.Time
	start := t0.Add(from)
	seen := false
	for _, c := range s.heldLog {
		before := seen && !held["lb1"] && !held["lb2"]
		held[c.node] = c.held
		seen = seen || c.held
		after := seen && !held["lb1"] && !held["lb2"]
		switch {
		case !before && after:
			since = c.at
		case before && !after:
			if c.at.After(start) {
				total += c.at.Sub(later(since, start))
			}
		}
	}
	return total
}

// bothHeld is how long both nodes held the addresses at once after from.
func (s *pairSim) bothHeld(from time.Duration) time.Duration {
	held := map[string]bool{}
	var total time.Duration
	var since time.Time
	start := t0.Add(from)
	for _, c := range s.heldLog {
		before := held["lb1"] && held["lb2"]
		held[c.node] = c.held
		after := held["lb1"] && held["lb2"]
		switch {
		case !before && after:
			since = c.at
		case before && !after:
			if c.at.After(start) {
				total += c.at.Sub(later(since, start))
			}
		}
	}
	if held["lb1"] && held["lb2"] {
		total += s.now.Sub(later(since, start))
	}
	return total
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *pairSim) announcesSince(name string, from time.Duration) int {
	c := 0
	for _, at := range s.nodes[name].announces {
		if !at.Before(t0.Add(from)) {
			c++
		}
	}
	return c
}

func TestMachinePairPartitionAndHeal(t *testing.T) {
	cases := []struct {
		name string
		af   bool
		// restart lb1 during the partition, so that lb2 is active for
		// longer.
		restartOwner bool
		winner       string
	}{
		{name: "auto_failback, owner active for longer", af: true, winner: "lb1"},
		{name: "no auto_failback, owner active for longer", af: false, winner: "lb1"},
		{name: "auto_failback, owner restarted in the partition", af: true, restartOwner: true, winner: "lb1"},
		{name: "no auto_failback, owner restarted in the partition", af: false, restartOwner: true, winner: "lb2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newPairSim(t, c.af)
			s.boot("lb1")
			s.boot("lb2")
			s.run(3 * sec)
			s.expect("lb1")
			if got := s.acquiredAt("lb1", 0); got > 100*ms {
				t.Fatalf("lb1 acquired at %v: the owner should acquire as soon as both are heard", got)
			}

			s.up = false // the partition
			s.run(20 * sec)
			if at := s.acquiredAt("lb2", 3*sec); at < 0 || at > 3*sec+5*sec+1100*ms {
				t.Fatalf("lb2 took over at %v, want within deadtime (+ a keepalive) of the cut at 3s", at)
			}
			if c.restartOwner {
				// lb1 crashes and comes back with the addresses removed,
				// still cut off: it acquires after initdead.
				s.crash("lb1")
				s.setHeld(s.nodes["lb1"], false)
				s.boot("lb1")
				s.run(35 * sec)
			}
			for _, n := range []string{"lb1", "lb2"} {
				if st := s.nodes[n].m.State(); st != Active {
					t.Fatalf("in the partition %s is %v, want active (split brain)", n, st)
				}
			}

			heal := s.elapsed()
			s.up = true
			s.run(heal + 10*sec)
			s.expect(c.winner)
			loser := peerOf(c.winner)
			if d := s.bothHeld(heal); d > 2*sec {
				t.Fatalf("both held the group for %v after the heal, want at most two keepalives", d)
			}
			if n := s.announcesSince(c.winner, heal); n != 1 {
				t.Fatalf("the winner %s announced %d times after the heal, want once", c.winner, n)
			}
			if n := s.announcesSince(loser, heal); n != 0 {
				t.Fatalf("the loser %s announced %d times", loser, n)
			}
			var why string
			for _, tr := range s.nodes[loser].transitions {
				if tr.To == Releasing {
					why = tr.Reason
				}
			}
			if !strings.Contains(why, "split brain: "+c.winner+" keeps the group") {
				t.Fatalf("the loser's release reason %q", why)
			}
		})
	}
}

func TestMachinePairHandovers(t *testing.T) {
	t.Run("clean stop of the active: the standby acquires at once", func(t *testing.T) {
		s := newPairSim(t, false)
		s.boot("lb1")
		s.boot("lb2")
		s.run(3 * sec)
		s.expect("lb1")
		s.feed(s.nodes["lb1"], Shutdown{Now: s.now})
		stop := s.elapsed()
		s.run(stop + 2*sec)
		s.expect("lb2")
		if at := s.acquiredAt("lb2", stop); at-stop > 300*ms {
			t.Fatalf("lb2 acquired %v after the stop, want at once (acquisition 200ms + a step)", at-stop)
		}
		// Make before break: lb1 forwards until lb2 is active.
		if d := s.noneHeld(stop); d != 0 {
			t.Fatalf("neither held the group for %v during the handover", d)
		}
		if d := s.bothHeld(0); d == 0 || d > 300*ms {
			t.Fatalf("both held for %v, want an overlap of an acquisition (200ms here), a release (50ms) and a step", d)
		}
	})
	for _, af := range []bool{true, false} {
		t.Run(fmt.Sprintf("the owner returns, auto_failback %v", af), func(t *testing.T) {
			s := newPairSim(t, af)
			s.boot("lb2")
			s.run(12 * sec)
			s.expect("lb2")
			s.boot("lb1")
			back := s.elapsed()
			s.run(back + 10*sec)
			if !af {
				s.expect("lb2")
				return
			}
			s.expect("lb1")
			at := s.acquiredAt("lb1", back)
			if at-back > 2*sec {
				t.Fatalf("lb1 got the group back %v after its return, want without deadtime waits", at-back)
			}
			if d := s.noneHeld(back); d != 0 {
				t.Fatalf("neither held the group for %v during the failback", d)
			}
			if d := s.bothHeld(0); d == 0 || d > 300*ms {
				t.Fatalf("both held for %v during the failback, want an overlap of an acquisition (200ms here), a release (50ms) and a step", d)
			}
		})
	}
	t.Run("crash of the active and restart holding, no auto_failback: the survivor keeps", func(t *testing.T) {
		s := newPairSim(t, false)
		s.boot("lb1")
		s.boot("lb2")
		s.run(3 * sec)
		s.crash("lb1") // addresses left configured on lb1
		s.run(15 * sec)
		if n := s.nodes["lb2"]; !n.held || n.m.State() != Active {
			t.Fatalf("lb2 did not take over: state %v", n.m.State())
		}
		s.boot("lb1") // still holding: it must give way to the older claim
		s.run(25 * sec)
		s.expect("lb2")
	})
	t.Run("the owner fails to acquire: the other takes over at once, no failback while failed", func(t *testing.T) {
		s := newPairSim(t, true)
		s.nodes["lb1"].acqErr = errors.New("no such device enp0s3")
		s.boot("lb1")
		s.boot("lb2")
		s.run(3 * sec)
		s.expect("lb2")
		if at := s.acquiredAt("lb2", 0); at > 1*sec {
			t.Fatalf("lb2 acquired at %v, want as soon as lb1 said it failed", at)
		}
		s.run(9 * sec) // within lb1's backoff (initdead)
		s.expect("lb2")
		s.nodes["lb1"].acqErr = nil
		s.run(20 * sec) // backoff over: failback to the owner
		s.expect("lb1")
	})
}
