package control

// Health checks of real servers, as keepalived and ldirectord do for IPVS:
// plain ipvsadm keeps scheduling new connections to a dead server, the
// director checks each real server (tcp connect, http or https GET, or a
// command) and takes it out of the schedule while it fails. The checks are
// configured per service and real server (config.go, HealthCheck); a
// HealthChecker runs them, and EffectiveServices turns the configured
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

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HealthTarget is one real server of one service to check.
type HealthTarget struct {
	Service ServiceKey
	Real    RealKey
	// Check is the real server's effective check (not of type "none").
	Check HealthCheck
}

// HealthState is what the checks of one target found.
type HealthState struct {
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

// HealthChecker runs the health checks of a set of targets, each in its
// own goroutine, and keeps their states.
type HealthChecker struct {
	log      *slog.Logger
	onChange func()

	mu      sync.Mutex
	targets map[healthKey]*healthTarget
	closed  bool
	wg      sync.WaitGroup
}

// healthKey identifies a target.
type healthKey struct {
	svc  ServiceKey
	real RealKey
}

// healthTarget is a target being checked. Its fields but cancel are
// guarded by HealthChecker.mu.
type healthTarget struct {
	check HealthCheck
	state HealthState
	// run counts the consecutive successes (> 0) or failures (< 0).
	run    int
	cancel context.CancelFunc
}

// Health check results other than "failure: ...".
const (
	healthSuccess = "success"
	healthTimeout = "timeout"
)

// healthMaxBody is how much of an http(s) response body is read to look
// for ExpectBody.
const healthMaxBody = 64 << 10

// NewHealthChecker returns a checker with no targets. onChange, if not
// nil, is called after every up/down transition of a target, from the
// goroutine checking it with no lock of the checker held: it may be called
// from several goroutines at once, may call State, and should only signal
// whoever recomputes EffectiveServices. It must not call Set or Close, and
// Close must not be called while holding a lock onChange waits for.
func NewHealthChecker(log *slog.Logger, onChange func()) *HealthChecker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if onChange == nil {
		onChange = func() {}
	}
	return &HealthChecker{log: log, onChange: onChange, targets: map[healthKey]*healthTarget{}}
}

// HealthTargets lists the targets of services given their health
// checking (health[i] that of services[i], as in Config): every real
// server whose effective check is not "none", in configuration order.
func HealthTargets(services []Service, health []ServiceHealth) []HealthTarget {
	var out []HealthTarget
	for i, s := range services {
		if i >= len(health) {
			break
		}
		for _, r := range s.Reals {
			k := RealKey{r.Addr, r.Port}
			c, ok := health[i].PerReal[k]
			if !ok || c.Type == "none" || c.Type == "" {
				continue
			}
			out = append(out, HealthTarget{Service: s.Key(), Real: k, Check: c})
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
func (h *HealthChecker) Set(targets []HealthTarget) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	want := make(map[healthKey]HealthCheck, len(targets))
	for _, t := range targets {
		if t.Check.Type != "none" && t.Check.Type != "" {
			want[healthKey{t.Service, t.Real}] = t.Check
		}
	}
	kept := map[healthKey]HealthState{}
	for k, t := range h.targets {
		if c, ok := want[k]; !ok || !c.Equal(t.check) {
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
			state = HealthState{Up: true, Since: time.Now()}
		}
		h.start(k, c, state)
	}
}

// start starts checking target k with check c from state (h.mu held).
func (h *HealthChecker) start(k healthKey, c HealthCheck, state HealthState) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &healthTarget{check: c, state: state, cancel: cancel}
	t.check.Command = append([]string(nil), c.Command...)
	h.targets[k] = t
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		h.run(ctx, k, t)
	}()
}

// State returns the state of a real server of a service, or false if it
// is not checked.
func (h *HealthChecker) State(svc ServiceKey, real RealKey) (HealthState, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.targets[healthKey{svc, real}]
	if !ok {
		return HealthState{}, false
	}
	return t.state, true
}

