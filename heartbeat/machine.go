package heartbeat

// The peer protocol as a pure state machine: Heartbeat's rules for a pair
// of directors, deciding which of the two holds the floating resource group
// (the VIPs and the real servers' gateway). The Machine reads no clock,
// starts no goroutine and does no I/O: every Event carries the time it
// happened at, and Step answers with the Actions to carry out (send a
// heartbeat, acquire or release the addresses, log a warning). The runner
// (node.go) puts it on real time behind a Transport and Resources; the
// tests drive it with made-up times.
//
// Failure modes it is built for: a peer that falls silent (dead, or cut off
// by a partition), a peer that leaves cleanly, a peer that comes back, an
// acquisition that fails, a node restarted with the addresses still
// configured, and both nodes holding the group at once after a partition
// heals (split brain). In that last case both sides apply the same rule to
// the same two claims, so they agree on the one that keeps the group
// without a further round of messages.

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxBackoff caps the wait before this node tries again to acquire after
// failing to (see Machine); Initdead is used instead when it is longer.
const maxBackoff = 5 * time.Minute

// PeerStatus is what this node knows of its peer.
type PeerStatus struct {
	// Name is the peer's node name.
	Name string
	// Alive says the peer is heard: not silent for Deadtime and not left.
	Alive bool
	// Left says the peer's last word was that it stopped cleanly.
	Left bool
	// LastHeard is when the last valid message came (zero if never).
	LastHeard time.Time
	// Age is the time since LastHeard, as of the status (zero if never
	// heard).
	Age time.Duration
	// State and Holding are what the peer last said of itself.
	State   State
	Holding bool
}

// peer is the Machine's memory of its peer.
type peer struct {
	name         string
	heard        bool // a message came since start
	alive        bool
	left         bool
	deadReported bool // PeerDead was emitted and not yet answered by PeerAlive
	warned       bool // Warn was emitted in this late episode
	lastHeard    time.Time
	msg          Message   // the last heartbeat (or leaving message)
	orphanSince  time.Time // since when neither node holds the group while the peer is heard; zero if not so
	contested    bool      // the peer was heard holding while this node holds: announce once it lets go
	splitSeen    bool      // SplitBrain was reported for the current claim
	mismatch     string    // the last Mismatch detail reported
}

