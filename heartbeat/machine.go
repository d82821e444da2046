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
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxBackoff caps the wait before this node tries again to acquire after
// failing to (see Machine); Initdead is used instead when it is longer.
const maxBackoff = 5 * time.Minute

// Config is what the daemon passes in: the pair, the resource group's
// owner and Heartbeat's timings. Validate fills the defaults.
type Config struct {
	// Node is this node's name, one of Nodes.
	Node string
	// Nodes are the pair's two node names (ha.cf's node lines).
	Nodes []string
	// Owner is the resource group's preferred node, the first field of
	// haresources (`lb1 IPaddr::192.168.56.10 ...`).
	Owner string
	// AutoFailback makes the owner take the group back when it returns
	// (ha.cf auto_failback on). Without it the node holding the group
	// keeps it.
	AutoFailback bool
	// Keepalive is the heartbeat interval (default 1s).
	Keepalive time.Duration
	// Deadtime is the silence after which the peer is declared dead and
	// the group taken over (default 5s).
	Deadtime time.Duration
	// Warntime is the silence after which a late heartbeat is warned
	// about (default Deadtime/2, must be below Deadtime).
	Warntime time.Duration
	// Initdead is the grace at start-up before a never-heard peer is
	// declared dead (default 2*Deadtime, at least Deadtime): the peer may
	// be booting too.
	Initdead time.Duration
}

// Validate fills the defaults of the zero durations and checks the
// configuration, returning every problem at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if len(c.Nodes) != 2 {
		bad("nodes: want exactly 2 names (the pair), got %d", len(c.Nodes))
	}
	for _, n := range c.Nodes {
		if err := checkName(n); err != nil {
			bad("nodes: %w", err)
		}
	}
	if len(c.Nodes) == 2 && c.Nodes[0] == c.Nodes[1] {
		bad("nodes: %q twice: want two distinct names", c.Nodes[0])
	}
	if c.Node == "" {
		bad("node: missing (this node's name, one of nodes)")
	} else if !slices.Contains(c.Nodes, c.Node) {
		bad("node: %q is not one of nodes %q", c.Node, c.Nodes)
	}
	if c.Owner == "" {
		bad("owner: missing (the resource group's preferred node, one of nodes)")
	} else if !slices.Contains(c.Nodes, c.Owner) {
		bad("owner: %q is not one of nodes %q", c.Owner, c.Nodes)
	}

	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.Deadtime == 0 {
		c.Deadtime = DefaultDeadtime
	}
	if c.Warntime == 0 {
		c.Warntime = c.Deadtime / 2
	}
	if c.Initdead == 0 {
		c.Initdead = 2 * c.Deadtime
	}
	durs := []struct {
		name string
		d    time.Duration
	}{{"keepalive", c.Keepalive}, {"deadtime", c.Deadtime}, {"warntime", c.Warntime}, {"initdead", c.Initdead}}
	ok := true
	for _, d := range durs {
		if d.d < MinTimer || d.d > MaxTimer {
			bad("%s: %v is outside %v..%v", d.name, d.d, MinTimer, MaxTimer)
			ok = false
		}
	}
	if ok {
		if c.Keepalive >= c.Deadtime {
			bad("keepalive %v must be below deadtime %v (several heartbeats must fit in deadtime)", c.Keepalive, c.Deadtime)
		}
		if c.Warntime >= c.Deadtime {
			bad("warntime %v must be below deadtime %v", c.Warntime, c.Deadtime)
		}
		if c.Initdead < c.Deadtime {
			bad("initdead %v must be at least deadtime %v", c.Initdead, c.Deadtime)
		}
	}
	return errors.Join(errs...)
}

// peerName is the other node of the pair. Only meaningful after Validate.
func (c *Config) peerName() string {
	for _, n := range c.Nodes {
		if n != c.Node {
			return n
		}
	}
	return ""
}

