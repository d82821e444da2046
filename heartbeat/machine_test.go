package heartbeat

// Tests of the state machine on a fake clock: tables of events fed to one
// machine (the peer's messages made up), and a simulation of two machines
// talking through a link that can be cut, with fake resources that take
// time to add and remove the addresses.

import (
	"errors"
	"fmt"
	"slices"
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
				if a.Msg.Handover {
					hb += "+handover"
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
	state    State
	holding  bool
	since    time.Duration // ActiveSince, relative to start; ignored unless holding
	failed   bool
	owner    string // "" means lb1
	af       bool
	syncing  bool
	handover bool
	score    Score
}

// pending is this node's SyncPending event.
type pending struct{ on bool }

// score is this node's ScoreChanged event.
type score Score

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
	case score:
		return ScoreChanged{Now: now, Score: Score(e)}
	case hb:
		h.seq++
		owner := e.owner
		if owner == "" {
			owner = "lb1"
		}
		msg := Message{Kind: KindHeartbeat, From: peerOf(h.cfg.Node), State: e.state, Holding: e.holding,
			Failed: e.failed, Owner: owner, AutoFailback: e.af, Syncing: e.syncing, Handover: e.handover, Score: e.score,
			Generation: 7, Seq: h.seq}
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
		{name: "peer holds the group: standby", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 1 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 2 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, state: Standby},
			{at: 6 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, state: Standby},
			{at: 10 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, state: Standby},
			{at: 12 * sec, ev: hb{state: Active, holding: true, since: -time.Hour}, state: Standby},
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
		{name: "auto_failback: the non-owner forwards until the returning owner is active, then releases", cfg: pairCfg("lb2", true),
			steps: append(slices.Clone(lb2Active),
				mstep{at: 30 * sec, ev: hb{state: Init, af: true}, want: []string{"alive"}, state: Active},
				mstep{at: 30100 * ms, ev: hb{state: Standby, af: true}, state: Active},
				mstep{at: 30200 * ms, ev: hb{state: Acquiring, holding: true, af: true}, state: Active},
				mstep{at: 30400 * ms, ev: hb{state: Active, holding: true, af: true}, want: []string{"split lb1", "active->releasing", "release", "hb releasing+holding"}, state: Releasing, beats: true},
				mstep{at: 30450 * ms, ev: rel, want: []string{"releasing->standby", "hb standby"}, state: Standby, beats: true},
			)},
		{name: "the owner takes the group back while the peer forwards, once its table is synced", cfg: pairCfg("lb1", true),
			steps: []mstep{
				{at: 0, ev: hb{state: Active, holding: true, since: -time.Hour, af: true}, want: []string{"alive", "init->standby"}, state: Standby},
				{at: 10 * ms, ev: pending{true}, want: []string{"hb standby+syncing"}, state: Standby, beats: true},
				{at: 20 * ms, ev: hb{state: Active, holding: true, since: -time.Hour, af: true}, state: Standby},
				{at: 30 * ms, ev: pending{false}, want: []string{"standby->acquiring", "acquire", "hb acquiring+holding"}, state: Acquiring, beats: true},
				{at: 200 * ms, ev: ok, want: []string{"acquiring->active", "split lb1"}, state: Active},
				{at: 220 * ms, ev: hb{state: Releasing, holding: true, af: true}, state: Active},
				{at: 240 * ms, ev: hb{state: Standby, af: true}, want: []string{"announce"}, state: Active},
			}},
		{name: "the owner waits until its checks find as many real servers healthy as the peer's", cfg: pairCfg("lb1", true),
			steps: []mstep{
				{at: 0, ev: hb{state: Active, holding: true, since: -time.Hour, af: true, score: Score{Healthy: 2}}, want: []string{"alive", "init->standby"}, state: Standby},
				{at: 20 * ms, ev: hb{state: Active, holding: true, since: -time.Hour, af: true, score: Score{Healthy: 2}}, state: Standby},
				{at: 30 * ms, ev: score{Healthy: 1}, state: Standby},
				{at: 40 * ms, ev: hb{state: Active, holding: true, since: -time.Hour, af: true, score: Score{Healthy: 2}}, state: Standby},
				{at: 50 * ms, ev: score{Healthy: 2}, want: []string{"standby->acquiring", "acquire"}, state: Acquiring},
			}},
		{name: "no auto_failback: a node reaching more ping nodes takes the group", cfg: pairCfg("lb2", false),
			steps: []mstep{
				{at: 0, ev: hb{state: Active, holding: true, since: -time.Hour, score: Score{Reach: 1, Healthy: 2}}, want: []string{"alive", "init->standby"}, state: Standby},
				{at: 10 * ms, ev: score{Reach: 1, Healthy: 2}, state: Standby},
				{at: 20 * ms, ev: hb{state: Active, holding: true, since: -time.Hour, score: Score{Reach: 0, Healthy: 2}}, want: []string{"standby->acquiring", "acquire"}, state: Acquiring},
			}},
		{name: "neither holds: the node reaching more ping nodes acquires, owner or not", cfg: pairCfg("lb2", true),
			steps: []mstep{
				{at: 0, ev: score{Reach: 1}, state: Init},
				{at: 10 * ms, ev: hb{state: Standby, af: true}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			}},
		{name: "neither holds: the owner reaching fewer ping nodes waits", cfg: pairCfg("lb1", true),
			steps: []mstep{
				{at: 10 * ms, ev: hb{state: Standby, af: true, score: Score{Reach: 1}}, want: []string{"alive", "init->standby"}, state: Standby},
				{at: 30 * ms, ev: hb{state: Standby, af: true, score: Score{Reach: 1}}, state: Standby},
			}},
		{name: "no auto_failback: more healthy real servers take the group only once synced", cfg: pairCfg("lb2", false),
			steps: []mstep{
				{at: 0, ev: hb{state: Active, holding: true, since: -time.Hour, score: Score{Healthy: 1}}, want: []string{"alive", "init->standby"}, state: Standby},
				{at: 5 * ms, ev: pending{true}, state: Standby},
				{at: 10 * ms, ev: score{Healthy: 2}, state: Standby},
				{at: 20 * ms, ev: pending{false}, want: []string{"standby->acquiring", "acquire"}, state: Acquiring},
			}},
		{name: "no auto_failback: the non-owner keeps the group", cfg: pairCfg("lb2", false),
			steps: append(slices.Clone(lb2Active),
				mstep{at: 30 * sec, ev: hb{state: Init}, want: []string{"alive"}, state: Active},
				mstep{at: 30100 * ms, ev: hb{state: Standby}, state: Active},
				mstep{at: 34 * sec, ev: hb{state: Standby}, state: Active},
				mstep{at: 38 * sec, ev: hb{state: Standby}, state: Active},
			)},
		{name: "auto_failback: an owner that failed to acquire does not take the group back", cfg: pairCfg("lb1", true),
			steps: []mstep{
				{at: 0, ev: hb{state: Standby, af: true}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
				{at: 10 * ms, ev: Acquired{Err: errors.New("no such device")}, want: []string{"acquiring->releasing", "release"}, state: Releasing},
				{at: 20 * ms, ev: rel, want: []string{"releasing->standby"}, state: Standby},
				{at: 1 * sec, ev: hb{state: Active, holding: true, since: 500 * ms, af: true}, state: Standby},
				{at: 2 * sec, ev: hb{state: Active, holding: true, since: 500 * ms, af: true}, state: Standby},
			}},
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
		{claim{"lb1", 100, "lb1", true, Score{}}, claim{"lb2", 50, "lb1", true, Score{}}, "lb1"},
		{claim{"lb1", 100, "lb1", false, Score{}}, claim{"lb2", 50, "lb1", false, Score{}}, "lb2"},
		{claim{"lb1", 100, "lb1", true, Score{}}, claim{"lb2", 50, "lb1", false, Score{}}, "lb2"}, // auto_failback must be on both sides
		{claim{"lb1", 0, "lb1", false, Score{}}, claim{"lb2", 50, "lb1", false, Score{}}, "lb2"},  // not active yet counts as latest
		{claim{"lb1", 50, "lb1", false, Score{}}, claim{"lb2", 50, "lb1", false, Score{}}, "lb1"},
		{claim{"lb1", 50, "lb2", false, Score{}}, claim{"lb2", 50, "lb2", false, Score{}}, "lb2"},
		{claim{"lb1", 50, "lb1", true, Score{}}, claim{"lb2", 40, "lb2", true, Score{}}, "lb2"}, // owners disagree: by time
		{claim{"lb1", 50, "lb1", true, Score{}}, claim{"lb2", 50, "lb2", true, Score{}}, "lb1"}, // ... then by name
		{claim{"b", 0, "x", false, Score{}}, claim{"a", 0, "y", false, Score{}}, "a"},
		// the better score first: ping nodes reached, then healthy real servers
		{claim{"lb1", 100, "lb1", true, Score{Healthy: 0}}, claim{"lb2", 50, "lb1", true, Score{Healthy: 2}}, "lb2"},
		{claim{"lb1", 100, "lb1", false, Score{Reach: 1}}, claim{"lb2", 50, "lb1", false, Score{Healthy: 9}}, "lb1"},
		{claim{"lb1", 100, "lb1", true, Score{Reach: 1, Healthy: 2}}, claim{"lb2", 50, "lb1", true, Score{Reach: 1, Healthy: 2}}, "lb1"},
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
			{at: 5 * sec, ev: stop, want: []string{"hb active+holding+handover"}, state: Active, beats: true},
			{at: 5100 * ms, ev: hb{state: Acquiring, holding: true}, state: Active},
			{at: 5300 * ms, ev: hb{state: Active, holding: true, since: 5300 * ms}, want: []string{"active->releasing", "release", "hb releasing+holding"}, state: Releasing, beats: true},
			{at: 5350 * ms, ev: rel, want: []string{"releasing->stopped", "leaving"}, state: Stopped, beats: true},
			{at: 6 * sec, ev: tick, state: Stopped, beats: true},
			{at: 7 * sec, ev: hb{state: Standby}, state: Stopped, beats: true},
		}},
		{name: "active: a peer that does not take the group within 2 deadtimes is left it the old way", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Init}, want: []string{"alive", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 1200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
			{at: 3 * sec, ev: hb{state: Standby}, state: Active},
			{at: 5 * sec, ev: stop, state: Active},
			{at: 14 * sec, ev: hb{state: Standby}, state: Active},
			{at: 15 * sec, ev: tick, want: []string{"active->releasing", "release"}, state: Releasing},
			{at: 15050 * ms, ev: rel, want: []string{"releasing->stopped", "leaving"}, state: Stopped},
		}},
		{name: "active, the peer dead: release at once", cfg: pairCfg("lb1", false), steps: []mstep{
			{at: 0, ev: tick, state: Init},
			{at: 10 * sec, ev: tick, want: []string{"dead", "init->acquiring", "acquire"}, state: Acquiring},
			{at: 10200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
			{at: 11 * sec, ev: stop, want: []string{"active->releasing", "release"}, state: Releasing},
		}},
		{name: "standby: the peer hands over: acquire at once", cfg: pairCfg("lb2", false), steps: []mstep{
			{at: 1 * sec, ev: hb{state: Active, holding: true}, want: []string{"alive", "init->standby"}, state: Standby},
			{at: 2 * sec, ev: hb{state: Active, holding: true, handover: true}, want: []string{"standby->acquiring", "acquire"}, state: Acquiring},
			{at: 2200 * ms, ev: ok, want: []string{"acquiring->active"}, state: Active},
			{at: 2220 * ms, ev: hb{state: Active, holding: true, handover: true}, state: Active},
			{at: 2240 * ms, ev: leave{}, want: []string{"left", "announce"}, state: Active},
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

// TestMachineHandover: Handover (the data plane's handover window) is true
// while the group moves between two live nodes, on both sides, and false
// in a takeover of a dead peer's group and once the move is over.
func TestMachineHandover(t *testing.T) {
	type hstep struct {
		at       time.Duration
		ev       any
		handover bool
	}
	for _, c := range []struct {
		name  string
		cfg   Config
		steps []hstep
	}{
		{"the old holder in a failback", pairCfg("lb2", true), []hstep{
			{10 * sec, tick, false}, // peer never heard: a takeover, no window
			{10200 * ms, ok, false},
			{30 * sec, hb{state: Init, af: true}, false},
			{30100 * ms, hb{state: Standby, af: true}, false},
			{30200 * ms, hb{state: Acquiring, holding: true, af: true}, true},
			{30400 * ms, hb{state: Active, holding: true, af: true}, true}, // releasing
			{30450 * ms, rel, false},
		}},
		{"the owner taking the group back", pairCfg("lb1", true), []hstep{
			{0, hb{state: Active, holding: true, since: -time.Hour, af: true}, false},
			{30 * ms, hb{state: Active, holding: true, since: -time.Hour, af: true}, true}, // acquiring
			{200 * ms, ok, false}, // active, the peer still says active
			{220 * ms, hb{state: Releasing, holding: true, af: true}, true},
			{240 * ms, hb{state: Standby, af: true}, false},
		}},
		{"a clean stop hands over", pairCfg("lb1", true), []hstep{
			{0, hb{state: Standby, af: true}, true}, // the owner acquires at start, the peer alive
			{10 * ms, ok, false},
			{20 * ms, hb{state: Standby, af: true}, false},
			{30 * ms, stop, true}, // handing over
			{40 * ms, hb{state: Acquiring, holding: true, af: true}, true},
		}},
		{"the peer dies while acquiring", pairCfg("lb1", true), []hstep{
			{0, hb{state: Active, holding: true, since: -time.Hour, af: true}, false},
			{30 * ms, hb{state: Acquiring, holding: true, af: true}, true},
			{10 * sec, tick, false},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.cfg, false)
			for i, s := range c.steps {
				h.m.Step(h.event(s.at, s.ev))
				if got := h.m.Handover(); got != s.handover {
					t.Fatalf("step %d (%v, %T %+v): state %v, Handover %v, want %v", i, s.at, s.ev, s.ev, h.m.State(), got, s.handover)
				}
			}
		})
	}
}

// TestMachineLinkAdvertisements: a node advertises its links until it
// hears its peer without the link-aware flag (an earlier release, which
// would refuse such messages), and again once the peer has it.
func TestMachineLinkAdvertisements(t *testing.T) {
	cfg := pairCfg("lb2", true)
	cfg.Links = sampleLinks()
	h := newHarness(t, cfg, false)
	sent := func(ev Event) (aware bool, links int) {
		t.Helper()
		for _, a := range h.m.Step(ev) {
			if s, ok := a.(Send); ok {
				aware, links = s.Msg.LinkAware, len(s.Msg.Links)
			}
		}
		return
	}
	if aware, n := sent(h.event(0, tick)); !aware || n != 2 {
		t.Fatalf("before the peer is heard: link-aware %v, %d links; want true, 2", aware, n)
	}
	old := h.event(100*ms, hb{state: Active, holding: true, since: -time.Hour, af: true})
	if aware, n := sent(old); aware || n != 0 {
		t.Fatalf("after a message without the flag: link-aware %v, %d links; want neither", aware, n)
	}
	r := h.event(200*ms, hb{state: Active, holding: true, since: -time.Hour, af: true}).(Received)
	r.Msg.LinkAware = true
	h.m.Step(r)
	if a, n := sent(h.event(1200*ms, tick)); !a || n != 2 {
		t.Fatalf("after a link-aware message: link-aware %v, %d links; want true, 2", a, n)
	}
}