// Machine is the protocol's state machine for one node of the pair. It is
// not safe for concurrent use: the runner owns it.
//
// Rules, as Heartbeat's for two nodes ("holds" includes acquiring and
// releasing, and addresses found configured at start):
//
//   - Heartbeats go out every Keepalive in every state but Stopped, and at
//     once on every transition so that the peer reacts without waiting.
//   - Start-up (Init): if the peer is heard holding the group, Standby. If
//     it is heard holding nothing, the owner acquires and the other node
//     waits in Standby; if the owner still holds nothing Initdead later
//     (or says its acquisition failed), the other node acquires. If
//     nothing is heard for Initdead, or the peer says it is leaving,
//     acquire.
//   - Start-up holding the addresses (a crash left them configured): keep
//     them (Active, Announce) if the peer holds nothing or is not heard
//     within Initdead; if the peer is active too, the split-brain rule
//     decides.
//   - Standby: the peer silent for Deadtime (PeerDead) or leaving → acquire.
//     Never acquire while the peer is heard holding the group.
//   - Acquiring → Active only on Acquired without error. An error releases
//     what was added (Releasing → Standby) and makes this node "failed"
//     for a backoff (Initdead, doubling per consecutive failure, up to
//     5 minutes or Initdead): it says so in its heartbeats, does not
//     acquire while the peer is alive, and the peer takes the group at once
//     instead of waiting.
//   - Standby, the peer active and alive: take the group while the peer
//     still holds it (make before break; the peer then releases by the
//     split-brain rule) when this node reaches more ping nodes (Score), or,
//     once its connection table is synced, when it finds more real servers
//     healthy, or as the owner returning with auto_failback on both sides
//     and a score at least the peer's. Never while "failed".
//   - Shutdown while Active with the peer alive in Standby: say "handover"
//     in the heartbeats and keep forwarding; the peer acquires at once,
//     and this node releases when it sees the peer active (or after
//     2 x Deadtime, within 1-10 s). A handover claim is not a split brain.
//   - Split brain: this node Active (or holding at start) and the peer
//     Active (or holding at start). Exactly one keeps the group, by a rule
//     both sides compute alike (see splitWinner): the better Score; on
//     equal scores, with auto_failback on both sides, the owner; otherwise the one active for longer (earlier
//     ActiveSince); a tie goes to the owner (the lesser name if the two
//     disagree on the owner). The loser releases; the winner announces
//     (gratuitous ARPs) once, when the loser says it holds nothing any
//     more (or falls silent): announcing earlier could be undone by the
//     loser's stack answering ARP for an address it still has.
//   - Shutdown: release if holding, then send a leaving message and stop.
//     A peer receiving it acquires at once if it does not hold the group.
type Machine struct {
	cfg   Config
	start time.Time
	now   time.Time // the latest event's time; time never goes back here
	state State

	holding     bool      // the addresses are, or may be, configured here
	activeSince time.Time // when this node became the holder; zero if not
	stopping    bool      // Shutdown came; stop once the addresses are released
	releaseWhy  string    // why the current release started

	syncing bool  // the connection table is not complete yet (SyncPending)
	score   Score // this node's readiness to serve (ScoreChanged)

	handoverUntil time.Time // stopping while active: the peer has until then to take the group

	failures    int       // consecutive failed acquisitions
	failedUntil time.Time // no acquisition while the peer is alive before this

	nextBeat     time.Time
	transitioned bool // a transition happened in this Step: send a heartbeat now

	p peer
}

// NewMachine returns the machine of cfg.Node, started at start. holding
// says that the group's addresses are already configured on this node (it
// crashed or was killed while holding them). cfg should have passed
// Validate; NewMachine validates a copy itself (filling the defaults) and
// panics if that fails, which is a programming error.
func NewMachine(cfg Config, start time.Time, holding bool) *Machine {
	cfg.Nodes = slices.Clone(cfg.Nodes)
	if err := cfg.Validate(); err != nil {
		panic("heartbeat: NewMachine with an invalid config: " + err.Error())
	}
	m := &Machine{cfg: cfg, start: start, now: start, state: Init, nextBeat: start}
	m.p.name = cfg.peerName()
	if holding {
		m.holding = true
		m.activeSince = wallTime(start)
	}
	return m
}

// wallTime strips t's monotonic reading: ActiveSince is compared with the
// peer's, which travels as wall-clock nanoseconds.
func wallTime(t time.Time) time.Time { return time.Unix(0, t.UnixNano()) }

// State is this node's state.
func (m *Machine) State() State { return m.state }

// Holding says whether the group's addresses are, or may be, configured on
// this node (acquiring, active, releasing, or found configured at start).
func (m *Machine) Holding() bool { return m.holding }

// ActiveSince is when this node became the group's holder (zero if it is
// not): the time its split-brain claim is judged by.
func (m *Machine) ActiveSince() time.Time { return m.activeSince }

// Handover says whether the group is moving between the two nodes while
// both are up: this node or its peer (as last heard) is acquiring or
// releasing it, or the active node is handing it over before a clean
// stop. Both nodes may forward then (make before break), and a
// connection's packets may reach either: the daemon opens the data
// plane's handover window (peer forwarding) while it is true, and for a
// settle time after. False while the peer is not alive: a takeover of a
// dead peer's group has no one to hand packets to.
func (m *Machine) Handover() bool {
	p := &m.p
	if !p.alive {
		return false
	}
	moving := func(s State) bool { return s == Acquiring || s == Releasing }
	return moving(m.state) || m.handingOver() || moving(p.msg.State) || p.msg.Handover
}

// PeerLinks returns the peer's link advertisements as last heard, and
// whether anything was heard from it.
func (m *Machine) PeerLinks() ([]LinkAd, bool) { return m.p.msg.Links, m.p.heard }