// State is a node's state in the protocol. Its values travel on the wire:
// do not renumber them.
type State uint8

// The states. Init is the start-up grace; Acquiring and Releasing last as
// long as the runner takes to add or remove the addresses.
const (
	Init State = iota
	Standby
	Acquiring
	Active
	Releasing
	Stopped
	numStates
)

var stateNames = [...]string{"init", "standby", "acquiring", "active", "releasing", "stopped"}

// String gives the state's name: "init", "standby", "acquiring", "active",
// "releasing", "stopped".
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText gives String, so that a status encodes as JSON with names.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Event is something that happened, fed to Machine.Step: Tick, Received,
// Acquired, Released or Shutdown. Each carries its time: the Machine has no
// clock of its own.
type Event interface{ isEvent() }

// Tick is the passing of time: send a heartbeat if one is due, notice a
// silent peer. The runner ticks at Machine.Deadline.
type Tick struct{ Now time.Time }

// Received is an authenticated message from the network (Codec.Decode
// accepted it).
type Received struct {
	Msg Message
	Now time.Time
}

// Acquired reports the end of an Acquire: the addresses are up and the
// gratuitous ARPs sent, or Err says why not.
type Acquired struct {
	Now time.Time
	Err error
}

// Released reports the end of a Release: the addresses are gone, or Err
// says why not.
type Released struct {
	Now time.Time
	Err error
}

// Shutdown asks for a clean stop: release the group if held, tell the
// peer, stop.
type Shutdown struct{ Now time.Time }

// SyncPending says whether this node is still receiving its peer's
// connection table. While it is, its heartbeats say so and the peer does
// not hand it the group back (auto_failback); a takeover of a dead peer's
// group does not wait.
type SyncPending struct {
	Now     time.Time
	Pending bool
}

func (Tick) isEvent()        {}
func (Received) isEvent()    {}
func (Acquired) isEvent()    {}
func (Released) isEvent()    {}
func (Shutdown) isEvent()    {}
func (SyncPending) isEvent() {}

// Action is something Step asks the runner to do, in the order given: Send,
// Acquire, Release, Announce, Warn, PeerDead, PeerAlive, Transition,
// SplitBrain or Mismatch.
type Action interface{ isAction() }

// Send asks to send Msg to the peer on every link (the runner's Codec fills
// in the generation and sequence number).
type Send struct{ Msg Message }

// Acquire asks to add the group's addresses and announce them (gratuitous
// ARPs), then to report Acquired. Heartbeats go on meanwhile.
type Acquire struct{}

// Release asks to remove the group's addresses, then to report Released.
type Release struct{}

// Announce asks to re-send gratuitous ARPs for the held addresses: once
// the peer has let go of the group after a split brain won by this node,
// or when keeping addresses found configured at start, neighbours may
// still point at the other node.
type Announce struct{ Reason string }

// SplitBrain reports that both nodes hold the group, and which one keeps
// it by the rule both apply (see splitWinner). Once per episode, on both
// nodes.
type SplitBrain struct {
	Peer   string
	Winner string
	Reason string
}

// Warn reports a late peer: nothing heard from it for Late (at least
// Warntime). Once per late episode.
type Warn struct {
	Peer string
	Late time.Duration
}

// PeerDead reports that the peer is considered gone: silent for Deadtime
// (Initdead if never heard), or Left (it said it was stopping).
type PeerDead struct {
	Peer string
	Left bool
}

// PeerAlive reports that the peer is heard: first contact, or its return
// after PeerDead.
type PeerAlive struct{ Peer string }

// Transition reports a change of this node's state and why.
type Transition struct {
	From, To State
	Reason   string
}

// Mismatch reports that the peer's configuration disagrees with this one's
// on something both must agree on (owner, auto_failback). Split brains are
// still resolved the same way on both sides, but failback may not happen
// as configured. Once per distinct disagreement.
type Mismatch struct {
	Peer   string
	Detail string
}

