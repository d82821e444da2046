package daemon

// The heartbeat pair inside the daemon: builds a heartbeat.Node from the
// configuration's ha section (key file, UDP links, address group), runs it
// next to the data plane, and reports its state for status and metrics.
// The data plane is loaded on both nodes; only the floating addresses move,
// so the standby is ready the moment it takes them.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// haNode is the running heartbeat of this node: one heartbeat.Node per
// resource group (see heartbeat/groups.go), sharing the links, the ping
// nodes, the score and the conntrack sync.
type haNode struct {
	cfg    *model.HAConfig
	groups []*haGroup
	done   chan struct{} // closed when every group's Run, then the sync's, have returned
	err    error         // what the groups' Runs returned, joined, once done is closed

	pinger *heartbeat.Pinger // nil without ping nodes
	roles  *roleSet          // which groups this node holds: the data plane's and the sync's role

	notifyMu      sync.Mutex
	notifyQ       chan groupTransition // nil without a notify hook, or once stopped
	notifyDropped uint64               // transitions not notified: the queue was full
	sync          *heartbeat.Syncer    // nil without conntrack sync
	syncTable     dataplane.SyncTable
	syncTr        heartbeat.Transport
	window        *handoverWindow // nil on a data plane without peer forwarding
}

// haGroup is one resource group's heartbeat.
type haGroup struct {
	cfg      model.HAGroup
	node     *heartbeat.Node
	addrs    *heartbeat.AddressGroup
	scripts  *heartbeat.ScriptRunner // the group's script resources
	notifier *heartbeat.ScriptRunner // the notify hook, for this group's transitions
}

// groupTransition is a transition of one group, for the notify hook.
type groupTransition struct {
	group string
	tr    heartbeat.Transition
}

// roleSet tracks the groups this node holds. The node is active for the
// data plane and the sync (it forwards and sends its connections) while it
// holds any group, standby while it holds none: a node that holds one
// group forwards for it and sends its connections, and installs its
// peer's, which the peer sends for the other group.
type roleSet struct {
	mu        sync.Mutex
	held      []bool
	n         int
	sync      *heartbeat.Syncer // nil without conntrack sync
	setActive func(bool)        // the data plane's role; nil if none
}

// set records whether group i is held, and tells the sync and the data
// plane when the first group is taken or the last one let go.
func (r *roleSet) set(i int, held bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held[i] == held {
		return
	}
	r.held[i] = held
	if held {
		r.n++
	} else {
		r.n--
	}
	if held && r.n == 1 || !held && r.n == 0 {
		if r.sync != nil {
			r.sync.SetActive(held)
		}
		if r.setActive != nil {
			r.setActive(held)
		}
	}
}

