package heartbeat

// Tests of the state machine on a fake clock: tables of events fed to one
// machine (the peer's messages made up), and a simulation of two machines
// talking through a link that can be cut, with fake resources that take
// time to add and remove the addresses.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// pairCfg is the seed's pair with ha.cf's defaults (keepalive 1s, deadtime
// 5s, warntime 2.5s, initdead 10s); lb1 owns the group.
func pairCfg(node string, autoFailback bool) Config {
	return Config{Node: node, Nodes: []string{"lb1", "lb2"}, Owner: "lb1", AutoFailback: autoFailback}
}

func peerOf(node string) string {
	if node == "lb1" {
		return "lb2"
	}
	return "lb1"
}

// summary renders actions compactly; heartbeats only if beats is set.
func summary(acts []Action, beats bool) []string {
	var s []string
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			if a.Msg.Kind == KindLeaving {
				s = append(s, "leaving")
			} else if beats {
				hb := "hb " + a.Msg.State.String()
				if a.Msg.Holding {
					hb += "+holding"
				}
				if a.Msg.Failed {
					hb += "+failed"
				}
				if a.Msg.Syncing {
					hb += "+syncing"
				}
				s = append(s, hb)
			}
		case Acquire:
			s = append(s, "acquire")
		case Release:
			s = append(s, "release")
		case Announce:
			s = append(s, "announce")
		case Warn:
			s = append(s, fmt.Sprintf("warn %v", a.Late))
		case PeerDead:
			if a.Left {
				s = append(s, "left")
			} else {
				s = append(s, "dead")
			}
		case PeerAlive:
			s = append(s, "alive")
		case Transition:
			s = append(s, a.From.String()+"->"+a.To.String())
		case Mismatch:
			s = append(s, "mismatch")
		case SplitBrain:
			s = append(s, "split "+a.Winner)
		default:
			s = append(s, fmt.Sprintf("%T", a))
		}
	}
	return s
}

// hb is a made-up message from the peer (Now and Seq filled in by the
// harness); since is relative to the harness's start.
type hb struct {
	state   State
	holding bool
	since   time.Duration // ActiveSince, relative to start; ignored unless holding
	failed  bool
	owner   string // "" means lb1
	af      bool
	syncing bool
}

// pending is this node's SyncPending event.
type pending struct{ on bool }

// leave is the peer's leaving message.
type leave struct{}

// mstep is one row of a machine table: at a time after start, an event
// (Tick, hb, leave, Acquired, Released or Shutdown; Now filled in), and
// the expected actions (heartbeats left out unless beats) and state.
type mstep struct {
	at    time.Duration
	ev    any
	want  []string
	state State
	beats bool
}

type mcase struct {
	name    string
	cfg     Config
	holding bool
	steps   []mstep
}

// harness drives one machine.
type harness struct {
	t   *testing.T
	m   *Machine
	cfg Config
	seq uint64
}

func newHarness(t *testing.T, cfg Config, holding bool) *harness {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, m: NewMachine(cfg, t0, holding), cfg: cfg}
}

func (h *harness) event(at time.Duration, ev any) Event {
	now := t0.Add(at)
	switch e := ev.(type) {
	case Tick:
		return Tick{Now: now}
	case Acquired:
		return Acquired{Now: now, Err: e.Err}
	case Released:
		return Released{Now: now, Err: e.Err}
	case Shutdown:
		return Shutdown{Now: now}
	case pending:
		return SyncPending{Now: now, Pending: e.on}
	case hb:
		h.seq++
		owner := e.owner
		if owner == "" {
			owner = "lb1"
		}
		msg := Message{Kind: KindHeartbeat, From: peerOf(h.cfg.Node), State: e.state, Holding: e.holding,
			Failed: e.failed, Owner: owner, AutoFailback: e.af, Syncing: e.syncing, Generation: 7, Seq: h.seq}
		if e.holding && (e.state == Active || e.state == Init) {
			msg.ActiveSince = t0.Add(e.since)
		}
		return Received{Msg: msg, Now: now}
	case leave:
		h.seq++
		return Received{Msg: Message{Kind: KindLeaving, From: peerOf(h.cfg.Node), State: Stopped, Owner: "lb1", Generation: 7, Seq: h.seq}, Now: now}
	}
	h.t.Fatalf("unknown event %T", ev)
	return nil
}