// Peers describes the peer (one entry: the pair has one peer), its Age
// counted to the latest event's time.
func (m *Machine) Peers() []PeerStatus {
	p := &m.p
	ps := PeerStatus{Name: p.name, Alive: p.alive, Left: p.left, LastHeard: p.lastHeard, State: p.msg.State, Holding: p.msg.Holding}
	if p.heard {
		ps.Age = m.now.Sub(p.lastHeard)
	}
	return []PeerStatus{ps}
}

// Deadline is the next time at which a Tick may have something to do (a
// heartbeat due, the peer late or dead, a wait at an end); the zero time
// once Stopped. The runner sleeps until then unless another event comes.
func (m *Machine) Deadline() time.Time {
	if m.state == Stopped {
		return time.Time{}
	}
	d := m.nextBeat
	consider := func(t time.Time) {
		if t.After(m.now) && t.Before(d) {
			d = t
		}
	}
	p := &m.p
	if p.alive {
		if !p.warned {
			consider(p.lastHeard.Add(m.cfg.Warntime))
		}
		consider(p.lastHeard.Add(m.cfg.Deadtime))
	}
	if !p.heard || m.state == Init {
		consider(m.start.Add(m.cfg.Initdead))
	}
	if !p.orphanSince.IsZero() {
		consider(p.orphanSince.Add(m.cfg.Initdead))
	}
	consider(m.failedUntil)
	consider(m.handoverUntil)
	return d
}

// Step feeds one event to the machine and returns what to do, in order.
// Once Stopped it returns nothing.
func (m *Machine) Step(ev Event) []Action {
	if m.state == Stopped {
		return nil
	}
	var out []Action
	m.transitioned = false
	switch e := ev.(type) {
	case Tick:
		m.advance(e.Now)
	case Received:
		m.advance(e.Now)
		m.receive(e.Msg, &out)
	case Acquired:
		m.advance(e.Now)
		m.acquired(e.Err, &out)
	case Released:
		m.advance(e.Now)
		m.released(e.Err, &out)
	case Shutdown:
		m.advance(e.Now)
		m.shutdown(&out)
	case SyncPending:
		m.advance(e.Now)
		if m.syncing != e.Pending {
			m.syncing = e.Pending
			m.transitioned = true // tell the peer now
		}
	case ScoreChanged:
		m.advance(e.Now)
		if m.score != e.Score {
			m.score = e.Score
			m.transitioned = true // tell the peer now
		}
	default:
		return nil
	}
	m.checkPeer(&out)
	m.decide(&out)
	m.beat(&out)
	return out
}

// advance moves the machine's time forward (never back: a late-stamped
// event must not undo a deadline already passed).
func (m *Machine) advance(now time.Time) {
	if now.After(m.now) {
		m.now = now
	}
}

// receive takes in a message from the network.
func (m *Machine) receive(msg Message, out *[]Action) {
	p := &m.p
	if msg.From != p.name {
		return // ourselves (a looped-back broadcast) or a stranger
	}
	// A message older than the last one accepted (a slower link) must not
	// undo what a newer one said, above all a leaving message.
	if msg.Seq != 0 && p.heard && p.msg.Seq != 0 &&
		(msg.Generation < p.msg.Generation || msg.Generation == p.msg.Generation && msg.Seq <= p.msg.Seq) {
		return
	}
	wasAlive := p.alive
	p.heard = true
	p.lastHeard = m.now
	p.warned = false
	p.msg = msg
	if msg.Kind == KindLeaving {
		p.left = true
		p.alive = false
		p.msg.State = Stopped
		p.msg.Holding = false
		p.msg.ActiveSince = time.Time{}
		if wasAlive {
			*out = append(*out, PeerDead{Peer: p.name, Left: true})
		}
		return
	}
	p.left = false
	if !wasAlive {
		p.alive = true
		p.deadReported = false
		*out = append(*out, PeerAlive{Peer: p.name})
	}
	var diff []string
	if msg.Owner != m.cfg.Owner {
		diff = append(diff, fmt.Sprintf("owner %q here, %q there", m.cfg.Owner, msg.Owner))
	}
	if msg.AutoFailback != m.cfg.AutoFailback {
		diff = append(diff, fmt.Sprintf("auto_failback %v here, %v there", m.cfg.AutoFailback, msg.AutoFailback))
	}
	if d := strings.Join(diff, "; "); d != p.mismatch {
		p.mismatch = d
		if d != "" {
			*out = append(*out, Mismatch{Peer: p.name, Detail: d})
		}
	}
}

