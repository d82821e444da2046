package heartbeat

// The machine's decisions: who holds the group in each state, how a
// split brain is resolved, and what acquiring and releasing lead to.

import (
	"fmt"
	"time"
)

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
	case p.alive && p.msg.Handover:
		if !m.failed() {
			m.acquire(out, fmt.Sprintf("%s is stopping and hands the group over", p.name))
		}
	case m.peerClaims() && p.msg.State == Active:
		if ok, why := m.takeBack(); ok {
			m.acquire(out, why)
		}
	}
}

// takeBack decides, while the peer holds the group and is alive, whether
// this node takes it while the peer still forwards (make before break):
// the peer sees this node active, the split-brain rule gives this node
// the group, and the peer releases it. Both nodes forward while the
// addresses and ARP caches move, so that a planned move costs nothing. It
// happens when this node is better placed to serve (Score), or when it is
// the owner returning with auto_failback; in both cases only once its data
// plane is ready: its connection table synced, and its checks' verdicts
// at least as good as the peer's. Reaching more ping nodes needs no sync:
// the peer's clients cannot reach it anyway.
func (m *Machine) takeBack() (bool, string) {
	p := &m.p
	if m.failed() || p.msg.Failed {
		return false, ""
	}
	c := m.score.compare(p.msg.Score)
	switch {
	case m.score.Reach > p.msg.Score.Reach:
		return true, fmt.Sprintf("this node reaches %d ping nodes, %s %d", m.score.Reach, p.name, p.msg.Score.Reach)
	case m.syncing || c < 0:
		return false, ""
	case c > 0:
		return true, fmt.Sprintf("this node finds %d real servers healthy, %s %d", m.score.Healthy, p.name, p.msg.Score.Healthy)
	case m.cfg.AutoFailback && m.cfg.Owner == m.cfg.Node && p.msg.AutoFailback && p.msg.Owner == m.cfg.Node:
		return true, "auto_failback: the owner is back and ready: taking the group while " + p.name + " still forwards"
	}
	return false, ""
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
	case m.score.Reach < p.msg.Score.Reach:
		return false, "" // the peer, better placed, acquires
	case m.score.Reach > p.msg.Score.Reach:
		return true, fmt.Sprintf("this node reaches %d ping nodes, %s %d", m.score.Reach, p.name, p.msg.Score.Reach)
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
	if m.stopping {
		// Handing over: forward until the peer has the group, or it is
		// gone, or it had its chance.
		if m.peerClaims() || !p.alive || !m.now.Before(m.handoverUntil) {
			m.handoverUntil = time.Time{}
			m.release(out, "shutdown")
		}
		return
	}
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
	// auto_failback and a better-placed peer: the peer takes the group
	// while this node still forwards (takeBack), and this node releases by
	// the split-brain rule once it sees the peer active.
}

// claim is one side of a split brain, as both sides see it: the node, when
// it became the holder (wall-clock ns, 0 if not active yet), whom it
// believes the owner, and its auto_failback.
type claim struct {
	node         string
	since        int64
	owner        string
	autoFailback bool
	score        Score
}

// splitWinner returns the node that keeps the group when a and b both hold
// it. It is symmetric (splitWinner(a, b) == splitWinner(b, a)) and uses
// only what each side knows of both (its own claim and the peer's
// heartbeat), so both sides reach the same verdict:
//
//  0. the better Score (more ping nodes reached, then more real servers
//     healthy): a node that cannot serve gives way;
//  1. auto_failback on both sides and both agree on the owner: the owner;
//  2. otherwise the one holding for longer: the earlier since (a claim
//     not active yet, since 0, counts as the latest);
//  3. a tie: the agreed owner, or the lesser node name if they disagree.
func splitWinner(a, b claim) string {
	switch a.score.compare(b.score) {
	case 1:
		return a.node
	case -1:
		return b.node
	}
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
	mine := claim{node: m.cfg.Node, since: unixNano(m.activeSince), owner: m.cfg.Owner, autoFailback: m.cfg.AutoFailback, score: m.score}
	theirs := claim{node: p.name, since: unixNano(p.msg.ActiveSince), owner: p.msg.Owner, autoFailback: p.msg.AutoFailback, score: p.msg.Score}
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
	if a.score != b.score {
		return fmt.Sprintf("better placed to serve (%s: %d ping nodes, %d real servers healthy; %s: %d, %d)",
			a.node, a.score.Reach, a.score.Healthy, b.node, b.score.Reach, b.score.Healthy)
	}
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
		if p := &m.p; p.alive && !p.msg.Holding && !p.msg.Failed && p.msg.State == Standby {
			// Make before break: say so and forward until the peer is
			// active (decideActive), for at most handoverWait.
			m.handoverUntil = m.now.Add(m.handoverWait())
			m.transitioned = true // tell the peer now
			return
		}
		m.release(out, "shutdown")
	}
	// Acquiring, Releasing: stop when the runner reports back.
}

// handoverWait bounds how long a stopping active node waits for its peer
// to take the group before it releases anyway: long enough for an
// acquisition with its gratuitous ARPs; a peer that takes longer is
// handed the group the old way (release, leaving message). At most 10 s:
// director stop waits for it.
func (m *Machine) handoverWait() time.Duration {
	return min(max(2*m.cfg.Deadtime, time.Second), maxHandoverWait)
}

// maxHandoverWait bounds handoverWait.
const maxHandoverWait = 10 * time.Second

// stop sends the leaving message and ends the machine.
func (m *Machine) stop(out *[]Action, why string) {
	m.transition(out, Stopped, why)
	*out = append(*out, Send{Msg: m.message(KindLeaving)})
}