// Close stops every check and waits for their goroutines to end.
func (h *HealthChecker) Close() {
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
func (h *HealthChecker) run(ctx context.Context, k healthKey, t *healthTarget) {
	c := t.check
	addr := netip.AddrPortFrom(k.real.Addr, k.real.Port)
	if c.Port != 0 {
		addr = netip.AddrPortFrom(k.real.Addr, c.Port)
	}
	var client *http.Client
	if c.Type == "http" || c.Type == "https" {
		client = healthHTTPClient(c)
		defer client.CloseIdleConnections()
	}
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
		result := healthProbe(ctx, c, addr, client)
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
func (h *HealthChecker) record(k healthKey, t *healthTarget, result string, took time.Duration) {
	h.mu.Lock()
	if h.targets[k] != t {
		// Stopped or replaced meanwhile.
		h.mu.Unlock()
		return
	}
	s := &t.state
	s.Checked, s.LastResult, s.LastDuration = true, result, took
	switch {
	case result == healthSuccess:
		s.Successes++
		t.run = max(t.run, 0) + 1
	case result == healthTimeout:
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

// healthProbe runs one check c of addr, and returns its result.
func healthProbe(ctx context.Context, c HealthCheck, addr netip.AddrPort, client *http.Client) string {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	var err error
	switch c.Type {
	case "tcp":
		err = healthTCP(ctx, addr)
	case "http", "https":
		err = healthHTTP(ctx, c, addr, client)
	case "command":
		err = healthCommand(ctx, c, addr)
	default:
		err = fmt.Errorf("unknown check type %q", c.Type)
	}
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

// healthTCP connects to addr and closes the connection.
func healthTCP(ctx context.Context, addr netip.AddrPort) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return err
	}
	return conn.Close()
}

// healthHTTPClient returns the client of http(s) check c: no redirects,
// no keep-alives, no proxy, no certificate verification.
func healthHTTPClient(c HealthCheck) *http.Client {
	tlsConfig := &tls.Config{InsecureSkipVerify: true} // backends by IP: see the file's comment
	if c.Host != "" {
		if host, _, err := net.SplitHostPort(c.Host); err == nil {
			tlsConfig.ServerName = strings.Trim(host, "[]")
		} else {
			tlsConfig.ServerName = strings.Trim(c.Host, "[]")
		}
	}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       (&net.Dialer{}).DialContext,
			TLSClientConfig:   tlsConfig,
			DisableKeepAlives: true,
			// The body is read, if at all, as it is.
			DisableCompression: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// healthHTTP GETs c.Path from addr and checks the status and body.
func healthHTTP(ctx context.Context, c HealthCheck, addr netip.AddrPort, client *http.Client) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Type+"://"+addr.String()+c.Path, nil)
	if err != nil {
		return err
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	req.Header.Set("User-Agent", "director-health-check")
	resp, err := client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err // without its "Get <url>: "
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != c.ExpectStatus {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, c.ExpectStatus)
	}
	if c.ExpectBody == "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, healthMaxBody))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if !bytes.Contains(body, []byte(c.ExpectBody)) {
		return fmt.Errorf("body does not contain %q", c.ExpectBody)
	}
	return nil
}

// healthCommand runs c.Command for addr; exit status 0 is a success. The
// command runs in a process group of its own, killed whole at the
// timeout.
func healthCommand(ctx context.Context, c HealthCheck, addr netip.AddrPort) error {
	r := strings.NewReplacer("{address}", addr.Addr().String(), "{port}", strconv.Itoa(int(addr.Port())))
	argv := make([]string, len(c.Command))
	for i, a := range c.Command {
		argv[i] = r.Replace(a)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Output pipes a grandchild keeps open do not hold the check up.
	cmd.WaitDelay = 100 * time.Millisecond
	var out healthTail
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if line := out.lastLine(); line != "" {
			return fmt.Errorf("%s: %s", ee, line)
		}
		return errors.New(ee.String())
	}
	return err
}

// healthTail keeps the last 256 bytes written to it.
type healthTail struct {
	mu  sync.Mutex
	buf []byte
}

const healthTailSize = 256

func (t *healthTail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if len(t.buf) > healthTailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-healthTailSize:]...)
	}
	return len(b), nil
}

// lastLine returns the last non-empty line written, trimmed.
func (t *healthTail) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.buf)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// EffectiveServices returns the services as the data plane must see them
// given health (health[i] that of services[i], as in Config) and the
// checks' states (state as HealthChecker.State; nil = nothing checked): a
// down real server gets weight 0 if its check's OnFailure is "quiesce" (no
// new connections, existing ones continue) or is left out if it is
// "remove" (as if removed from the configuration: its flows are dropped).
// When no real server is left with a weight above 0 (none up but those
// configured with weight 0, or none at all) and the service has a sorry
// server, the sorry server is added last with weight 1. Real servers not
// checked (or not yet: a new server is up) keep their configured weight,
// and the order of real servers is kept; services is not modified.
func EffectiveServices(services []Service, health []ServiceHealth, state func(ServiceKey, RealKey) (HealthState, bool)) []Service {
	if services == nil {
		return nil
	}
	out := make([]Service, len(services))
	for i, s := range services {
		var sh ServiceHealth
		if i < len(health) {
			sh = health[i]
		}
		e := s
		e.Reals = nil
		available := false
		for _, r := range s.Reals {
			k := RealKey{r.Addr, r.Port}
			if state != nil {
				if st, ok := state(s.Key(), k); ok && !st.Up {
					c, ok := sh.PerReal[k]
					if !ok {
						c = sh.Default
					}
					if c.OnFailure == "remove" {
						continue
					}
					r.Weight = 0
				}
			}
			available = available || r.Weight > 0
			e.Reals = append(e.Reals, r)
		}
		if !available && sh.Sorry != nil {
			sorry := *sh.Sorry
			sorry.Weight = 1
			e.Reals = append(e.Reals, sorry)
		}
		if e.Reals == nil && s.Reals != nil {
			e.Reals = []RealServer{}
		}
		out[i] = e
	}
	return out
}
