// Package health runs the health checks of real servers.
// It checks them as keepalived and ldirectord do for IPVS:
// plain ipvsadm keeps scheduling new connections to a dead server, the
// director checks each real server (tcp connect, http or https GET, or a
// command) and takes it out of the schedule while it fails. The checks are
// configured per service and real server (model.HealthCheck); a Monitor
// runs them, each kind of check behind the Checker interface, and EffectiveServices turns the configured
// services and the checks' states into the services the data plane gets.
//
// A checked server starts UP: a director start or a reload must not drop
// traffic to servers that are fine, so a server is taken out only once it
// has failed Fall checks in a row, and brought back after Rise successes in
// a row. The first check runs at once, so that a dead server goes down
// after (Fall-1) intervals. Checks run in the daemon's network namespace
// with the ordinary socket and exec calls.
//
// https checks do not verify the server's certificate: real servers are
// addressed by IP on the internal network, often with self-signed or
// name-bound certificates, and the check asks whether the server answers,
// not who it is. Redirects are not followed (a 301 is a 301), keep-alives
// are off (each check opens a connection, as a client would) and no proxy
// from the environment is used.

package health

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/director-lb/director/control/model"
)

// Target is one real server of one service to check.
type Target struct {
	Service model.ServiceKey
	Real    model.RealKey
	// Check is the real server's effective check (not of type "none").
	Check model.HealthCheck
}

// State is what the checks of one target found.
type State struct {
	// Up says whether the server may get new connections. It starts
	// true.
	Up bool
	// Checked says whether at least one check has ended.
	Checked bool
	// Since is when Up last changed, or when checking began.
	Since time.Time
	// LastResult is the last check's result: "success", "timeout" or
	// "failure: <why>" ("failure: connection refused", "failure: status
	// 503, want 200"); "" before the first.
	LastResult string
	// LastDuration is how long the last check took.
	LastDuration time.Duration
	// Successes, Failures and Timeouts count the checks by result since
	// checking began.
	Successes, Failures, Timeouts uint64
}

// Monitor runs the health checks of a set of targets, each in its
// own goroutine, and keeps their states.
type Monitor struct {
	log      *slog.Logger
	onChange func()

	mu      sync.Mutex
	targets map[key]*target
	closed  bool
	wg      sync.WaitGroup
}

// key identifies a target.
type key struct {
	svc  model.ServiceKey
	real model.RealKey
}

// target is a target being checked. Its fields but cancel are
// guarded by Monitor.mu.
type target struct {
	check model.HealthCheck
	state State
	// run counts the consecutive successes (> 0) or failures (< 0).
	run    int
	cancel context.CancelFunc
}

// Health check results other than "failure: ...".
const (
	healthSuccess = "success"
	healthTimeout = "timeout"
)

// NewMonitor returns a checker with no targets. onChange, if not
// nil, is called after every up/down transition of a target, from the
// goroutine checking it with no lock of the checker held: it may be called
// from several goroutines at once, may call State, and should only signal
// whoever recomputes EffectiveServices. It must not call Set or Close, and
// Close must not be called while holding a lock onChange waits for.
func NewMonitor(log *slog.Logger, onChange func()) *Monitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if onChange == nil {
		onChange = func() {}
	}
	return &Monitor{log: log, onChange: onChange, targets: map[key]*target{}}
}

// Targets lists the targets of services given their health
// checking (health[i] that of services[i], as in model.Config): every real
// server whose effective check is not "none", in configuration order.
func Targets(services []model.Service, health []model.ServiceHealth) []Target {
	var out []Target
	for i, s := range services {
		if i >= len(health) {
			break
		}
		for _, r := range s.Reals {
			k := r.Key()
			c, ok := health[i].PerReal[k]
			if !ok || c.Type == "none" || c.Type == "" {
				continue
			}
			out = append(out, Target{Service: s.Key(), Real: k, Check: c})
		}
	}
	return out
}