func (Send) isAction()       {}
func (Acquire) isAction()    {}
func (Release) isAction()    {}
func (Announce) isAction()   {}
func (Warn) isAction()       {}
func (PeerDead) isAction()   {}
func (PeerAlive) isAction()  {}
func (Transition) isAction() {}
func (Mismatch) isAction()   {}
func (SplitBrain) isAction() {}

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
//   - Active, auto_failback on, this node not the owner: when the owner is
//     heard in Standby holding nothing (and not failed), release; once
//     released, the heartbeat says so and the owner acquires at once.
//   - Split brain: this node Active (or holding at start) and the peer
//     Active (or holding at start). Exactly one keeps the group, by a rule
//     both sides compute alike (see splitWinner): with auto_failback on
//     both sides, the owner; otherwise the one active for longer (earlier
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

	syncing bool // the connection table is not complete yet (SyncPending)

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
	return p.alive && p.msg.Holding && (p.msg.State == Active || p.msg.State == Init)
}

// failed says this node failed to acquire recently (see Machine).
func (m *Machine) failed() bool { return m.now.Before(m.failedUntil) }

// decide applies the rules of the current state.
func (m *Machine) decide(out *[]Action) {
	p := &m.p
	if p.alive && !p.msg.Holding && !m.holding {
		if p.orphanSince.IsZero() {
			p.orphanSince = m.now
		}
	} else {
		p.orphanSince = time.Time{}
	}
	if !m.peerClaims() {
		p.splitSeen = false
	}
	switch m.state {
	case Init:
		m.decideInit(out)
	case Standby:
		m.decideStandby(out)
	case Active:
		m.decideActive(out)
	}
}

func (m *Machine) decideInit(out *[]Action) {
	p := &m.p
	if m.holding {
		switch {
		case m.peerClaims():
			m.splitBrain(out, "at start-up")
		case p.alive && p.msg.Holding && p.msg.State == Acquiring:
			// Wait: once it is active the split-brain rule decides.
		case p.alive && p.msg.Holding:
			m.keep(out, fmt.Sprintf("addresses configured at start kept: %s is releasing the group", p.name))
		case p.alive:
			m.keep(out, fmt.Sprintf("addresses configured at start kept: %s holds nothing", p.name))
		case p.left:
			m.keep(out, fmt.Sprintf("addresses configured at start kept: %s left", p.name))
		case m.peerGone():
			m.keep(out, fmt.Sprintf("addresses configured at start kept: nothing heard from %s in initdead %v", p.name, m.cfg.Initdead))
		}
		return
	}
	switch {
	case p.alive && p.msg.Holding:
		m.transition(out, Standby, fmt.Sprintf("%s holds the group", p.name))
	case p.alive:
		if ok, why := m.orphaned(); ok {
			m.acquire(out, why)
		} else {
			m.transition(out, Standby, fmt.Sprintf("%s holds nothing: waiting for the owner %s to acquire", p.name, m.cfg.Owner))
		}
	case p.left:
		m.acquire(out, fmt.Sprintf("%s left", p.name))
	case m.peerGone():
		m.acquire(out, fmt.Sprintf("nothing heard from %s in initdead %v", p.name, m.cfg.Initdead))
	}
}

func (m *Machine) decideStandby(out *[]Action) {
	p := &m.p
	switch {
	case m.peerGone():
		if m.failed() {
			return // try again at failedUntil
		}
		switch {
		case p.left:
			m.acquire(out, fmt.Sprintf("%s left", p.name))
		case p.heard:
			m.acquire(out, fmt.Sprintf("takeover: %s silent for deadtime %v", p.name, m.cfg.Deadtime))
		default:
			m.acquire(out, fmt.Sprintf("nothing heard from %s in initdead %v", p.name, m.cfg.Initdead))
		}
	case p.alive && !p.msg.Holding:
		if ok, why := m.orphaned(); ok {
			m.acquire(out, why)
		}
	}
}