func runTable(t *testing.T, cases []mcase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.cfg, c.holding)
			for i, s := range c.steps {
				// A peer heartbeat as a Tick at the same instant as the
				// event makes the table's times those of the events.
				got := summary(h.m.Step(h.event(s.at, s.ev)), s.beats)
				if !slices.Equal(got, s.want) {
					t.Fatalf("step %d (%v, %T %+v): actions %q, want %q", i, s.at, s.ev, s.ev, got, s.want)
				}
				if h.m.State() != s.state {
					t.Fatalf("step %d (%v): state %v, want %v", i, s.at, h.m.State(), s.state)
				}
			}
		})
	}
}

var (
	tick = Tick{}
	ok   = Acquired{}
	rel  = Released{}
	stop = Shutdown{}
	ms   = time.Millisecond
	sec  = time.Second
)

func TestMachineStartup(t *testing.T) {
	runTable(t, []mcase{
		{name: "alone, the owner: acquire after initdead", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 9990 * ms, ev: tick, state: Init},
			{at: 10 * sec, ev: tick, want: []string{"dead", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 10200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
		}},
		{name: "alone, not the owner: acquire after initdead too", cfg: pairCfg("lb2", true), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 10 * sec, ev: tick, want: []string{"dead", "init->acquiring", "acquire"}, state: Acquiring},
		}},
		{name: "peer holds the group: standby", cfg: pairCfg("lb1", true), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Active, holding: true, since: -time.Hour, af: true}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 2 * sec, ev: hb{state: Active, holding: true, since: -time.Hour, af: true}, state: Standby},
			{at: 6 * sec, ev: hb{state: Active, holding: true, since: -time.Hour, af: true}, state: Standby},
			{at: 10 * sec, ev: hb{state: Active, holding: true, since: -time.Hour, af: true}, state: Standby},
			{at: 12 * sec, ev: hb{state: Active, holding: true, since: -time.Hour, af: true}, state: Standby},
		}},
		{name: "peer holds nothing: the owner acquires at once", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 300 * ms, ev: hb{state: Init}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 400 * ms, ev: hb{state: Standby}, state: Acquiring},
			{at: 500 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
		}},
		{name: "peer holds nothing: the other waits for the owner", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 300 * ms, ev: hb{state: Init}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 400 * ms, ev: hb{state: Acquiring, holding: true}, state: Standby},
			{at: 1400 * ms, ev: hb{state: Active, holding: true, since: 500 * ms}, state: Standby},
			{at: 5 * sec, ev: hb{state: Active, holding: true, since: 500 * ms}, state: Standby},
		}},
		{name: "the owner still holds nothing after initdead: the other acquires", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Standby}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 4 * sec, ev: hb{state: Standby}, state: Standby},
			{at: 8 * sec, ev: hb{state: Standby}, state: Standby},
			{at: 10990 * ms, ev: hb{state: Standby}, state: Standby},
			{at: 11 * sec, ev: tick, want: []string{"standby->acquiring", "acquire"}, state: Acquiring},
		}},
		{name: "the owner says it failed: the other acquires at once", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Standby, failed: true}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
		}},
		{name: "the peer leaves during start-up: acquire at once", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Init}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 2 * sec, ev: leave{}, want: []string{"left", "standby->acquiring", "acquire"}, state: Acquiring},
		}},
		{name: "the peer heard just before initdead", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 9 * sec, ev: hb{state: Active, holding: true, since: -time.Minute}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 10 * sec, ev: tick, state: Standby},
		}},
		{name: "the peer heard after initdead: it is alive again", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 10 * sec, ev: tick, want: []string{"dead", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 10100 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
			{at: 11 * sec, ev: hb{state: Init}, want: []string{"alive"}, state: Active},
		}},
	})
}