// startHA builds and starts the heartbeat node, and the conntrack sync
// over tables when the configuration has it (tables is nil on data planes
// without a flow table of their own: IPVS has its sync daemon). The
// key file must be mode 0600, else the daemon refuses to start. setActive,
// if not nil, is told false at once and then, at each change, whether
// this node holds the addresses: true before it adds them, false once it
// has removed them. healthy, if not nil, counts the real servers the data
// plane serves with known verdicts (Daemon.healthyReals); the heartbeats
// carry it so that a returning node waits for its checks (see
// heartbeat.Score).
//
// fw, if not nil, is the data plane's peer forwarding: the handover window
// follows the groups' moves (handover.go).
func startHA(ctx context.Context, self string, cfg *model.HAConfig, tables dataplane.SyncTables, fw dataplane.PeerForwarder,
	log *slog.Logger, setActive func(bool), healthy func() (int, bool)) (*haNode, error) {
	auth, err := heartbeat.LoadAuthKeys(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	if !auth.FromAuthkeys {
		auth.Method = cfg.AuthMethod
	}
	if auth.Method != "sha256" {
		log.Warn("ha: messages authenticated with a deprecated method; use sha256", "method", auth.Method)
	}
	if len(cfg.Groups) == 0 {
		return nil, errors.New("ha: no resource group")
	}
	h := &haNode{cfg: cfg, done: make(chan struct{}),
		roles: &roleSet{held: make([]bool, len(cfg.Groups)), setActive: setActive}}
	for _, g := range cfg.Groups {
		var addrs []heartbeat.Address
		for _, a := range g.Addresses {
			addrs = append(addrs, heartbeat.Address{Prefix: a.Prefix, Interface: a.Interface})
		}
		ag, err := heartbeat.NewAddressGroup(addrs, heartbeat.ARPConfig{Count: cfg.ARPCount, Interval: cfg.ARPInterval})
		if err != nil {
			return nil, fmt.Errorf("ha: group %s: %w", g.Name, err)
		}
		h.groups = append(h.groups, &haGroup{cfg: g, addrs: ag,
			scripts:  &heartbeat.ScriptRunner{Log: log.With("component", "ha", "group", g.Name)},
			notifier: &heartbeat.ScriptRunner{Log: log.With("component", "ha", "group", g.Name, "hook", "notify")}})
	}
	if err := checkScripts(cfg); err != nil {
		return nil, err
	}
	if err := setNice(cfg.Nice); err != nil {
		log.Warn("ha: cannot raise the daemon's CPU priority: heartbeats may be late on a busy machine", "nice", cfg.Nice, "error", err)
	}
	if cfg.Ping != nil {
		// Without it this node would say it reaches nothing and give the
		// group away: refuse to start instead.
		h.pinger, err = heartbeat.NewPinger(heartbeat.PingConfig{Groups: cfg.Ping.Groups, Interval: cfg.Ping.Interval,
			Deadping: cfg.Ping.Deadping})
		if err != nil {
			return nil, fmt.Errorf("ha: %w", err)
		}
	}
	started := false
	defer func() {
		if !started && h.pinger != nil {
			_ = h.pinger.Close() // cleanup on an error path; its error is the one reported
		}
	}()
	tr, err := heartbeat.NewUDPTransport(linkConfigs(cfg.Links))
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	trs, _, err := heartbeat.GroupTransports(tr, len(h.groups))
	if err != nil {
		_ = tr.Close() // cleanup on the error path; err is the one to report
		return nil, fmt.Errorf("ha: %w", err)
	}
	closeAll := func() {
		// Cleanup on the error path; err is the one to report.
		for _, t := range trs {
			_ = t.Close()
		}
		h.closeSync()
	}
	syncLog := log.With("component", "sync")
	if cfg.Sync != nil && tables != nil {
		if err := h.openSync(self, cfg, auth, tables, syncLog); err != nil {
			closeAll()
			return nil, err
		}
		h.roles.sync = h.sync
	} else if tables != nil {
		if err := tables.SetSyncEvents(false); err != nil {
			closeAll()
			return nil, fmt.Errorf("ha: %w", err)
		}
	}
	if setActive != nil {
		setActive(false)
	}
	if tables == nil && setActive != nil && len(h.groups) > 1 {
		log.Warn("ha: with several groups the kernel's IPVS sync daemon runs as master while this node holds any group: the peer's connections are then not synced here, and a takeover of its group resets them")
	}
	var ads [][]heartbeat.LinkAd
	if fw != nil {
		h.window, ads = newHandoverWindow(cfg, fw, log.With("component", "ha"))
		// A flag left by a daemon that died in a window.
		h.window.apply(false, "start")
	}
	for i, g := range h.groups {
		var res heartbeat.Resources = roleResources{g.addrs, h.roles, i, h.sync, syncLog}
		if len(g.cfg.Scripts) > 0 {
			res = heartbeat.ScriptGroup{Resources: res, Scripts: heartbeatScripts(g.cfg.Scripts), Runner: g.scripts}
		}
		hcfg := heartbeat.Config{Node: self, Nodes: cfg.Nodes, Owner: g.cfg.Owner, Group: i, AutoFailback: cfg.AutoFailback,
			Keepalive: cfg.Keepalive, Deadtime: cfg.Deadtime, Warntime: cfg.Warntime, Initdead: cfg.Initdead}
		if ads != nil {
			hcfg.Links = ads[i]
		}
		glog := log.With("component", "ha")
		if len(h.groups) > 1 {
			glog = glog.With("group", g.cfg.Name)
		}
		g.node, err = heartbeat.NewNode(hcfg, auth, trs[i], res, glog)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("ha: group %s: %w", g.cfg.Name, err)
		}
		if w := h.window; w != nil {
			g.node.SetHandoverHook(func(open, peerAlive bool) { w.set(i, open, peerAlive) })
			g.node.SetPeerLinksHook(func(links []heartbeat.LinkAd) { w.setPeerLinks(i, links) })
		}
	}
	// The sync outlives the heartbeat: releasing the group at a clean
	// stop pushes this node's table to the peer, which takes over.
	syncCtx, stopSync := context.WithCancel(context.WithoutCancel(ctx))
	syncDone := make(chan struct{})
	if h.sync != nil {
		go func() {
			if err := h.sync.Run(syncCtx); err != nil {
				syncLog.Error("sync: stop", "error", err)
			}
			if err := h.syncTable.Close(); err != nil {
				syncLog.Error("sync: close the flow table", "error", err)
			}
			close(syncDone)
		}()
	} else {
		close(syncDone)
	}
	runDone := make(chan struct{})
	if h.pinger != nil {
		pingCtx, stopPing := context.WithCancel(context.WithoutCancel(ctx))
		go func() {
			<-runDone
			stopPing()
		}()
		go h.pinger.Run(pingCtx)
	}
	if healthy != nil || h.pinger != nil {
		go h.score(runDone, healthy)
	}
	started = true
	notifyDone := h.startNotify(self, cfg)
	errs := make([]error, len(h.groups))
	var runs sync.WaitGroup
	for i, g := range h.groups {
		runs.Add(1)
		go func() {
			defer runs.Done()
			if err := g.node.Run(ctx); err != nil && len(h.groups) > 1 {
				errs[i] = fmt.Errorf("group %s: %w", g.cfg.Name, err)
			} else {
				errs[i] = err
			}
		}()
	}
	go func() {
		runs.Wait()
		if h.window != nil {
			h.window.stop()
		}
		h.err = errors.Join(errs...)
		h.stopNotify()
		<-notifyDone
		close(runDone)
		stopSync()
		<-syncDone
		close(h.done)
	}()
	return h, nil
}