// orphaned decides, when both nodes are up and neither holds the group,
// whether this one acquires it: the owner does at once, the other node if
// the owner failed or still holds nothing after Initdead.
func (m *Machine) orphaned() (bool, string) {
	p := &m.p
	switch {
	case m.failed():
		return false, ""
	case p.msg.Failed:
		return true, fmt.Sprintf("%s failed to acquire the group", p.name)
	case m.cfg.Owner == m.cfg.Node:
		if p.msg.State == Standby && p.msg.AutoFailback && p.msg.Owner == m.cfg.Node {
			return true, fmt.Sprintf("%s released the group to its owner", p.name)
		}
		return true, fmt.Sprintf("this node is the owner and %s holds nothing", p.name)
	case !p.orphanSince.IsZero() && !m.now.Before(p.orphanSince.Add(m.cfg.Initdead)):
		return true, fmt.Sprintf("the owner %s has held nothing for initdead %v", p.name, m.cfg.Initdead)
	}
	return false, ""
}

func (m *Machine) decideActive(out *[]Action) {
	p := &m.p
	if m.peerClaims() {
		m.splitBrain(out, "")
		return
	}
	if p.alive && p.msg.Holding {
		// Releasing (it lost), or acquiring: wait for the outcome.
		p.contested = true
		return
	}
	if p.contested {
		p.contested = false
		*out = append(*out, Announce{Reason: fmt.Sprintf("%s no longer holds the group: re-announcing it from here", p.name)})
	}
	if m.cfg.AutoFailback && m.cfg.Owner != m.cfg.Node && p.alive && p.name == m.cfg.Owner &&
		p.msg.State == Standby && !p.msg.Holding && !p.msg.Failed && !p.msg.Syncing && p.msg.Owner == m.cfg.Owner {
		m.release(out, fmt.Sprintf("auto_failback: the owner %s is back", p.name))
	}
}

// claim is one side of a split brain, as both sides see it: the node, when
// it became the holder (wall-clock ns, 0 if not active yet), whom it
// believes the owner, and its auto_failback.
type claim struct {
	node         string
	since        int64
	owner        string
	autoFailback bool
}

// splitWinner returns the node that keeps the group when a and b both hold
// it. It is symmetric (splitWinner(a, b) == splitWinner(b, a)) and uses
// only what each side knows of both (its own claim and the peer's
// heartbeat), so both sides reach the same verdict:
//
//  1. auto_failback on both sides and both agree on the owner: the owner;
//  2. otherwise the one holding for longer: the earlier since (a claim
//     not active yet, since 0, counts as the latest);
//  3. a tie: the agreed owner, or the lesser node name if they disagree.
func splitWinner(a, b claim) string {
	owner := ""
	if a.owner == b.owner && (a.owner == a.node || a.owner == b.node) {
		owner = a.owner
	}
	if a.autoFailback && b.autoFailback && owner != "" {
		return owner
	}
	as, bs := a.since, b.since
	switch {
	case as != 0 && (bs == 0 || as < bs):
		return a.node
	case bs != 0 && (as == 0 || bs < as):
		return b.node
	case owner != "":
		return owner
	}
	return min(a.node, b.node)
}

// splitBrain applies splitWinner to this node's claim and the peer's.
func (m *Machine) splitBrain(out *[]Action, when string) {
	p := &m.p
	mine := claim{node: m.cfg.Node, since: unixNano(m.activeSince), owner: m.cfg.Owner, autoFailback: m.cfg.AutoFailback}
	theirs := claim{node: p.name, since: unixNano(p.msg.ActiveSince), owner: p.msg.Owner, autoFailback: p.msg.AutoFailback}
	winner := splitWinner(mine, theirs)
	why := m.splitReason(mine, theirs, winner)
	if when != "" {
		why += " (" + when + ")"
	}
	if !p.splitSeen {
		p.splitSeen = true
		*out = append(*out, SplitBrain{Peer: p.name, Winner: winner, Reason: why})
	}
	if winner != m.cfg.Node {
		m.release(out, fmt.Sprintf("split brain: %s keeps the group, %s", p.name, why))
		return
	}
	if m.state != Active {
		m.transition(out, Active, fmt.Sprintf("split brain: this node keeps the group, %s", why))
	}
	p.contested = true // announce once the peer has let go
}