func TestMachineCrashRestart(t *testing.T) {
	runTable(t, []mcase{
		{name: "alone: keep the addresses after initdead, announce, no acquire", cfg: pairCfg("lb2", false), holding: true, steps: []mstep{
			{at: 0, ev: tick, want: []string{"hb init+holding"}, state: Init, beats: true},
			{at: 10 * sec, ev: tick, want: []string{"dead", "init->active", "announce", "hb active+holding"}, state: Active, beats: true},
		}},
		{name: "peer holds nothing: keep at once", cfg: pairCfg("lb2", false), holding: true, steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Standby}, want: []string{"alive", "init->active", "announce"}, state: Active},
		}},
		{name: "peer active for longer, no auto_failback: release", cfg: pairCfg("lb1", false), holding: true, steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Active, holding: true, since: -time.Minute}, want: []string{"alive", "split lb2", "init->releasing", "release"}, state: Releasing},
			{at: 1100 * ms, ev: rel, want: []string{"releasing->standby", "hb standby"}, state: Standby, beats: true},
		}},
		{name: "peer active, auto_failback, this node the owner: keep", cfg: pairCfg("lb1", true), holding: true, steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Active, holding: true, since: -time.Minute, af: true}, want: []string{"alive", "split lb1", "init->active"}, state: Active},
			{at: 2 * sec, ev: hb{state: Active, holding: true, since: -time.Minute, af: true}, state: Active},
			{at: 3 * sec, ev: hb{state: Releasing, holding: true, af: true}, state: Active},
			{at: 3100 * ms, ev: hb{state: Standby, af: true}, want: []string{"announce"}, state: Active},
			{at: 4 * sec, ev: hb{state: Standby, af: true}, state: Active},
		}},
		{name: "peer active, auto_failback, this node not the owner: release", cfg: pairCfg("lb2", true), holding: true, steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Active, holding: true, since: 500 * ms, af: true}, want: []string{"alive", "split lb1", "init->releasing", "release"}, state: Releasing},
		}},
		{name: "peer releasing: keep", cfg: pairCfg("lb2", false), holding: true, steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Releasing, holding: true}, want: []string{"alive", "init->active"}, state: Active},
			{at: 1100 * ms, ev: hb{state: Standby}, want: []string{"announce"}, state: Active},
		}},
		{name: "peer acquiring: wait until it is active, then the older claim keeps", cfg: pairCfg("lb2", false), holding: true, steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Acquiring, holding: true}, want: []string{"alive"}, state: Init},
			{at: 2 * sec, ev: hb{state: Acquiring, holding: true}, state: Init},
			// The peer became active at 2.5s; this node holds since its
			// start (0s): this node's claim is older.
			{at: 3 * sec, ev: hb{state: Active, holding: true, since: 2500 * ms}, want: []string{"split lb2", "init->active"}, state: Active},
			{at: 3100 * ms, ev: hb{state: Releasing, holding: true}, state: Active},
			{at: 3200 * ms, ev: hb{state: Standby}, want: []string{"announce"}, state: Active},
		}},
		{name: "shutdown while holding at start: release, then leave", cfg: pairCfg("lb2", false), holding: true, steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: stop, want: []string{"init->releasing", "release"}, state: Releasing},
			{at: 1100 * ms, ev: rel, want: []string{"releasing->stopped", "leaving"}, state: Stopped},
		}},
	})
}

func TestMachinePeerDeath(t *testing.T) {
	activePeer := hb{state: Active, holding: true, since: -time.Hour}
	runTable(t, []mcase{
		{name: "standby: warn at warntime once, take over at deadtime", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: activePeer, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 2 * sec, ev: activePeer, state: Standby},
			{at: 4490 * ms, ev: tick, state: Standby},
			{at: 4500 * ms, ev: tick, want: []string{"warn 2.5s"}, state: Standby},
			{at: 5 * sec, ev: tick, state: Standby},
			{at: 6990 * ms, ev: tick, state: Standby},
			{at: 7 * sec, ev: tick, want: []string{"dead", "standby->acquiring", "acquire"}, state: Acquiring},
			{at: 7200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
		}},
		{name: "a new late episode warns again", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 1 * sec, ev: activePeer, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 3500 * ms, ev: tick, want: []string{"warn 2.5s"}, state: Standby},
			{at: 4 * sec, ev: activePeer, state: Standby},
			{at: 6 * sec, ev: tick, state: Standby},
			{at: 7 * sec, ev: tick, want: []string{"warn 3s"}, state: Standby},
			{at: 8 * sec, ev: activePeer, state: Standby},
		}},
		{name: "active: a dead standby changes nothing; its return is noticed", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Init}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 1200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
			{at: 2 * sec, ev: hb{state: Standby}, state: Active},
			{at: 4500 * ms, ev: tick, want: []string{"warn 2.5s"}, state: Active},
			{at: 7 * sec, ev: tick, want: []string{"dead"}, state: Active},
			{at: 30 * sec, ev: hb{state: Init}, want: []string{"alive"}, state: Active},
			{at: 31 * sec, ev: hb{state: Standby}, state: Active},
		}},
		{name: "never acquire while the peer is heard holding", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 1 * sec, ev: activePeer, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 5 * sec, ev: activePeer, state: Standby},
			{at: 9 * sec, ev: hb{state: Acquiring, holding: true}, state: Standby},
			{at: 13 * sec, ev: hb{state: Releasing, holding: true}, state: Standby},
			{at: 17 * sec, ev: activePeer, state: Standby},
			{at: 21 * sec, ev: hb{state: Init, holding: true, since: 20 * sec}, state: Standby},
		}},
	})
}