// setNice gives every thread of the daemon the nice value n (threads
// created later inherit it from theirs). Linux keeps a nice value per
// thread, so setpriority on the process alone would leave the Go
// runtime's other threads, which run the heartbeat goroutines too, behind.
func setNice(n int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, n); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("thread %d: %w", tid, err))
		}
	}
	return errors.Join(errs...)
}

// checkScripts makes sure every script resource and the notify hook can
// be run: a missing or non-executable one keeps the daemon from starting,
// naming the configuration line, rather than failing its first takeover.
func checkScripts(cfg *model.HAConfig) error {
	var all []model.HAScript
	for _, g := range cfg.Groups {
		all = append(all, g.Scripts...)
	}
	if cfg.Notify != nil {
		all = append(all, *cfg.Notify)
	}
	for _, s := range all {
		if err := heartbeatScripts([]model.HAScript{s})[0].Check(); err != nil {
			return fmt.Errorf("ha: line %d: %w", s.Line, err)
		}
	}
	return nil
}

func heartbeatScripts(in []model.HAScript) []heartbeat.Script {
	out := make([]heartbeat.Script, len(in))
	for i, s := range in {
		out[i] = heartbeat.Script{Path: s.Path, Args: s.Args, Timeout: s.Timeout}
	}
	return out
}

// notifyQueue bounds the transitions waiting for the notify hook.
const notifyQueue = 64

// startNotify runs the notify hook, if any, at each transition, in order,
// from a goroutine of its own: the heartbeat never waits for it. The
// returned channel is closed once stopNotify was called and the queue is
// drained.
func (h *haNode) startNotify(self string, cfg *model.HAConfig) <-chan struct{} {
	done := make(chan struct{})
	if cfg.Notify == nil {
		close(done)
		return done
	}
	q := make(chan groupTransition, notifyQueue)
	h.notifyQ = q
	hook := heartbeatScripts([]model.HAScript{*cfg.Notify})[0]
	notifier := map[string]*heartbeat.ScriptRunner{}
	for _, g := range h.groups {
		notifier[g.cfg.Name] = g.notifier
		g.node.SetNotify(func(tr heartbeat.Transition) {
			h.notifyMu.Lock()
			defer h.notifyMu.Unlock()
			if h.notifyQ == nil {
				return
			}
			select {
			case h.notifyQ <- groupTransition{g.cfg.Name, tr}:
			default:
				h.notifyDropped++
			}
		})
	}
	go func() {
		defer close(done)
		for gt := range q {
			tr := gt.tr
			env := []string{"DIRECTOR_HA_STATE=" + tr.To.String(), "DIRECTOR_HA_FROM=" + tr.From.String(),
				"DIRECTOR_HA_GROUP=" + gt.group, "DIRECTOR_HA_REASON=" + tr.Reason, "DIRECTOR_HA_NODE=" + self}
			// Logged and counted by Run.
			_ = notifier[gt.group].Run(context.Background(), hook, env, tr.To.String(), gt.group, tr.Reason)
		}
	}()
	return done
}

// stopNotify ends the notify queue once the node has stopped.
func (h *haNode) stopNotify() {
	h.notifyMu.Lock()
	defer h.notifyMu.Unlock()
	if h.notifyQ != nil {
		close(h.notifyQ)
		h.notifyQ = nil
	}
}

// scorePeriod is how often the score is read: the health verdicts change
// at most once a check interval, and a change is sent at once.
func (h *haNode) scorePeriod() time.Duration {
	return min(max(h.cfg.Keepalive/2, 10*time.Millisecond), 100*time.Millisecond)
}