func (m *Machine) splitReason(a, b claim, winner string) string {
	if a.autoFailback && b.autoFailback && a.owner == b.owner && winner == a.owner {
		return "the owner with auto_failback"
	}
	if a.since != b.since {
		return "active for longer"
	}
	return "equal claims: owner or lesser name"
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// keep turns addresses found configured at start into an active claim,
// announcing them now, or once the peer has let go if it still holds them.
func (m *Machine) keep(out *[]Action, why string) {
	m.transition(out, Active, why)
	if m.p.alive && m.p.msg.Holding {
		m.p.contested = true
		return
	}
	*out = append(*out, Announce{Reason: why})
}

func (m *Machine) acquire(out *[]Action, why string) {
	m.holding = true
	m.transition(out, Acquiring, why)
	*out = append(*out, Acquire{})
}

func (m *Machine) release(out *[]Action, why string) {
	m.releaseWhy = why
	m.transition(out, Releasing, why)
	*out = append(*out, Release{})
}

// acquired takes the end of an acquisition.
func (m *Machine) acquired(err error, out *[]Action) {
	if m.state != Acquiring {
		return // not asked for: ignore
	}
	if err != nil {
		m.failures++
		limit := max(maxBackoff, m.cfg.Initdead)
		backoff := m.cfg.Initdead
		for i := 1; i < m.failures && backoff < limit; i++ {
			backoff *= 2
		}
		backoff = min(backoff, limit)
		m.failedUntil = m.now.Add(backoff)
		m.release(out, fmt.Sprintf("acquire failed (%v): releasing what was added; no new attempt for %v while %s is alive", err, backoff, m.p.name))
		return
	}
	m.failures = 0
	m.failedUntil = time.Time{}
	m.activeSince = wallTime(m.now)
	if m.stopping {
		m.transition(out, Active, "addresses up")
		m.release(out, "shutdown")
		return
	}
	m.transition(out, Active, "addresses up")
}

// released takes the end of a release. A failed release still ends the
// claim: the addresses may linger here, but keeping the group claimed
// would keep the peer from serving (the error is in the transition).
func (m *Machine) released(err error, out *[]Action) {
	if m.state != Releasing {
		return
	}
	m.holding = false
	m.activeSince = time.Time{}
	why := "released (" + m.releaseWhy + ")"
	if err != nil {
		why = fmt.Sprintf("release failed (%v), addresses may remain configured (%s)", err, m.releaseWhy)
	}
	if m.stopping {
		m.stop(out, why)
		return
	}
	m.transition(out, Standby, why)
}

// shutdown starts a clean stop.
func (m *Machine) shutdown(out *[]Action) {
	m.stopping = true
	switch m.state {
	case Init, Standby:
		if m.holding {
			m.release(out, "shutdown")
		} else {
			m.stop(out, "shutdown")
		}
	case Active:
		m.release(out, "shutdown")
	}
	// Acquiring, Releasing: stop when the runner reports back.
}

// stop sends the leaving message and ends the machine.
func (m *Machine) stop(out *[]Action, why string) {
	m.transition(out, Stopped, why)
	*out = append(*out, Send{Msg: m.message(KindLeaving)})
}

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
		ActiveSince:  m.activeSince,
	}
	if kind == KindLeaving {
		msg.State, msg.Holding, msg.ActiveSince = Stopped, false, time.Time{}
	}
	return msg
}