func TestMachineFailback(t *testing.T) {
	// lb2 alone: it takes the group after initdead.
	lb2Active := []mstep{
		{at: 10 * sec, ev: tick, want: []string{"dead", "init->acquiring", "acquire"}, state: Acquiring},
		{at: 10200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
	}
	runTable(t, []mcase{
		{name: "auto_failback: the non-owner releases to the returning owner, and says so at once", cfg: pairCfg("lb2", true),
			steps: append(slices.Clone(lb2Active),
				mstep{at: 30 * sec, ev: hb{state: Init, af: true}, want: []string{"alive"}, state: Active},
				mstep{at: 30100 * ms, ev: hb{state: Standby, af: true}, want: []string{"active->releasing", "release", "hb releasing+holding"}, state: Releasing, beats: true},
				mstep{at: 30150 * ms, ev: rel, want: []string{"releasing->standby", "hb standby"}, state: Standby, beats: true},
				mstep{at: 30300 * ms, ev: hb{state: Acquiring, holding: true, af: true}, state: Standby},
			)},
		{name: "auto_failback waits for the owner's connection table (conntrack sync)", cfg: pairCfg("lb2", true),
			steps: append(slices.Clone(lb2Active),
				mstep{at: 30 * sec, ev: hb{state: Init, af: true, syncing: true}, want: []string{"alive"}, state: Active},
				mstep{at: 30100 * ms, ev: hb{state: Standby, af: true, syncing: true}, state: Active},
				mstep{at: 31 * sec, ev: hb{state: Standby, af: true, syncing: true}, state: Active},
				mstep{at: 31100 * ms, ev: hb{state: Standby, af: true}, want: []string{"active->releasing", "release"}, state: Releasing},
			)},
		{name: "a node still syncing says so at once, and when done", cfg: pairCfg("lb1", true),
			steps: []mstep{
				{at: 0, ev: hb{state: Active, holding: true, af: true, owner: "lb1"}, want: []string{"alive", "init->standby"}, state: Standby},
				{at: 10 * ms, ev: pending{true}, want: []string{"hb standby+syncing"}, state: Standby, beats: true},
				{at: 20 * ms, ev: pending{false}, want: []string{"hb standby"}, state: Standby, beats: true},
			}},
		{name: "no auto_failback: the non-owner keeps the group", cfg: pairCfg("lb2", false),
			steps: append(slices.Clone(lb2Active),
				mstep{at: 30 * sec, ev: hb{state: Init}, want: []string{"alive"}, state: Active},
				mstep{at: 30100 * ms, ev: hb{state: Standby}, state: Active},
				mstep{at: 34 * sec, ev: hb{state: Standby}, state: Active},
				mstep{at: 38 * sec, ev: hb{state: Standby}, state: Active},
			)},
		{name: "auto_failback: no failback to an owner that failed to acquire", cfg: pairCfg("lb2", true),
			steps: append(slices.Clone(lb2Active),
				mstep{at: 30 * sec, ev: hb{state: Standby, failed: true, af: true}, want: []string{"alive"}, state: Active},
				mstep{at: 34 * sec, ev: hb{state: Standby, failed: true, af: true}, state: Active},
				mstep{at: 38 * sec, ev: hb{state: Standby, af: true}, want: []string{"active->releasing", "release"}, state: Releasing},
			)},
		{name: "auto_failback but the owner disagrees on the owner: mismatch, no failback", cfg: pairCfg("lb2", true),
			steps: append(slices.Clone(lb2Active),
				mstep{at: 30 * sec, ev: hb{state: Standby, owner: "lb2", af: true}, want: []string{"alive", "mismatch"}, state: Active},
				mstep{at: 31 * sec, ev: hb{state: Standby, owner: "lb2", af: true}, state: Active},
			)},
		{name: "the owner takes the group as soon as the peer says it released", cfg: pairCfg("lb1", true), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Active, holding: true, since: -time.Hour, af: true}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 1100 * ms, ev: hb{state: Releasing, holding: true, af: true}, state: Standby},
			{at: 1150 * ms, ev: hb{state: Standby, af: true}, want: []string{"standby->acquiring", "acquire"}, state: Acquiring},
			{at: 1350 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
			{at: 1400 * ms, ev: hb{state: Standby, af: true}, state: Active},
		}},
		{name: "the owner without auto_failback waits in standby", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 5 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, state: Standby},
			{at: 9 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, state: Standby},
			{at: 13 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, state: Standby},
		}},
	})
}

