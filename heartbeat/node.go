package heartbeat

// The runner: a Machine on real time. Node reads packets from a Transport,
// authenticates them with a Codec, wakes at the Machine's next deadline
// (rather than on a coarse ticker, so that a 100ms keepalive and a 500ms
// deadtime are kept to within timer precision), and carries out the
// Machine's actions: it sends heartbeats, and adds, removes or re-announces
// the floating addresses through Resources. Those take time (gratuitous
// ARPs are spaced), so they run in their own goroutine and report back as
// Acquired or Released events while heartbeats go on.
//
// How it fails: an error adding the addresses is reported to the Machine
// (which releases and lets the peer take over); an error removing them is
// logged and the claim dropped anyway (a lingering address beats a pair
// where neither serves); an error sending on one link is logged once per
// episode, the other links still carry the heartbeat; packets that fail
// authentication or replay checks are counted and logged at most every
// 10s per kind, never acted on.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Transport carries heartbeat packets over one or several links; liveness
// counts on any link.
type Transport interface {
	// Send sends b to the peer on every link; an error on one link must
	// not stop the others (the error returned joins each link's).
	Send(b []byte) error
	// Packets delivers the packets received on all links. It is closed
	// when the transport is.
	Packets() <-chan Packet
	// Close stops the transport.
	Close() error
}

// Packet is one received datagram.
type Packet struct {
	// Data is the datagram; the receiver owns it.
	Data []byte
	// Link names the link it came on (an interface, an address), for logs.
	Link string
	// From is the sender's address.
	From netip.AddrPort
}

// Resources is the floating resource group: the addresses that move
// together from one director to the other.
type Resources interface {
	// Acquire adds every address, then sends gratuitous ARPs (several,
	// spaced); it returns when done.
	Acquire(ctx context.Context) error
	// Release removes every address.
	Release(ctx context.Context) error
	// Announce re-sends gratuitous ARPs for the held addresses.
	Announce(ctx context.Context) error
	// Held says whether the addresses are configured here.
	Held() (bool, error)
}

// Counters count what a Node did and refused.
type Counters struct {
	// HeartbeatsSent counts messages handed to the transport without
	// error on any link.
	HeartbeatsSent uint64
	// SendErrors counts messages whose sending failed on a link at least.
	SendErrors uint64
	// HeartbeatsReceived counts valid messages from the peer.
	HeartbeatsReceived uint64
	// AuthFailures, Replays, Malformed and Duplicates count packets
	// refused by Decode (ErrAuth, ErrReplay, ErrMalformed, ErrDuplicate).
	AuthFailures uint64
	Replays      uint64
	Malformed    uint64
	Duplicates   uint64
	// Ignored counts valid messages from this node itself (a looped-back
	// broadcast) or from a node not in the pair.
	Ignored uint64
	// Transitions counts this node's state changes.
	Transitions uint64
}

// Status is a snapshot of a Node.
type Status struct {
	// Node is this node's name, Owner the group's owner.
	Node  string
	Owner string
	// State is this node's state.
	State State
	// Held says the group's addresses are, or may be, configured here
	// (acquiring, active, releasing).
	Held bool
	// ActiveSince is when this node became the group's holder (zero if
	// it does not hold it).
	ActiveSince time.Time
	// Peers describes the peer, Age counted to now.
	Peers []PeerStatus
	// LastTransition and LastReason tell the latest state change.
	LastTransition time.Time
	LastReason     string
	// Counters, Transitions included.
	Counters Counters
	// Gaps is the time between consecutive heartbeats heard from the
	// peer.
	Gaps GapStats
	// Score is this node's, as its heartbeats carry it.
	Score Score
}

// releaseTimeout bounds removing the addresses, which must happen even
// when Run's context is already cancelled.
const releaseTimeout = 30 * time.Second

// logEvery is the least interval between two log lines about refused
// packets or send errors of one kind.
const logEvery = 10 * time.Second

// leavingCopies is how many times the leaving message is sent: on loss the
// peer would wait for deadtime, and the copies cost nothing.
const leavingCopies = 3

