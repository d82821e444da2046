package health

// Tests of health checks: EffectiveServices as a table, and the
// Monitor against real servers on 127.0.0.1 (tcp listeners, http and
// https servers, /bin/true and /bin/false): transitions after exactly fall
// failures and rise successes, results, timeouts, reconciliation by Set,
// and no goroutine left behind.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/director-lb/director/control/config"
	"github.com/director-lb/director/control/model"
)

func TestEffectiveServices(t *testing.T) {
	vip := netip.MustParseAddr("192.168.56.10")
	r1 := model.RealServer{Addr: netip.MustParseAddr("192.168.200.11"), Port: 80, Weight: 3}
	r2 := model.RealServer{Addr: netip.MustParseAddr("192.168.200.12"), Port: 80, Weight: 1}
	r3 := model.RealServer{Addr: netip.MustParseAddr("192.168.200.13"), Port: 80, Weight: 0} // quiesced by configuration
	sorry := model.RealServer{Addr: netip.MustParseAddr("192.168.200.99"), Port: 80, Weight: 1}
	k1, k2, k3 := model.RealKey{Addr: r1.Addr, Port: r1.Port}, model.RealKey{Addr: r2.Addr, Port: r2.Port}, model.RealKey{Addr: r3.Addr, Port: r3.Port}
	web := model.Service{VIP: vip, Port: 80, Proto: model.TCP, Scheduler: model.SchedWRR, Reals: []model.RealServer{r1, r2, r3}}
	other := model.Service{VIP: vip, Port: 443, Proto: model.TCP, Scheduler: model.SchedRR, Reals: []model.RealServer{r1}}
	quiesce := model.HealthCheck{Type: "tcp", Interval: time.Second, Timeout: time.Second, Rise: 1, Fall: 1, OnFailure: "quiesce"}
	remove := quiesce
	remove.OnFailure = "remove"
	w := func(r model.RealServer, weight uint32) model.RealServer { r.Weight = weight; return r }
	up, down := State{Up: true, Checked: true}, State{Checked: true}

	for _, c := range []struct {
		name   string
		health model.ServiceHealth // of web
		states map[model.RealKey]State
		want   []model.RealServer // of web
	}{
		{"nothing checked", model.ServiceHealth{Default: quiesce}, nil, []model.RealServer{r1, r2, r3}},
		{"all up", model.ServiceHealth{Default: quiesce, Sorry: &sorry}, map[model.RealKey]State{k1: up, k2: up, k3: up},
			[]model.RealServer{r1, r2, r3}},
		{"quiesce", model.ServiceHealth{Default: quiesce}, map[model.RealKey]State{k1: down, k2: up, k3: up},
			[]model.RealServer{w(r1, 0), r2, r3}},
		{"remove", model.ServiceHealth{Default: remove}, map[model.RealKey]State{k1: up, k2: down, k3: up},
			[]model.RealServer{r1, r3}},
		{"on_failure per real server", model.ServiceHealth{Default: quiesce, PerReal: map[model.RealKey]model.HealthCheck{k1: remove, k2: quiesce}},
			map[model.RealKey]State{k1: down, k2: down, k3: up}, []model.RealServer{w(r2, 0), r3}},
		{"weight 0 stays 0, up or down", model.ServiceHealth{Default: remove, PerReal: map[model.RealKey]model.HealthCheck{k3: quiesce}},
			map[model.RealKey]State{k1: up, k2: up, k3: down}, []model.RealServer{r1, r2, r3}},
		{"all down, sorry server added", model.ServiceHealth{Default: quiesce, Sorry: &sorry},
			map[model.RealKey]State{k1: down, k2: down, k3: up}, []model.RealServer{w(r1, 0), w(r2, 0), r3, sorry}},
		{"all removed, sorry server alone", model.ServiceHealth{Default: remove, Sorry: &sorry},
			map[model.RealKey]State{k1: down, k2: down, k3: down}, []model.RealServer{sorry}},
		{"all down without sorry server", model.ServiceHealth{Default: quiesce},
			map[model.RealKey]State{k1: down, k2: down, k3: down}, []model.RealServer{w(r1, 0), w(r2, 0), r3}},
		{"sorry server's weight is 1", model.ServiceHealth{Default: quiesce, Sorry: &model.RealServer{Addr: sorry.Addr, Port: 8080, Weight: 7}},
			map[model.RealKey]State{k1: down, k2: down}, []model.RealServer{w(r1, 0), w(r2, 0), r3, {Addr: sorry.Addr, Port: 8080, Weight: 1}}},
		{"unchecked servers stay as configured", model.ServiceHealth{Default: quiesce, Sorry: &sorry},
			map[model.RealKey]State{k2: down, k3: down}, []model.RealServer{r1, w(r2, 0), r3}},
		{"not yet checked: up", model.ServiceHealth{Default: quiesce, Sorry: &sorry},
			map[model.RealKey]State{k1: {Up: true}, k2: {Up: true}}, []model.RealServer{r1, r2, r3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			services := []model.Service{web, other}
			before := fmt.Sprint(services)
			otherHealth := model.ServiceHealth{Default: remove}
			state := func(svc model.ServiceKey, real model.RealKey) (State, bool) {
				if svc != web.Key() {
					// The other service's real server is down too, but
					// only its own health applies.
					return down, svc == other.Key()
				}
				s, ok := c.states[real]
				return s, ok
			}
			got := EffectiveServices(services, []model.ServiceHealth{c.health, otherHealth}, state)
			wantWeb := web
			wantWeb.Reals = c.want
			want := []model.Service{wantWeb, {VIP: vip, Port: 443, Proto: model.TCP, Scheduler: model.SchedRR, Reals: []model.RealServer{}}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n\t%+v\nwant\n\t%+v", got, want)
			}
			if fmt.Sprint(services) != before {
				t.Errorf("services changed: %v", services)
			}
		})
	}

	t.Run("no real servers, a sorry server", func(t *testing.T) {
		s := model.Service{VIP: vip, Port: 81, Proto: model.TCP, Scheduler: model.SchedWRR}
		got := EffectiveServices([]model.Service{s}, []model.ServiceHealth{{Default: quiesce, Sorry: &sorry}}, nil)
		if want := []model.RealServer{sorry}; !reflect.DeepEqual(got[0].Reals, want) {
			t.Errorf("got %v, want %v", got[0].Reals, want)
		}
	})
	t.Run("nil state, no health", func(t *testing.T) {
		got := EffectiveServices([]model.Service{web}, nil, nil)
		if !reflect.DeepEqual(got, []model.Service{web}) {
			t.Errorf("got %+v", got)
		}
		if got[0].Reals[0].Weight = 9; web.Reals[0].Weight != 3 {
			t.Errorf("the result shares the configured real servers")
		}
		if EffectiveServices(nil, nil, nil) != nil {
			t.Errorf("nil services gave services")
		}
	})
}