func TestMachineSplitBrain(t *testing.T) {
	// This node acquires at 10s (alone), then hears its peer active too.
	cases := []struct {
		name      string
		node      string
		af        bool
		peerSince time.Duration
		keep      bool
	}{
		{"no auto_failback, the peer active for longer: release", "lb1", false, 5 * sec, false},
		{"no auto_failback, this node active for longer: keep", "lb1", false, 15 * sec, true},
		{"no auto_failback, not the owner, active for longer: keep", "lb2", false, 15 * sec, true},
		{"no auto_failback, a tie: the owner keeps", "lb1", false, 10 * sec, true},
		{"no auto_failback, a tie: the other releases", "lb2", false, 10 * sec, false},
		{"auto_failback: the owner keeps though active for less long", "lb1", true, 5 * sec, true},
		{"auto_failback: the other releases though active for longer", "lb2", true, 15 * sec, false},
	}
	for _, c := range cases {
		peer := hb{state: Active, holding: true, since: c.peerSince, af: c.af}
		steps := []mstep{
			{at: 10 * sec, ev: tick, want: []string{"dead", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 10 * sec, ev: ok, want: []string{"acquiring->active"}, state: Active},
		}
		if c.keep {
			steps = append(steps,
				mstep{at: 20 * sec, ev: peer, want: []string{"alive", "split " + c.node}, state: Active},
				mstep{at: 21 * sec, ev: peer, state: Active}, // reported once
				mstep{at: 22 * sec, ev: hb{state: Releasing, holding: true, af: c.af}, state: Active},
				mstep{at: 22100 * ms, ev: hb{state: Standby, af: c.af}, want: []string{"announce"}, state: Active},
				mstep{at: 23 * sec, ev: hb{state: Standby, af: c.af}, state: Active}, // announced once
			)
		} else {
			steps = append(steps,
				mstep{at: 20 * sec, ev: peer, want: []string{"alive", "split " + peerOf(c.node), "active->releasing", "release"}, state: Releasing},
				mstep{at: 20100 * ms, ev: rel, want: []string{"releasing->standby"}, state: Standby},
				mstep{at: 21 * sec, ev: peer, state: Standby},
			)
		}
		runTable(t, []mcase{{name: c.name, cfg: pairCfg(c.node, c.af), steps: steps}})
	}
}

func TestSplitWinnerSymmetric(t *testing.T) {
	cases := []struct {
		a, b claim
		want string
	}{
		{claim{"lb1", 100, "lb1", true}, claim{"lb2", 50, "lb1", true}, "lb1"},
		{claim{"lb1", 100, "lb1", false}, claim{"lb2", 50, "lb1", false}, "lb2"},
		{claim{"lb1", 100, "lb1", true}, claim{"lb2", 50, "lb1", false}, "lb2"}, // auto_failback must be on both sides
		{claim{"lb1", 0, "lb1", false}, claim{"lb2", 50, "lb1", false}, "lb2"},  // not active yet counts as latest
		{claim{"lb1", 50, "lb1", false}, claim{"lb2", 50, "lb1", false}, "lb1"},
		{claim{"lb1", 50, "lb2", false}, claim{"lb2", 50, "lb2", false}, "lb2"},
		{claim{"lb1", 50, "lb1", true}, claim{"lb2", 40, "lb2", true}, "lb2"}, // owners disagree: by time
		{claim{"lb1", 50, "lb1", true}, claim{"lb2", 50, "lb2", true}, "lb1"}, // ... then by name
		{claim{"b", 0, "x", false}, claim{"a", 0, "y", false}, "a"},
	}
	for i, c := range cases {
		ab, ba := splitWinner(c.a, c.b), splitWinner(c.b, c.a)
		if ab != c.want || ba != c.want {
			t.Errorf("case %d: winner %q / %q (swapped), want %q", i, ab, ba, c.want)
		}
	}
}

func TestMachineShutdown(t *testing.T) {
	runTable(t, []mcase{
		{name: "active: release, then leave", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Init}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 1200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
			{at: 3 * sec, ev: hb{state: Standby}, state: Active},
			{at: 5 * sec, ev: stop, want: []string{"active->releasing", "release", "hb releasing+holding"}, state: Releasing, beats: true},
			{at: 5050 * ms, ev: rel, want: []string{"releasing->stopped", "leaving"}, state: Stopped, beats: true},
			{at: 6 * sec, ev: tick, state: Stopped, beats: true},
			{at: 7 * sec, ev: hb{state: Standby}, state: Stopped, beats: true},
		}},
		{name: "standby: leave at once", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Active, holding: true}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 2 * sec, ev: stop, want: []string{"standby->stopped", "leaving"}, state: Stopped, beats: true},
		}},
		{name: "init: leave at once", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 0, ev: stop, want: []string{"init->stopped", "leaving"}, state: Stopped, beats: true},
		}},
		{name: "acquiring: finish, release, then leave", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Init}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 1100 * ms, ev: stop, state: Acquiring},
			{at: 1200 * ms, ev: Acquired{Err: errors.New("context canceled")}, want: []string{"acquiring->releasing", "release"}, state: Releasing},
			{at: 1300 * ms, ev: rel, want: []string{"releasing->stopped", "leaving"}, state: Stopped},
		}},
		{name: "acquiring, done in time: active, release, leave", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Init}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 1100 * ms, ev: stop, state: Acquiring},
			{at: 1200 * ms, ev: ok, want: []string{"acquiring->active", "active->releasing", "release"}, state: Releasing},
			{at: 1300 * ms, ev: rel, want: []string{"releasing->stopped", "leaving"}, state: Stopped},
		}},
		{name: "releasing after a failed release: leave all the same", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Init}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 1200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
			{at: 2 * sec, ev: stop, want: []string{"active->releasing", "release"}, state: Releasing},
			{at: 2 * sec, ev: stop, state: Releasing},
			{at: 2100 * ms, ev: Released{Err: errors.New("netlink: no such device")}, want: []string{"releasing->stopped", "leaving"}, state: Stopped},
		}},
		{name: "the peer leaves while this node is standby: acquire at once", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Active, holding: true}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 2 * sec, ev: hb{state: Releasing, holding: true}, state: Standby},
			{at: 2050 * ms, ev: leave{}, want: []string{"left", "standby->acquiring", "acquire"}, state: Acquiring},
		}},
	})
}