// Node runs the protocol for this director.
type Node struct {
	cfg   Config
	codec *Codec
	tr    Transport
	res   Resources
	log   *slog.Logger

	started  atomic.Bool
	stop     chan struct{} // closed by Stop
	stopOnce sync.Once
	done     chan struct{} // closed when Run returns
	runErr   error         // Run's result, read after done

	results chan Event     // Acquired and Released from the resource goroutines
	syncCh  chan bool      // SetSyncPending's latest value
	scoreCh chan Score     // SetScore's latest value
	workers sync.WaitGroup // resource goroutines

	// Run's loop only.
	acquireCancel context.CancelFunc
	stopping      bool  // Shutdown was given to the machine
	releaseErr    error // the release after Shutdown failed
	limits        map[string]*logLimit
	sendFailing   bool
	lastBeat      time.Time // when the peer's last heartbeat was taken in
	notify        func(Transition)
	onHandover    func(open, peerAlive bool) // SetHandoverHook
	onPeerLinks   func([]LinkAd)             // SetPeerLinksHook
	handover      [2]bool                    // the last values given to onHandover
	peerLinks     []LinkAd                   // the last value given to onPeerLinks
	peerLinksSeen bool                       // onPeerLinks was called

	counters struct {
		sent, sendErrors, received, auth, replays, malformed, duplicates, ignored, transitions atomic.Uint64
	}

	mu     sync.Mutex // guards status
	status Status
}

// logLimit rate-limits one kind of log line.
type logLimit struct {
	last       time.Time
	suppressed int
}

// NewNode checks cfg (filling its defaults) and auth and returns a node
// that Run starts. The transport and resources are used only by Run. log
// may be nil (nothing is logged). Weak authentication (md5, sha1, a short
// key) is logged as a warning here.
func NewNode(cfg Config, auth Auth, tr Transport, res Resources, log *slog.Logger) (*Node, error) {
	cfg.Nodes = slices.Clone(cfg.Nodes)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("check heartbeat config: %w", err)
	}
	if err := auth.Validate(); err != nil {
		return nil, fmt.Errorf("check heartbeat auth: %w", err)
	}
	if tr == nil || res == nil {
		return nil, errors.New("create heartbeat node: a transport and resources are needed")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("node", cfg.Node)
	n := &Node{
		cfg: cfg,
		// The start time in ns: a restart gets a higher generation, which
		// the peer takes as such (see the caveat in message.go).
		codec:   NewCodec(auth, uint64(time.Now().UnixNano())),
		tr:      tr,
		res:     res,
		log:     log,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		results: make(chan Event, 4),
		syncCh:  make(chan bool, 1),
		scoreCh: make(chan Score, 1),
		limits:  map[string]*logLimit{},
	}
	n.codec.group = uint8(cfg.Group)
	for _, w := range n.codec.Warnings() {
		log.Warn("heartbeat: " + w)
	}
	n.status = Status{Node: cfg.Node, Owner: cfg.Owner, State: Init,
		Peers: []PeerStatus{{Name: cfg.peerName()}}}
	return n, nil
}

