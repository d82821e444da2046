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
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/director-lb/director/control/dataplane"
	"github.com/director-lb/director/control/model"
	"github.com/director-lb/director/heartbeat"
)

// haNode is the running heartbeat of this node.
type haNode struct {
	cfg   *model.HAConfig
	node  *heartbeat.Node
	group *heartbeat.AddressGroup
	done  chan struct{} // closed when the node's Run, then the sync's, have returned
	err   error         // what the node's Run returned, once done is closed

	pinger   *heartbeat.Pinger       // nil without ping nodes
	scripts  *heartbeat.ScriptRunner // the group's script resources
	notifier *heartbeat.ScriptRunner // the notify hook

	notifyMu      sync.Mutex
	notifyQ       chan heartbeat.Transition // nil without a notify hook, or once stopped
	notifyDropped uint64                    // transitions not notified: the queue was full
	sync          *heartbeat.Syncer         // nil without conntrack sync
	syncTable     dataplane.SyncTable
	syncTr        heartbeat.Transport
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
func startHA(ctx context.Context, self string, cfg *model.HAConfig, tables dataplane.SyncTables, log *slog.Logger,
	setActive func(bool), healthy func() (int, bool)) (*haNode, error) {
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
	links := linkConfigs(cfg.Links)
	var addrs []heartbeat.Address
	for _, a := range cfg.Addresses {
		addrs = append(addrs, heartbeat.Address{Prefix: a.Prefix, Interface: a.Interface})
	}
	group, err := heartbeat.NewAddressGroup(addrs, heartbeat.ARPConfig{Count: cfg.ARPCount, Interval: cfg.ARPInterval})
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	if err := setNice(cfg.Nice); err != nil {
		log.Warn("ha: cannot raise the daemon's CPU priority: heartbeats may be late on a busy machine", "nice", cfg.Nice, "error", err)
	}
	var pinger *heartbeat.Pinger
	if cfg.Ping != nil {
		// Without it this node would say it reaches nothing and give the
		// group away: refuse to start instead.
		pinger, err = heartbeat.NewPinger(heartbeat.PingConfig{Groups: cfg.Ping.Groups, Interval: cfg.Ping.Interval,
			Deadping: cfg.Ping.Deadping})
		if err != nil {
			return nil, fmt.Errorf("ha: %w", err)
		}
	}
	started := false
	defer func() {
		if !started && pinger != nil {
			_ = pinger.Close() // cleanup on an error path; its error is the one reported
		}
	}()
	tr, err := heartbeat.NewUDPTransport(links)
	if err != nil {
		return nil, fmt.Errorf("ha: %w", err)
	}
	hcfg := heartbeat.Config{Node: self, Nodes: cfg.Nodes, Owner: cfg.Owner, AutoFailback: cfg.AutoFailback,
		Keepalive: cfg.Keepalive, Deadtime: cfg.Deadtime, Warntime: cfg.Warntime, Initdead: cfg.Initdead}
	h := &haNode{cfg: cfg, group: group, done: make(chan struct{}), pinger: pinger}
	var res heartbeat.Resources = group
	syncLog := log.With("component", "sync")
	if cfg.Sync != nil && tables != nil {
		if err := h.openSync(self, cfg, auth, tables, syncLog); err != nil {
			_ = tr.Close() // cleanup on the error path; err is the one to report
			return nil, err
		}
		res = syncedGroup{group, h.sync, setActive, syncLog}
	} else if tables != nil {
		if err := tables.SetSyncEvents(false); err != nil {
			_ = tr.Close() // cleanup on the error path; err is the one to report
			return nil, fmt.Errorf("ha: %w", err)
		}
	}
	if setActive != nil {
		setActive(false)
		if h.sync == nil {
			res = roleResources{group, setActive}
		}
	}
	h.scripts = &heartbeat.ScriptRunner{Log: log.With("component", "ha", "group", cfg.Group)}
	h.notifier = &heartbeat.ScriptRunner{Log: log.With("component", "ha", "group", cfg.Group, "hook", "notify")}
	if err := checkScripts(cfg); err != nil {
		_ = tr.Close() // cleanup on the error path; err is the one to report
		h.closeSync()
		return nil, err
	}
	if len(cfg.Scripts) > 0 {
		res = heartbeat.ScriptGroup{Resources: res, Scripts: heartbeatScripts(cfg.Scripts), Runner: h.scripts}
	}
	node, err := heartbeat.NewNode(hcfg, auth, tr, res, log.With("component", "ha"))
	if err != nil {
		_ = tr.Close() // cleanup on the error path; err is the one to report
		h.closeSync()
		return nil, fmt.Errorf("ha: %w", err)
	}
	h.node = node
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
	go func() {
		h.err = node.Run(ctx)
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
	all := slices.Clone(cfg.Scripts)
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
	q := make(chan heartbeat.Transition, notifyQueue)
	h.notifyQ = q
	hook := heartbeatScripts([]model.HAScript{*cfg.Notify})[0]
	h.node.SetNotify(func(tr heartbeat.Transition) {
		h.notifyMu.Lock()
		defer h.notifyMu.Unlock()
		if h.notifyQ == nil {
			return
		}
		select {
		case h.notifyQ <- tr:
		default:
			h.notifyDropped++
		}
	})
	go func() {
		defer close(done)
		for tr := range q {
			env := []string{"DIRECTOR_HA_STATE=" + tr.To.String(), "DIRECTOR_HA_FROM=" + tr.From.String(),
				"DIRECTOR_HA_GROUP=" + cfg.Group, "DIRECTOR_HA_REASON=" + tr.Reason, "DIRECTOR_HA_NODE=" + self}
			_ = h.notifier.Run(context.Background(), hook, env, tr.To.String(), cfg.Group, tr.Reason) // logged and counted by Run
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
			h.node.SetScore(sc)
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
	node := g.h.node
	if node == nil {
		return // not started yet: the syncer reports again from Run
	}
	node.SetSyncPending(!ready)
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
		node.SetSyncPending(false)
	})
}

// syncedGroup is the address group in the order conntrack sync needs:
// before the addresses move here, whatever the peer sent is installed,
// and this node starts sending; after they leave, it stops (and sends its
// whole table to the peer, which takes over).
type syncedGroup struct {
	*heartbeat.AddressGroup
	sync      *heartbeat.Syncer
	setActive func(bool)   // the data plane's role, if not nil (see startHA)
	log       *slog.Logger // the sync's: says when a settle times out
}

// settleTimeout bounds the installation of pending sync messages before a
// takeover.
const settleTimeout = time.Second

func (g syncedGroup) Acquire(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, settleTimeout)
	// Bounded on purpose: the takeover does not wait longer. The node
	// stopping meanwhile (ctx done) is not worth a warning.
	if err := g.sync.Settle(sctx); err != nil && ctx.Err() == nil {
		g.log.Warn("sync: received messages not all installed before taking the addresses", "timeout", settleTimeout, "error", err)
	}
	cancel()
	g.sync.SetActive(true)
	if g.setActive != nil {
		g.setActive(true)
	}
	return g.AddressGroup.Acquire(ctx)
}

func (g syncedGroup) Release(ctx context.Context) error {
	err := g.AddressGroup.Release(ctx)
	g.sync.SetActive(false)
	if g.setActive != nil {
		g.setActive(false)
	}
	return err
}

func (g syncedGroup) Announce(ctx context.Context) error {
	g.sync.SetActive(true)
	return g.AddressGroup.Announce(ctx)
}

func (g syncedGroup) Held() (bool, error) {
	held, err := g.AddressGroup.Held()
	if held {
		g.sync.SetActive(true)
	}
	return held, err
}

// handOver releases the addresses and tells the peer to take them now,
// then waits for the node to stop (bounded).
func (h *haNode) handOver() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.node.Stop(ctx); err != nil {
		return err
	}
	select {
	case <-h.done:
		return h.err
	case <-ctx.Done():
		return fmt.Errorf("ha: hand over: %w", ctx.Err())
	}
}