func TestMachineAcquireFailure(t *testing.T) {
	fail := Acquired{Err: errors.New("add 192.168.56.10/24 to enp0s3: operation not permitted")}
	runTable(t, []mcase{
		{name: "alone: release what was added, standby, retry after initdead, then doubling", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 10 * sec, ev: tick, want: []string{"dead", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 10100 * ms, ev: fail, want: []string{"acquiring->releasing", "release", "hb releasing+holding+failed"}, state: Releasing, beats: true},
			{at: 10200 * ms, ev: rel, want: []string{"releasing->standby", "hb standby+failed"}, state: Standby, beats: true},
			{at: 20 * sec, ev: tick, state: Standby},
			{at: 20100 * ms, ev: tick, want: []string{"standby->acquiring", "acquire"}, state: Acquiring},
			{at: 20200 * ms, ev: fail, want: []string{"acquiring->releasing", "release"}, state: Releasing},
			{at: 20300 * ms, ev: rel, want: []string{"releasing->standby"}, state: Standby},
			{at: 40 * sec, ev: tick, state: Standby},
			{at: 40200 * ms, ev: tick, want: []string{"standby->acquiring", "acquire"}, state: Acquiring},
			{at: 40300 * ms, ev: ok, want: []string{"acquiring->active", "hb active+holding"}, state: Active, beats: true},
		}},
		{name: "the failed owner leaves the group to its alive peer", cfg: pairCfg("lb1", true), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Init, af: true}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 1100 * ms, ev: fail, want: []string{"acquiring->releasing", "release"}, state: Releasing},
			{at: 1200 * ms, ev: rel, want: []string{"releasing->standby"}, state: Standby},
			{at: 1300 * ms, ev: hb{state: Standby, af: true}, state: Standby},
			{at: 2 * sec, ev: hb{state: Acquiring, holding: true, af: true}, state: Standby},
			{at: 3 * sec, ev: hb{state: Active, holding: true, since: 2500 * ms, af: true}, state: Standby},
		}},
	})
}