// checkPeer notices a late or dead peer.
func (m *Machine) checkPeer(out *[]Action) {
	p := &m.p
	if p.alive {
		late := m.now.Sub(p.lastHeard)
		switch {
		case late >= m.cfg.Deadtime:
			p.alive = false
			p.deadReported = true
			*out = append(*out, PeerDead{Peer: p.name})
		case late >= m.cfg.Warntime && !p.warned:
			p.warned = true
			*out = append(*out, Warn{Peer: p.name, Late: late})
		}
	}
	if !p.heard && !p.deadReported && !m.now.Before(m.start.Add(m.cfg.Initdead)) {
		p.deadReported = true
		*out = append(*out, PeerDead{Peer: p.name})
	}
}

// peerGone says the peer cannot hold the group: it left, or is silent for
// Deadtime, or was never heard in Initdead.
func (m *Machine) peerGone() bool {
	p := &m.p
	switch {
	case p.alive:
		return false
	case p.left || p.heard:
		return true
	}
	return !m.now.Before(m.start.Add(m.cfg.Initdead))
}

// peerClaims says the peer is heard holding the group as its holder:
// active, or holding at start. Acquiring and releasing peers are waited
// for instead.
func (m *Machine) peerClaims() bool {
	p := &m.p
	return p.alive && p.msg.Holding && !p.msg.Handover && (p.msg.State == Active || p.msg.State == Init)
}

// handingOver says this node is stopping while active and forwards until
// the peer has taken the group (or handoverUntil).
func (m *Machine) handingOver() bool {
	return m.stopping && m.state == Active && !m.handoverUntil.IsZero()
}

// failed says this node failed to acquire recently (see Machine).
func (m *Machine) failed() bool { return m.now.Before(m.failedUntil) }

func (m *Machine) transition(out *[]Action, to State, why string) {
	*out = append(*out, Transition{From: m.state, To: to, Reason: why})
	m.state = to
	m.transitioned = true
	if to != Active {
		m.p.contested = false
	}
	if to == Standby || to == Stopped {
		m.holding = false
		m.activeSince = time.Time{}
	}
}

// beat sends a heartbeat when due, and at once after a transition.
func (m *Machine) beat(out *[]Action) {
	if m.state == Stopped {
		return
	}
	if m.transitioned || !m.now.Before(m.nextBeat) {
		*out = append(*out, Send{Msg: m.message(KindHeartbeat)})
		m.nextBeat = m.now.Add(m.cfg.Keepalive)
	}
}

// message describes this node as it is now.
func (m *Machine) message(kind Kind) Message {
	msg := Message{
		Kind:         kind,
		From:         m.cfg.Node,
		State:        m.state,
		Holding:      m.holding,
		Failed:       m.failed(),
		Owner:        m.cfg.Owner,
		AutoFailback: m.cfg.AutoFailback,
		Syncing:      m.syncing,
		Handover:     m.handingOver(),
		Score:        m.score,
		ActiveSince:  m.activeSince,
	}
	// Link advertisements, unless the peer was last heard without the
	// flag: a node of an earlier release would refuse the message.
	if p := &m.p; !p.heard || p.msg.LinkAware {
		msg.LinkAware, msg.Links = true, m.cfg.Links
	}
	if kind == KindLeaving {
		msg.State, msg.Holding, msg.ActiveSince = Stopped, false, time.Time{}
	}
	return msg
}