// TestHealthTargets reads the checks from a configuration file, so that
// the defaults it fills in (tcp for tcp services, none for udp) are part
// of what is tested.
func TestHealthTargets(t *testing.T) {
	cfg, err := config.Parse("good.yaml", []byte("node: lb1\ninterfaces: {public: enp0s3, internal: enp0s8}\n"+`services:
  - vip: 192.168.56.10
    port: 80
    real_servers:
      - {address: 192.168.200.11}
      - {address: 192.168.200.12, health_check: {type: none}}
  - vip: 192.168.56.10
    port: 53
    protocol: udp
    real_servers:
      - {address: 192.168.200.11}
      - {address: 192.168.200.12, health_check: {type: command, command: [/bin/true]}}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := Targets(cfg.Services, cfg.Health)
	var keys []string
	for _, g := range got {
		keys = append(keys, fmt.Sprint(g.Service, " ", netip.AddrPortFrom(g.Real.Addr, g.Real.Port), " ", g.Check.Type))
	}
	want := "tcp 192.168.56.10:80 192.168.200.11:80 tcp; udp 192.168.56.10:53 192.168.200.12:53 command"
	if strings.Join(keys, "; ") != want {
		t.Errorf("got %q, want %q", strings.Join(keys, "; "), want)
	}
}

// healthWait polls cond until it holds or d passes.
func healthWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// healthListen listens on addr ("127.0.0.1:0" for any port), accepting and
// closing connections until closed.
func healthListen(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close() // accepting is the check; the connection is not used
		}
	}()
	return l
}

// healthTarget returns a target of service 192.0.2.1:<svcPort> for the
// server at addr.
func healthTargetAt(svcPort uint16, addr netip.AddrPort, c model.HealthCheck) Target {
	return Target{
		Service: model.ServiceKey{VIP: netip.MustParseAddr("192.0.2.1"), Port: svcPort, Proto: model.TCP},
		Real:    model.RealKey{Addr: addr.Addr(), Port: addr.Port()},
		Check:   c,
	}
}

// healthFast is a check with short timers, of type typ.
func healthFast(typ string, rise, fall int) model.HealthCheck {
	c := model.HealthCheck{Type: typ, Interval: 30 * time.Millisecond, Timeout: 30 * time.Millisecond, Rise: rise, Fall: fall,
		OnFailure: "quiesce"}
	if typ == "http" || typ == "https" {
		c.Path, c.ExpectStatus = "/", 200
	}
	return c
}

// healthLog is a logger whose lines can be read back.
type healthLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *healthLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *healthLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// healthGoroutines waits until no more than n goroutines run.
func healthGoroutines(t *testing.T, n int, what string) {
	t.Helper()
	healthWait(t, 5*time.Second, fmt.Sprintf("%s: %d goroutines, want at most %d", what, runtime.NumGoroutine(), n),
		func() bool { return runtime.NumGoroutine() <= n })
}

// TestHealthCheckTCP takes a server down after exactly fall failures and
// brings it back after exactly rise successes.
func TestHealthCheckTCP(t *testing.T) {
	baseline := runtime.NumGoroutine()
	l := healthListen(t, "127.0.0.1:0")
	addr := netip.MustParseAddrPort(l.Addr().String())
	const rise, fall = 2, 3
	target := healthTargetAt(80, addr, healthFast("tcp", rise, fall))

	// onChange sees each transition with the counts at that moment: the
	// target's goroutine does not check again until it returns.
	type change struct {
		state State
		ok    bool
	}
	changes := make(chan change, 10)
	var h *Monitor
	logs := &healthLog{}
	h = NewMonitor(slog.New(slog.NewTextHandler(logs, nil)), func() {
		s, ok := h.State(target.Service, target.Real)
		changes <- change{s, ok}
	})
	defer h.Close()
	start := time.Now()
	h.Set([]Target{target})

	s, ok := h.State(target.Service, target.Real)
	if !ok || !s.Up || s.Since.Before(start) {
		t.Fatalf("a new target: %+v, %v; want up since it was set", s, ok)
	}
	healthWait(t, 5*time.Second, "no success", func() bool {
		s, _ := h.State(target.Service, target.Real)
		return s.Checked && s.Successes >= 2
	})
	s, _ = h.State(target.Service, target.Real)
	if !s.Up || s.LastResult != "success" || s.Failures != 0 || s.Timeouts != 0 || s.LastDuration <= 0 {
		t.Fatalf("listening: %+v", s)
	}
	if len(changes) != 0 {
		t.Fatalf("onChange called without a transition")
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var down change
	select {
	case down = <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("not down after the listener closed")
	}
	if !down.ok || down.state.Up || down.state.Failures != fall || down.state.LastResult != "failure: connection refused" ||
		!down.state.Since.After(start) {
		t.Fatalf("at the down transition: %+v; want down after exactly %d failures (connection refused)", down.state, fall)
	}

	l = healthListen(t, addr.String())
	defer func() { _ = l.Close() }() // if the test stops early; closed and checked below
	var up change
	select {
	case up = <-changes:
	case <-time.After(5 * time.Second):
		t.Fatal("not up after the listener came back")
	}
	if !up.state.Up || up.state.Successes-down.state.Successes != rise || up.state.LastResult != "success" ||
		!up.state.Since.After(down.state.Since) {
		t.Fatalf("at the up transition: %+v; want up after exactly %d successes (%d before down)", up.state, rise,
			down.state.Successes)
	}

	for _, want := range []string{
		`level=WARN msg="real server down" service="tcp 192.0.2.1:80" real_server=` + addr.String() +
			` from=up to=down reason="failure: connection refused"`,
		`level=INFO msg="real server up" service="tcp 192.0.2.1:80" real_server=` + addr.String() + ` from=down to=up reason=success`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no log line %s in\n%s", want, logs)
		}
	}
	if strings.Count(logs.String(), "\n") != 2 {
		t.Errorf("want 2 log lines, got\n%s", logs)
	}

	// The data plane's view: quiesced while down.
	svc := model.Service{VIP: target.Service.VIP, Port: 80, Proto: model.TCP, Scheduler: model.SchedWRR,
		Reals: []model.RealServer{{Addr: addr.Addr(), Port: addr.Port(), Weight: 5}}}
	health := []model.ServiceHealth{{Default: target.Check, PerReal: map[model.RealKey]model.HealthCheck{target.Real: target.Check}}}
	if got := EffectiveServices([]model.Service{svc}, health, h.State); got[0].Reals[0].Weight != 5 {
		t.Errorf("up: %+v", got)
	}

	h.Close()
	if _, ok := h.State(target.Service, target.Real); ok {
		t.Errorf("a state after Close")
	}
	h.Set([]Target{target}) // does nothing
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	healthGoroutines(t, baseline, "after Close")
}

// TestHealthCheckHTTP checks status, body, Host, redirects and https.
func TestHealthCheckHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		_, _ = fmt.Fprint(w, "status: ok\n") // if this fails, so does the check of /health, and the test
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/health", http.StatusFound) })
	mux.HandleFunc("/vhost", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "www.example.com" {
			http.NotFound(w, r)
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// The checker stops reading at healthMaxBody and closes: these
		// writes may fail, and that is the point.
		_, _ = w.Write(bytes.Repeat([]byte("x"), 128<<10))
		_, _ = w.Write([]byte("needle"))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewUnstartedServer(mux)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // "client sent an HTTP request to an HTTPS server"
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plain := netip.MustParseAddrPort(srv.Listener.Addr().String())
	secure := netip.MustParseAddrPort(tlsSrv.Listener.Addr().String())

	check := func(typ, path string, edit func(*model.HealthCheck)) model.HealthCheck {
		c := healthFast(typ, 1, 1)
		c.Timeout = 500 * time.Millisecond
		c.Interval = 500 * time.Millisecond
		c.Path = path
		if edit != nil {
			edit(&c)
		}
		return c
	}
	for i, c := range []struct {
		name   string
		addr   netip.AddrPort
		check  model.HealthCheck
		up     bool
		result string
	}{
		{"status and body as expected", plain, check("http", "/health", func(c *model.HealthCheck) { c.ExpectBody = "ok" }), true, "success"},
		{"wrong status although tcp connects", plain, check("http", "/broken", nil), false, "failure: status 503, want 200"},
		{"expected status", plain, check("http", "/broken", func(c *model.HealthCheck) { c.ExpectStatus = 503 }), true, "success"},
		{"body mismatch", plain, check("http", "/health", func(c *model.HealthCheck) { c.ExpectBody = "healthy" }), false,
			`failure: body does not contain "healthy"`},
		{"only the first 64 KiB of the body", plain, check("http", "/big", func(c *model.HealthCheck) { c.ExpectBody = "needle" }), false,
			`failure: body does not contain "needle"`},
		{"redirects not followed", plain, check("http", "/moved", nil), false, "failure: status 302, want 200"},
		{"no Host header", plain, check("http", "/vhost", nil), false, "failure: status 404, want 200"},
		{"Host header", plain, check("http", "/vhost", func(c *model.HealthCheck) { c.Host = "www.example.com" }), true, "success"},
		{"https, certificate not verified", secure, check("https", "/health", func(c *model.HealthCheck) {
			c.ExpectBody, c.Host = "ok", "www.example.com"
		}), true, "success"},
		{"https port override", netip.AddrPortFrom(secure.Addr(), 1), check("https", "/health", func(c *model.HealthCheck) {
			c.Port = secure.Port()
		}), true, "success"},
		{"http to an https server", secure, check("http", "/health", nil), false, "failure: status 400, want 200"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := NewMonitor(nil, nil)
			defer h.Close()
			target := healthTargetAt(uint16(1000+i), c.addr, c.check)
			h.Set([]Target{target})
			var s State
			healthWait(t, 5*time.Second, "no result", func() bool {
				s, _ = h.State(target.Service, target.Real)
				return s.Checked
			})
			if s.Up != c.up || s.LastResult != c.result {
				t.Errorf("got up %v, %q; want up %v, %q", s.Up, s.LastResult, c.up, c.result)
			}
		})
	}
}

// TestHealthCheckTimeout checks a server that accepts but never answers.
func TestHealthCheckTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	defer func() { // cleanup once the test is over
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	addr := netip.MustParseAddrPort(l.Addr().String())
	h := NewMonitor(nil, nil)
	defer h.Close()
	c := healthFast("http", 1, 2)
	c.Interval, c.Timeout = 100*time.Millisecond, 50*time.Millisecond
	target := healthTargetAt(80, addr, c)
	h.Set([]Target{target})
	var s State
	healthWait(t, 5*time.Second, "not down", func() bool {
		s, _ = h.State(target.Service, target.Real)
		return !s.Up
	})
	if s.LastResult != "timeout" || s.Timeouts < 2 || s.Failures != 0 || s.Successes != 0 ||
		s.LastDuration < 50*time.Millisecond || s.LastDuration > time.Second {
		t.Errorf("got %+v; want down after 2 timeouts of 50ms", s)
	}
}

// TestHealthCheckCommand runs /bin/true, /bin/false and others.
func TestHealthCheckCommand(t *testing.T) {
	addr := netip.MustParseAddrPort("127.0.0.1:8080")
	for i, c := range []struct {
		name    string
		command []string
		port    uint16
		up      bool
		result  string
	}{
		{"true", []string{"/bin/true"}, 0, true, "success"},
		{"false", []string{"/bin/false"}, 0, false, "failure: exit status 1"},
		{"address and port replaced", []string{"/bin/sh", "-c", `test "$0 $1" = "127.0.0.1 8080"`, "{address}", "{port}"}, 0,
			true, "success"},
		{"check port replaced", []string{"/bin/sh", "-c", `test "$0" = "127.0.0.1:81"`, "{address}:{port}"}, 81, true, "success"},
		{"no shell", []string{"/bin/echo", "$(false)", "|", "false"}, 0, true, "success"},
		{"exit status and last line of output", []string{"/bin/sh", "-c", "echo checking; echo 'no answer' >&2; exit 3"}, 0,
			false, "failure: exit status 3: no answer"},
		{"missing program", []string{"/nonexistent/check"}, 0, false,
			"failure: fork/exec /nonexistent/check: no such file or directory"},
		{"timeout kills it", []string{"/bin/sh", "-c", "sleep 10; sleep 10"}, 0, false, "timeout"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := NewMonitor(nil, nil)
			defer h.Close()
			check := healthFast("command", 1, 1)
			check.Interval, check.Timeout = time.Second, 100*time.Millisecond
			check.Command, check.Port = model.NewArgv(c.command...), c.port
			target := healthTargetAt(uint16(2000+i), addr, check)
			h.Set([]Target{target})
			var s State
			healthWait(t, 5*time.Second, "no result", func() bool {
				s, _ = h.State(target.Service, target.Real)
				return s.Checked
			})
			if s.Up != c.up || s.LastResult != c.result {
				t.Errorf("got up %v, %q; want up %v, %q", s.Up, s.LastResult, c.up, c.result)
			}
			if s.LastDuration > time.Second {
				t.Errorf("the check took %v", s.LastDuration)
			}
		})
	}
}

// TestMonitorSet checks reconciliation: unchanged targets keep their
// state, changed ones are restarted with it, removed ones stop.
func TestMonitorSet(t *testing.T) {
	baseline := runtime.NumGoroutine()
	l := healthListen(t, "127.0.0.1:0")
	defer func() { _ = l.Close() }() // if the test stops early; closed and checked below
	good := netip.MustParseAddrPort(l.Addr().String())
	// A port nobody listens on: take one, then close it.
	closed := healthListen(t, "127.0.0.1:0")
	bad := netip.MustParseAddrPort(closed.Addr().String())
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	calls := 0
	h := NewMonitor(nil, func() { mu.Lock(); calls++; mu.Unlock() })
	defer h.Close()
	upT := healthTargetAt(80, good, healthFast("tcp", 1, 1))
	downT := healthTargetAt(81, bad, healthFast("tcp", 1, 1))
	goneT := healthTargetAt(82, good, healthFast("tcp", 1, 1))
	noneT := healthTargetAt(83, good, model.HealthCheck{Type: "none"})
	h.Set([]Target{upT, downT, goneT, noneT})
	if _, ok := h.State(noneT.Service, noneT.Real); ok {
		t.Errorf("a target of type none is checked")
	}
	healthWait(t, 5*time.Second, "not checked", func() bool {
		u, _ := h.State(upT.Service, upT.Real)
		d, _ := h.State(downT.Service, downT.Real)
		g, _ := h.State(goneT.Service, goneT.Real)
		return u.Successes >= 2 && !d.Up && g.Checked
	})
	mu.Lock()
	if calls != 1 {
		t.Errorf("onChange called %d times, want once (one target down)", calls)
	}
	mu.Unlock()
	u0, _ := h.State(upT.Service, upT.Real)
	d0, _ := h.State(downT.Service, downT.Real)

	// A reload: upT unchanged, downT's check changed, goneT removed.
	changed := downT
	changed.Check.Rise = 5
	changed.Check.Port = bad.Port() // same port, another check
	h.Set([]Target{upT, changed})
	u1, ok1 := h.State(upT.Service, upT.Real)
	d1, ok2 := h.State(downT.Service, downT.Real)
	if _, ok := h.State(goneT.Service, goneT.Real); ok {
		t.Errorf("a removed target still has a state")
	}
	if !ok1 || !ok2 || !u1.Up || u1.Since != u0.Since || u1.Successes < u0.Successes ||
		d1.Up || d1.Since != d0.Since || d1.Failures < d0.Failures {
		t.Errorf("states not kept:\n\tup %+v\n\tthen %+v\n\tdown %+v\n\tthen %+v", u0, u1, d0, d1)
	}
	healthWait(t, 5*time.Second, "the changed check does not run", func() bool {
		d, _ := h.State(downT.Service, downT.Real)
		return d.Failures > d1.Failures+1
	})
	if d, _ := h.State(downT.Service, downT.Real); d.Up || d.Since != d0.Since {
		t.Errorf("a restarted check lost its state: %+v", d)
	}

	// Set stops what it removes, without Close.
	h.Set(nil)
	if _, ok := h.State(upT.Service, upT.Real); ok {
		t.Errorf("a state after Set(nil)")
	}
	if err := l.Close(); err != nil {
		t.Error(err)
	}
	healthGoroutines(t, baseline, "after Set(nil)")
	mu.Lock()
	if calls != 1 {
		t.Errorf("onChange called %d times, want once", calls)
	}
	mu.Unlock()
}

// TestMonitorClose checks that Close ends checks in progress.
func TestMonitorClose(t *testing.T) {
	baseline := runtime.NumGoroutine()
	h := NewMonitor(nil, nil)
	var targets []Target
	for i := range 20 {
		c := healthFast("command", 1, 1)
		c.Interval, c.Timeout = time.Hour, time.Hour
		c.Command = model.NewArgv("/bin/sleep", "60")
		targets = append(targets, healthTargetAt(uint16(3000+i), netip.MustParseAddrPort("127.0.0.1:1"), c))
	}
	h.Set(targets)
	start := time.Now()
	h.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	healthGoroutines(t, baseline, "after Close")
}

// Every kind of check the configuration accepts has a Checker, and no
// Checker is for a kind it refuses.
func TestHealthKinds(t *testing.T) {
	for _, typ := range model.HealthTypes {
		if _, ok := kinds[typ]; !ok {
			t.Errorf("health_check type %q has no Checker", typ)
		}
	}
	for typ := range kinds {
		if !slices.Contains(model.HealthTypes, typ) {
			t.Errorf("Checker of type %q, not in model.HealthTypes", typ)
		}
	}
	err := newChecker(model.HealthCheck{Type: "smtp"}).Check(context.Background(), netip.AddrPort{})
	if err == nil || err.Error() != `unknown check type "smtp"` {
		t.Errorf("unknown type: %v", err)
	}
}