func TestMachineStaleAndForeignMessages(t *testing.T) {
	h := newHarness(t, pairCfg("lb2", false), false)
	h.m.Step(Tick{Now: t0})
	step := func(at time.Duration, msg Message) []string {
		return summary(h.m.Step(Received{Msg: msg, Now: t0.Add(at)}), false)
	}
	beat := Message{Kind: KindHeartbeat, From: "lb1", State: Active, Holding: true, ActiveSince: t0, Owner: "lb1", Generation: 5, Seq: 10}
	if got := step(1*sec, beat); !slices.Equal(got, []string{"alive", "init->standby"}) {
		t.Fatalf("first heartbeat: %q", got)
	}
	leaving := Message{Kind: KindLeaving, From: "lb1", State: Stopped, Owner: "lb1", Generation: 5, Seq: 12}
	if got := step(2*sec, leaving); !slices.Equal(got, []string{"left", "standby->acquiring", "acquire"}) {
		t.Fatalf("leaving: %q", got)
	}
	// An older heartbeat arriving late on another link must not bring the
	// peer back.
	old := beat
	old.Seq = 11
	if got := step(2010*ms, old); len(got) != 0 {
		t.Fatalf("stale heartbeat: %q", got)
	}
	if p := h.m.Peers()[0]; p.Alive || !p.Left {
		t.Fatalf("peer after a stale heartbeat: %+v", p)
	}
	// Our own looped-back message and a stranger's change nothing.
	self := beat
	self.From, self.Seq = "lb2", 100
	stranger := beat
	stranger.From, stranger.Seq = "lb3", 100
	if got := step(2020*ms, self); len(got) != 0 {
		t.Fatalf("own message: %q", got)
	}
	if got := step(2030*ms, stranger); len(got) != 0 {
		t.Fatalf("stranger's message: %q", got)
	}
	// The peer restarted: a new generation is heard.
	back := Message{Kind: KindHeartbeat, From: "lb1", State: Init, Owner: "lb1", Generation: 6, Seq: 1}
	if got := step(3*sec, back); !slices.Equal(got, []string{"alive"}) {
		t.Fatalf("restarted peer: %q", got)
	}
}

func TestMachineHeartbeats(t *testing.T) {
	h := newHarness(t, Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: 100 * ms, Deadtime: 500 * ms}, false)
	var sent []time.Duration
	for at := time.Duration(0); at <= 2*sec; at += 10 * ms {
		for _, a := range h.m.Step(Tick{Now: t0.Add(at)}) {
			if s, ok := a.(Send); ok {
				sent = append(sent, at)
				if s.Msg.From != "lb1" || s.Msg.Owner != "lb1" || s.Msg.Kind != KindHeartbeat {
					t.Fatalf("heartbeat %+v", s.Msg)
				}
			}
		}
	}
	// 0..900ms every 100ms in Init; at 1s (initdead, 2*deadtime) the
	// transition sends one at once, then every 100ms.
	want := []time.Duration{}
	for at := time.Duration(0); at <= 2*sec; at += 100 * ms {
		want = append(want, at)
	}
	if !slices.Equal(sent, want) {
		t.Fatalf("heartbeats at %v, want %v", sent, want)
	}
	if h.m.State() != Acquiring {
		t.Fatalf("state %v, want acquiring", h.m.State())
	}
}