// Run runs the protocol until ctx is done or Stop is called, then stops
// cleanly: it releases the group if held (even though ctx is done, within
// 30s), tells the peer it is leaving so that it takes over at once, closes
// the transport and returns. It returns nil after a clean stop, and an
// error if it could not start or the final release failed. Run may be
// called once.
func (n *Node) Run(ctx context.Context) (err error) {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("run heartbeat: already run")
	}
	defer func() {
		if cerr := n.tr.Close(); cerr != nil {
			n.log.Warn("heartbeat: close transport", "err", cerr)
		}
		n.runErr = err
		close(n.done)
	}()

	held, err := n.res.Held()
	if err != nil {
		return fmt.Errorf("check held addresses: %w", err)
	}
	// Background work (release, announce) outlives ctx's cancellation
	// but not Run.
	bg, cancelBg := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBg()

	start := time.Now()
	m := NewMachine(n.cfg, start, held)
	if held {
		n.log.Warn("heartbeat: the group's addresses are configured at start (a crash?): keeping them unless the peer holds them too")
	}
	n.log.Info("heartbeat: starting", "peer", n.cfg.peerName(), "owner", n.cfg.Owner,
		"auto_failback", n.cfg.AutoFailback, "keepalive", n.cfg.Keepalive, "deadtime", n.cfg.Deadtime,
		"warntime", n.cfg.Warntime, "initdead", n.cfg.Initdead, "generation", n.codec.Generation())

	timer := time.NewTimer(0)
	defer timer.Stop()
	packets := n.tr.Packets()
	ctxDone, stopReq := ctx.Done(), (<-chan struct{})(n.stop)
	n.step(ctx, bg, m, Tick{Now: start})

	for m.State() != Stopped {
		var ev Event
		select {
		case <-ctxDone:
			ctxDone, stopReq = nil, nil
			ev = n.shutdown("context done")
		case <-stopReq:
			ctxDone, stopReq = nil, nil
			ev = n.shutdown("stop requested")
		case pkt, ok := <-packets:
			if !ok {
				packets = nil
				n.log.Error("heartbeat: transport closed: no more heartbeats can be received; the peer will be declared dead")
				continue
			}
			msg, ok := n.decode(pkt)
			if !ok {
				continue
			}
			ev = Received{Msg: msg, Now: time.Now()}
		case ev = <-n.results:
		case p := <-n.syncCh:
			ev = SyncPending{Now: time.Now(), Pending: p}
		case sc := <-n.scoreCh:
			ev = ScoreChanged{Now: time.Now(), Score: sc}
		case <-timer.C:
			ev = Tick{Now: time.Now()}
		}
		n.step(ctx, bg, m, ev)
		wait := n.cfg.Keepalive // a safety net; the deadline is normally sooner
		if d := m.Deadline(); !d.IsZero() {
			wait = min(wait, time.Until(d))
		}
		timer.Reset(max(wait, 0))
	}
	cancelBg() // stop an announcement still under way
	n.workers.Wait()
	if n.releaseErr != nil {
		return fmt.Errorf("release addresses: %w", n.releaseErr)
	}
	return nil
}

// shutdown cancels an acquisition under way (the Machine releases what it
// added once it reports back) and gives the Shutdown event.
func (n *Node) shutdown(why string) Event {
	n.log.Info("heartbeat: stopping: handing over", "why", why)
	n.stopping = true
	if n.acquireCancel != nil {
		n.acquireCancel()
	}
	return Shutdown{Now: time.Now()}
}

// SetSyncPending says whether this node still waits for its peer's
// connection table (see SyncPending). The latest value wins; it may be
// called before Run.
func (n *Node) SetSyncPending(pending bool) { latest(n.syncCh, pending) }

// SetNotify gives a function called with every transition, from Run's
// loop: it must not block (queue the work). Call it before Run.
func (n *Node) SetNotify(f func(Transition)) { n.notify = f }

// SetHandoverHook makes the runner call f, from Run's goroutine, each time
// Machine.Handover (open) or the peer's liveness changes: the group starts
// or stops moving between the two nodes while both are up. Call it before
// Run.
func (n *Node) SetHandoverHook(f func(open, peerAlive bool)) { n.onHandover = f }

// SetPeerLinksHook makes the runner call f, from Run's goroutine, with the
// peer's link advertisements when the first message is heard from it and
// each time they change (nil: a peer that advertises none, e.g. of an
// earlier release). Call it before Run.
func (n *Node) SetPeerLinksHook(f func([]LinkAd)) { n.onPeerLinks = f }

// SetScore says how well this node can serve now (see Score): its
// heartbeats carry it and both nodes compare theirs. The latest value
// wins; it may be called before Run.
func (n *Node) SetScore(s Score) { latest(n.scoreCh, s) }