// score keeps the heartbeat's Score up to date until done is closed.
func (h *haNode) score(done <-chan struct{}, healthy func() (int, bool)) {
	t := time.NewTicker(h.scorePeriod())
	defer t.Stop()
	var last heartbeat.Score
	first := true
	for {
		sc := last
		if healthy != nil {
			if n, ok := healthy(); ok {
				sc.Healthy = uint16(min(n, math.MaxUint16))
			}
		}
		if h.pinger != nil {
			sc.Reach = uint8(min(h.pinger.Reach(), math.MaxUint8))
		}
		if first || sc != last {
			for _, g := range h.groups {
				g.node.SetScore(sc)
			}
			last, first = sc, false
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// linkConfigs converts the configuration's links for the UDP transport.
func linkConfigs(links []model.HALink) []heartbeat.LinkConfig {
	out := make([]heartbeat.LinkConfig, 0, len(links))
	for _, l := range links {
		out = append(out, heartbeat.LinkConfig{Mode: l.Mode, Interface: l.Interface, Port: l.Port,
			Group: l.Group, TTL: l.TTL, Peer: l.Peer})
	}
	return out
}

// openSync builds the conntrack sync: the program's notifications on, a
// transport on the sync links, the syncer; its readiness gates the
// owner's failback for at most FailbackWait.
func (h *haNode) openSync(self string, cfg *model.HAConfig, auth heartbeat.Auth, tables dataplane.SyncTables, log *slog.Logger) error {
	links := linkConfigs(cfg.Sync.Links)
	table, err := tables.OpenSyncTable()
	if err != nil {
		return fmt.Errorf("ha: sync: %w", err)
	}
	tr, err := heartbeat.NewUDPTransport(links)
	if err != nil {
		_ = table.Close() // cleanup on the error path; err is the one to report
		return fmt.Errorf("ha: sync: %w", err)
	}
	gate := &failbackGate{wait: cfg.Sync.FailbackWait, log: log, h: h}
	syncer, err := heartbeat.NewSyncer(heartbeat.SyncConfig{Node: self, Peer: cfg.Peer(self)}, auth, tr, table,
		gate.ready, log)
	if err != nil {
		// Cleanup on the error path; err is the one to report.
		_ = tr.Close()
		_ = table.Close()
		return fmt.Errorf("ha: sync: %w", err)
	}
	if err := tables.SetSyncEvents(true); err != nil {
		// Cleanup on the error path; err is the one to report.
		_ = tr.Close()
		_ = table.Close()
		return fmt.Errorf("ha: sync: %w", err)
	}
	h.sync, h.syncTable, h.syncTr = syncer, table, tr
	return nil
}

// closeSync releases what openSync opened, when the sync never ran. It
// is a cleanup on an error path, whose error is the one reported, so its
// own errors are dropped.
func (h *haNode) closeSync() {
	if h.sync != nil {
		_ = h.syncTr.Close()
		_ = h.syncTable.Close()
	}
}

// failbackGate turns the syncer's readiness into the heartbeat's "syncing"
// flag: set while the table is incomplete, but for at most wait, after
// which a failback proceeds without it (and says so).
type failbackGate struct {
	wait time.Duration
	log  *slog.Logger
	h    *haNode

	mu    sync.Mutex
	timer *time.Timer
}

func (g *failbackGate) ready(ready bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	groups := g.h.groups
	if len(groups) == 0 || groups[len(groups)-1].node == nil {
		return // not started yet: the syncer reports again from Run
	}
	for _, gr := range groups {
		gr.node.SetSyncPending(!ready)
	}
	if ready {
		return
	}
	g.timer = time.AfterFunc(g.wait, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.timer == nil {
			return
		}
		g.timer = nil
		g.log.Warn("sync: no full table from the peer within failback_wait: a failback may now break connections", "failback_wait", g.wait)
		for _, gr := range groups {
			gr.node.SetSyncPending(false)
		}
	})
}

// roleResources is one group's addresses in the order the data plane and
// conntrack sync need: before the addresses move here, whatever the peer
// sent is installed, and this node becomes active (it forwards and sends
// its connections) if it was not for another group; after they leave, it
// becomes standby if it holds no other group (and then sends its whole
// table to the peer, which takes over).
type roleResources struct {
	*heartbeat.AddressGroup
	roles *roleSet
	group int               // the index in roles
	sync  *heartbeat.Syncer // nil without conntrack sync
	log   *slog.Logger      // the sync's: says when a settle times out
}

// settleTimeout bounds the installation of pending sync messages before a
// takeover.
const settleTimeout = time.Second

func (r roleResources) Acquire(ctx context.Context) error {
	if r.sync != nil {
		sctx, cancel := context.WithTimeout(ctx, settleTimeout)
		// Bounded on purpose: the takeover does not wait longer. The node
		// stopping meanwhile (ctx done) is not worth a warning.
		if err := r.sync.Settle(sctx); err != nil && ctx.Err() == nil {
			r.log.Warn("sync: received messages not all installed before taking the addresses", "timeout", settleTimeout, "error", err)
		}
		cancel()
	}
	r.roles.set(r.group, true)
	return r.AddressGroup.Acquire(ctx)
}

func (r roleResources) Release(ctx context.Context) error {
	err := r.AddressGroup.Release(ctx)
	r.roles.set(r.group, false)
	return err
}

func (r roleResources) Held() (bool, error) {
	held, err := r.AddressGroup.Held()
	if held {
		r.roles.set(r.group, true)
	}
	return held, err
}

// handOver releases the addresses and tells the peer to take them now,
// then waits for the node to stop (bounded).
func (h *haNode) handOver() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Every group at once: each hands over what it holds.
	errs := make([]error, len(h.groups))
	var wg sync.WaitGroup
	for i, g := range h.groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.node.Stop(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	select {
	case <-h.done:
		return h.err
	case <-ctx.Done():
		return fmt.Errorf("ha: hand over: %w", ctx.Err())
	}
}

// status converts the groups' status for director status and metrics.
func (h *haNode) status() *model.HAStatus {
	out := &model.HAStatus{}
	for i, g := range h.groups {
		s := g.node.Status()
		c := s.Counters
		gs := model.HAGroupStatus{Name: g.cfg.Name, Owner: s.Owner, State: s.State.String(), Transitions: c.Transitions,
			LastTransition: s.LastTransition, LastReason: s.LastReason,
			HeartbeatsSent: c.HeartbeatsSent, HeartbeatsReceived: c.HeartbeatsReceived}
		sc, nc := g.scripts.Counts(), g.notifier.Counts()
		gs.Scripts = model.HAScriptCounts{Runs: sc.Runs, Failures: sc.Failures}
		gs.Notify = model.HAScriptCounts{Runs: nc.Runs, Failures: nc.Failures}
		for _, p := range s.Peers {
			heard := time.Duration(-1)
			if !p.LastHeard.IsZero() {
				heard = time.Since(p.LastHeard)
			}
			gs.Peers = append(gs.Peers, model.HAPeer{Name: p.Name, Alive: p.Alive, State: p.State.String(), LastHeard: heard})
		}
		for _, a := range g.cfg.Addresses {
			gs.Addresses = append(gs.Addresses, model.HAAddressHeld{Address: a.Prefix, Interface: a.Interface, Held: s.Held})
		}
		out.Groups = append(out.Groups, gs)
		out.Addresses = append(out.Addresses, gs.Addresses...)
		out.HeartbeatsSent += c.HeartbeatsSent
		out.HeartbeatsReceived += c.HeartbeatsReceived
		out.AuthFailures += c.AuthFailures
		out.Replays += c.Replays
		out.Malformed += c.Malformed
		out.Scripts.Runs += sc.Runs
		out.Scripts.Failures += sc.Failures
		out.Notify.Runs += nc.Runs
		out.Notify.Failures += nc.Failures
		if i == 0 {
			out.State, out.Owner, out.Group, out.Peers = gs.State, gs.Owner, gs.Name, gs.Peers
			out.Transitions, out.LastTransition, out.LastReason = gs.Transitions, gs.LastTransition, gs.LastReason
			out.HeartbeatGaps = model.HAGaps{Bounds: heartbeat.GapBounds, Counts: s.Gaps.Counts, Count: s.Gaps.Count,
				Sum: s.Gaps.Sum, Max: s.Gaps.Max, P99: s.Gaps.Quantile(0.99)}
			out.Score = model.HAScore{Healthy: int(s.Score.Healthy), Reach: int(s.Score.Reach)}
		}
	}
	h.notifyMu.Lock()
	out.Notify.Dropped = h.notifyDropped
	h.notifyMu.Unlock()
	if h.sync != nil {
		y := h.sync.Status()
		role := "receiving"
		if y.Active {
			role = "sending"
		}
		out.Sync = &model.SyncStatus{Role: role, Ready: y.Ready, LastFullTable: y.LastFull, Lag: y.Lag, MaxLag: y.MaxLag,
			Told: y.Tracked, SyncCounters: model.SyncCounters(y.Counters)}
	}
	return out
}