func TestMachineDeadline(t *testing.T) {
	h := newHarness(t, pairCfg("lb2", false), false)
	h.m.Step(Tick{Now: t0})
	if got, want := h.m.Deadline(), t0.Add(1*sec); !got.Equal(want) {
		t.Fatalf("deadline at start %v, want the next heartbeat %v", got, want)
	}
	h.m.Step(Received{Msg: Message{Kind: KindHeartbeat, From: "lb1", State: Active, Holding: true, ActiveSince: t0, Owner: "lb1", Seq: 1}, Now: t0.Add(900 * ms)})
	// The transition sent a heartbeat at 0.9s: next at 1.9s; the warn
	// deadline is 0.9s + 2.5s.
	if got, want := h.m.Deadline(), t0.Add(1900*ms); !got.Equal(want) {
		t.Fatalf("deadline %v, want %v", got, want)
	}
	for at := 1900 * ms; at <= 3400*ms; at += sec {
		h.m.Step(Tick{Now: t0.Add(at)})
	}
	if got, want := h.m.Deadline(), t0.Add(3400*ms); !got.Equal(want) {
		t.Fatalf("deadline %v, want the warn time %v", got, want)
	}
	h.m.Step(Tick{Now: t0.Add(3400 * ms)})
	h.m.Step(Tick{Now: t0.Add(3900 * ms)})
	if got, want := h.m.Deadline(), t0.Add(4900*ms); !got.Equal(want) {
		t.Fatalf("deadline %v, want %v", got, want)
	}
	h.m.Step(Tick{Now: t0.Add(4900 * ms)})
	if got, want := h.m.Deadline(), t0.Add(5900*ms); !got.Equal(want) {
		t.Fatalf("deadline %v, want the dead time %v", got, want)
	}
	h.m.Step(Shutdown{Now: t0.Add(5 * sec)})
	if !h.m.Deadline().IsZero() {
		t.Fatalf("deadline once stopped %v, want zero", h.m.Deadline())
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		err  string // "" if valid
		want Config // the defaults filled, if valid
	}{
		{name: "defaults", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1"},
			want: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: sec, Deadtime: 5 * sec, Warntime: 2500 * ms, Initdead: 10 * sec}},
		{name: "sub-second", cfg: Config{Node: "lb2", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: 100 * ms, Deadtime: 500 * ms},
			want: Config{Node: "lb2", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: 100 * ms, Deadtime: 500 * ms, Warntime: 250 * ms, Initdead: sec}},
		{name: "one node", cfg: Config{Node: "lb1", Nodes: []string{"lb1"}, Owner: "lb1"}, err: "want exactly 2 names (the pair), got 1"},
		{name: "three nodes", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2", "lb3"}, Owner: "lb1"}, err: "got 3"},
		{name: "twice the same", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb1"}, Owner: "lb1"}, err: "two distinct names"},
		{name: "node not in nodes", cfg: Config{Node: "lb3", Nodes: []string{"lb1", "lb2"}, Owner: "lb1"}, err: `node: "lb3" is not one of nodes`},
		{name: "owner missing", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}}, err: "owner: missing"},
		{name: "bad name", cfg: Config{Node: "lb 1", Nodes: []string{"lb 1", "lb2"}, Owner: "lb2"}, err: "want 1-64 letters, digits, '-' or '_', not starting with '_'"},
		{name: "keepalive not below deadtime", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: 5 * sec}, err: "keepalive 5s must be below deadtime 5s"},
		{name: "warntime not below deadtime", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Warntime: 6 * sec}, err: "warntime 6s must be below deadtime 5s"},
		{name: "initdead below deadtime", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Initdead: 2 * sec}, err: "initdead 2s must be at least deadtime 5s"},
		{name: "negative", cfg: Config{Node: "lb1", Nodes: []string{"lb1", "lb2"}, Owner: "lb1", Keepalive: -sec}, err: "keepalive: -1s is outside 10ms..1h0m0s"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := c.cfg
			err := cfg.Validate()
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(cfg) != fmt.Sprint(c.want) {
					t.Fatalf("got %+v, want %+v", cfg, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want one containing %q", err, c.err)
			}
		})
	}
}

// The pair simulation: two machines on one fake clock, exchanging messages
// over a link that can be cut, with fake resources.

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
		if at := s.acquiredAt("lb2", stop); at-stop > 100*ms {
			t.Fatalf("lb2 acquired %v after the stop, want at once (release 50ms + a step)", at-stop)
		}
		if d := s.bothHeld(0); d != 0 {
			t.Fatalf("both held for %v", d)
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
			if d := s.bothHeld(0); d != 0 {
				t.Fatalf("both held for %v during the handover", d)
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