// status converts the node's status for director status and metrics.
func (h *haNode) status() *model.HAStatus {
	s := h.node.Status()
	c := s.Counters
	out := &model.HAStatus{State: s.State.String(), Owner: s.Owner, Transitions: c.Transitions,
		LastTransition: s.LastTransition, LastReason: s.LastReason,
		HeartbeatsSent: c.HeartbeatsSent, HeartbeatsReceived: c.HeartbeatsReceived,
		AuthFailures: c.AuthFailures, Replays: c.Replays, Malformed: c.Malformed,
		HeartbeatGaps: model.HAGaps{Bounds: heartbeat.GapBounds, Counts: s.Gaps.Counts, Count: s.Gaps.Count,
			Sum: s.Gaps.Sum, Max: s.Gaps.Max, P99: s.Gaps.Quantile(0.99)},
		Score: model.HAScore{Healthy: int(s.Score.Healthy), Reach: int(s.Score.Reach)}, Group: h.cfg.Group}
	sc, nc := h.scripts.Counts(), h.notifier.Counts()
	out.Scripts = model.HAScriptCounts{Runs: sc.Runs, Failures: sc.Failures}
	h.notifyMu.Lock()
	out.Notify = model.HAScriptCounts{Runs: nc.Runs, Failures: nc.Failures, Dropped: h.notifyDropped}
	h.notifyMu.Unlock()
	for _, p := range s.Peers {
		heard := time.Duration(-1)
		if !p.LastHeard.IsZero() {
			heard = time.Since(p.LastHeard)
		}
		out.Peers = append(out.Peers, model.HAPeer{Name: p.Name, Alive: p.Alive, State: p.State.String(), LastHeard: heard})
	}
	for _, a := range h.cfg.Addresses {
		out.Addresses = append(out.Addresses, model.HAAddressHeld{Address: a.Prefix, Interface: a.Interface, Held: s.Held})
	}
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

// roleResources tells the data plane when this node becomes the active or
// the standby one, around the address group's own work.
type roleResources struct {
	*heartbeat.AddressGroup
	setActive func(bool)
}

func (r roleResources) Acquire(ctx context.Context) error {
	r.setActive(true)
	return r.AddressGroup.Acquire(ctx)
}

func (r roleResources) Release(ctx context.Context) error {
	err := r.AddressGroup.Release(ctx)
	r.setActive(false)
	return err
}