// latest puts v in the one-slot channel ch, replacing a value not read yet.
func latest[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// Stop hands over now, as Run does when its context is done, and waits for
// Run to return or ctx to be done. It returns Run's error. Stop before Run
// makes Run stop at once (after telling the peer).
func (n *Node) Stop(ctx context.Context) error {
	n.stopOnce.Do(func() { close(n.stop) })
	select {
	case <-n.done:
		return n.runErr
	case <-ctx.Done():
		return fmt.Errorf("stop heartbeat: %w", ctx.Err())
	}
}

// Status gives a snapshot of the node, safe to call at any time.
func (n *Node) Status() Status {
	n.mu.Lock()
	s := n.status
	s.Peers = slices.Clone(s.Peers)
	s.Gaps = s.Gaps.clone()
	n.mu.Unlock()
	now := time.Now()
	for i := range s.Peers {
		if !s.Peers[i].LastHeard.IsZero() {
			s.Peers[i].Age = now.Sub(s.Peers[i].LastHeard)
		}
	}
	s.Counters = n.Counters()
	return s
}

// Counters gives the node's counters.
func (n *Node) Counters() Counters {
	c := &n.counters
	return Counters{
		HeartbeatsSent: c.sent.Load(), SendErrors: c.sendErrors.Load(), HeartbeatsReceived: c.received.Load(),
		AuthFailures: c.auth.Load(), Replays: c.replays.Load(), Malformed: c.malformed.Load(),
		Duplicates: c.duplicates.Load(), Ignored: c.ignored.Load(), Transitions: c.transitions.Load(),
	}
}

// decode checks a packet; ok is false if it is to be dropped.
func (n *Node) decode(pkt Packet) (Message, bool) {
	msg, err := n.codec.Decode(pkt.Data)
	switch {
	case err == nil:
	case errors.Is(err, ErrDuplicate):
		n.counters.duplicates.Add(1)
		return Message{}, false
	case errors.Is(err, ErrReplay):
		n.counters.replays.Add(1)
		n.limited("replay", "heartbeat: replayed packet refused (if the peer restarted with its clock set back, restart this node too)", "link", pkt.Link, "from", pkt.From, "err", err)
		return Message{}, false
	case errors.Is(err, ErrAuth):
		n.counters.auth.Add(1)
		n.limited("auth", "heartbeat: packet failed authentication (same key and method on both nodes?)", "link", pkt.Link, "from", pkt.From, "err", err)
		return Message{}, false
	default:
		n.counters.malformed.Add(1)
		n.limited("malformed", "heartbeat: malformed packet refused", "link", pkt.Link, "from", pkt.From, "err", err)
		return Message{}, false
	}
	if msg.From != n.cfg.peerName() {
		n.counters.ignored.Add(1)
		if msg.From != n.cfg.Node {
			n.limited("stranger", "heartbeat: message from a node not in the pair ignored", "sender", msg.From, "link", pkt.Link, "from", pkt.From)
		}
		return Message{}, false
	}
	n.counters.received.Add(1)
	if msg.Kind == KindHeartbeat {
		now := time.Now()
		if !n.lastBeat.IsZero() {
			n.mu.Lock()
			n.status.Gaps.add(now.Sub(n.lastBeat))
			n.mu.Unlock()
		}
		n.lastBeat = now
	}
	return msg, true
}

// limited logs a warning at most every logEvery per kind, saying how many
// were left out.
func (n *Node) limited(kind, msg string, args ...any) {
	l := n.limits[kind]
	if l == nil {
		l = &logLimit{}
		n.limits[kind] = l
	}
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < logEvery {
		l.suppressed++
		return
	}
	if l.suppressed > 0 {
		args = append(args, "suppressed", l.suppressed)
	}
	l.last, l.suppressed = now, 0
	n.log.Warn(msg, args...)
}

// step feeds ev to m and carries out its actions, then updates the status.
func (n *Node) step(ctx, bg context.Context, m *Machine, ev Event) {
	if r, ok := ev.(Released); ok && n.stopping && m.State() == Releasing {
		n.releaseErr = r.Err
	}
	actions := m.Step(ev)
	// Before the actions: the peer's links and the handover window are
	// in the data plane before an acquisition adds the addresses.
	if h := [2]bool{m.Handover(), m.p.alive}; h != n.handover && n.onHandover != nil {
		n.handover = h
		n.onHandover(h[0], h[1])
	}
	if links, heard := m.PeerLinks(); heard && n.onPeerLinks != nil && (!n.peerLinksSeen || !slices.Equal(links, n.peerLinks)) {
		n.peerLinks, n.peerLinksSeen = links, true
		n.onPeerLinks(links)
	}
	for _, a := range actions {
		switch a := a.(type) {
		case Send:
			copies := 1
			if a.Msg.Kind == KindLeaving {
				copies = leavingCopies
			}
			for range copies {
				n.send(a.Msg)
			}
		case Acquire:
			n.startAcquire(ctx)
		case Release:
			n.startRelease(bg)
		case Announce:
			n.startAnnounce(bg, a.Reason)
		case Warn:
			n.log.Warn("heartbeat: late heartbeat", "peer", a.Peer, "late", a.Late.Round(time.Millisecond),
				"warntime", n.cfg.Warntime, "deadtime", n.cfg.Deadtime)
		case PeerDead:
			if a.Left {
				n.log.Info("heartbeat: peer left", "peer", a.Peer)
			} else {
				n.log.Warn("heartbeat: peer dead", "peer", a.Peer)
			}
		case PeerAlive:
			n.log.Info("heartbeat: peer alive", "peer", a.Peer)
		case SplitBrain:
			n.log.Warn("heartbeat: split brain: both nodes hold the group", "peer", a.Peer, "keeper", a.Winner, "rule", a.Reason)
		case Mismatch:
			n.log.Warn("heartbeat: the peer's configuration differs", "peer", a.Peer, "detail", a.Detail)
		case Transition:
			n.counters.transitions.Add(1)
			n.log.Info("heartbeat: transition", "from", a.From, "to", a.To, "reason", a.Reason)
			n.mu.Lock()
			n.status.LastTransition = time.Now()
			n.status.LastReason = a.Reason
			n.mu.Unlock()
			if n.notify != nil {
				n.notify(a)
			}
		}
	}
	n.mu.Lock()
	n.status.State = m.State()
	n.status.Held = m.Holding()
	n.status.ActiveSince = m.ActiveSince()
	n.status.Score = m.score
	n.status.Peers = m.Peers()
	n.mu.Unlock()
}

// send encodes and sends one message.
func (n *Node) send(msg Message) {
	b, err := n.codec.Encode(msg)
	if err == nil {
		err = n.tr.Send(b)
	}
	if err != nil {
		n.counters.sendErrors.Add(1)
		if !n.sendFailing {
			n.sendFailing = true
			n.log.Warn("heartbeat: send failed (logged again once it works)", "err", err)
		}
		return
	}
	n.counters.sent.Add(1)
	if n.sendFailing {
		n.sendFailing = false
		n.log.Info("heartbeat: sending works again")
	}
}

func (n *Node) startAcquire(ctx context.Context) {
	actx, cancel := context.WithCancel(ctx)
	n.acquireCancel = cancel
	n.workers.Add(1)
	go func() {
		defer n.workers.Done()
		defer cancel()
		err := n.res.Acquire(actx)
		if err != nil {
			n.log.Error("heartbeat: acquire the addresses", "err", err)
		}
		n.results <- Acquired{Now: time.Now(), Err: err}
	}()
}

func (n *Node) startRelease(bg context.Context) {
	n.workers.Add(1)
	go func() {
		defer n.workers.Done()
		rctx, cancel := context.WithTimeout(bg, releaseTimeout)
		defer cancel()
		err := n.res.Release(rctx)
		if err != nil {
			n.log.Error("heartbeat: release the addresses: they may remain configured here", "err", err)
		}
		n.results <- Released{Now: time.Now(), Err: err}
	}()
}

func (n *Node) startAnnounce(bg context.Context, why string) {
	n.log.Info("heartbeat: re-announcing the addresses", "reason", why)
	n.workers.Add(1)
	go func() {
		defer n.workers.Done()
		if err := n.res.Announce(bg); err != nil && bg.Err() == nil {
			n.log.Warn("heartbeat: announce the addresses", "err", err)
		}
	}()
}