// Set makes targets the ones checked: it starts checking new targets,
// stops checking those not in targets, and restarts the check of a target
// whose check changed. The state of a target that stays, changed or not,
// is kept (a reload does not reset health; a changed check starts counting
// successes and failures in a row anew). A new target starts up. Targets
// of type "none" are not checked. Set does not call onChange, and does not
// wait for the goroutines it stops; after Close it does nothing.
func (h *Monitor) Set(targets []Target) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	want := make(map[key]model.HealthCheck, len(targets))
	for _, t := range targets {
		if t.Check.Type != "none" && t.Check.Type != "" {
			want[key{t.Service, t.Real}] = t.Check
		}
	}
	kept := map[key]State{}
	for k, t := range h.targets {
		if c, ok := want[k]; !ok || c != t.check {
			t.cancel()
			delete(h.targets, k)
			if ok {
				kept[k] = t.state
			}
		}
	}
	for k, c := range want {
		if _, ok := h.targets[k]; ok {
			continue
		}
		state, ok := kept[k]
		if !ok {
			state = State{Up: true, Since: time.Now()}
		}
		h.start(k, c, state)
	}
}

// start starts checking target k with check c from state (h.mu held).
func (h *Monitor) start(k key, c model.HealthCheck, state State) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &target{check: c, state: state, cancel: cancel}
	h.targets[k] = t
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.run(ctx, k, t)
	}()
}

// State returns the state of a real server of a service, or false if it
// is not checked.
func (h *Monitor) State(svc model.ServiceKey, real model.RealKey) (State, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.targets[key{svc, real}]
	if !ok {
		return State{}, false
	}
	return t.state, true
}

// Close stops every check and waits for their goroutines to end.
func (h *Monitor) Close() {
	h.mu.Lock()
	h.closed = true
	for k, t := range h.targets {
		t.cancel()
		delete(h.targets, k)
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// run checks target k every interval until ctx ends, the first check at
// once.
func (h *Monitor) run(ctx context.Context, k key, t *target) {
	c := t.check
	addr := netip.AddrPortFrom(k.real.Addr, k.real.Port)
	if c.Port != 0 {
		addr = netip.AddrPortFrom(k.real.Addr, c.Port)
	}
	checker := newChecker(c)
	defer checker.Close()
	// An interval below the configuration's least is only for tests; none
	// spins.
	interval := max(c.Interval, 10*time.Millisecond)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		result := probe(ctx, checker, c.Timeout, addr)
		took := time.Since(start)
		if ctx.Err() != nil {
			return
		}
		h.record(k, t, result, took)
		timer.Reset(max(interval-took, 0))
	}
}

// record counts a result of target k and moves it up or down; on a
// transition it logs and calls onChange.
func (h *Monitor) record(k key, t *target, result string, took time.Duration) {
	h.mu.Lock()
	if h.targets[k] != t {
		// Stopped or replaced meanwhile.
		h.mu.Unlock()
		return
	}
	s := &t.state
	s.Checked, s.LastResult, s.LastDuration = true, result, took
	switch result {
	case healthSuccess:
		s.Successes++
		t.run = max(t.run, 0) + 1
	case healthTimeout:
		s.Timeouts++
		t.run = min(t.run, 0) - 1
	default:
		s.Failures++
		t.run = min(t.run, 0) - 1
	}
	changed := false
	switch {
	case !s.Up && t.run >= t.check.Rise:
		s.Up, changed = true, true
	case s.Up && -t.run >= t.check.Fall:
		s.Up, changed = false, true
	}
	if changed {
		s.Since = time.Now()
	}
	up := s.Up
	h.mu.Unlock()
	if !changed {
		return
	}
	from, to, level := "up", "down", slog.LevelWarn
	if up {
		from, to, level = "down", "up", slog.LevelInfo
	}
	h.log.Log(context.Background(), level, "real server "+to, "service", k.svc.String(),
		"real_server", netip.AddrPortFrom(k.real.Addr, k.real.Port).String(),
		"from", from, "to", to, "reason", result)
	h.onChange()
}

// probe runs one check of addr by checker, within timeout, and returns
// its result.
func probe(ctx context.Context, checker Checker, timeout time.Duration, addr netip.AddrPort) string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := checker.Check(ctx, addr)
	switch {
	case err == nil:
		return healthSuccess
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return healthTimeout
	}
	return "failure: " + healthReason(err)
}

// healthReason makes err short: the system call's error where there is
// one ("connection refused"), else err itself.
func healthReason(err error) string {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return healthTimeout
	}
	return err.Error()
}
